/**
 * Installing what the server needs in its database (the server schema, and the role every
 * request runs as, with row-level security: `Rls.install`), shared by `migrate` and `serve`,
 * and what `migrate` does once its options are parsed (loaded on demand).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Rls from "../Rls.js"
import * as ServerSchema from "../ServerSchema.js"
import * as Database from "./database.js"
import { MigrationFailed } from "./errors.js"
import type { MigrateOptions } from "./migrate.js"

/** An install error with what Postgres said, when it said something (a `SqlError`'s cause). */
export const describeInstallError = (error: { readonly message: string; readonly cause?: unknown }): string => {
  const cause = error.cause
  const detail = cause instanceof Error && cause.message !== "" && cause.message !== error.message ? `: ${cause.message}` : ""
  return `${error.message}${detail}`
}

/**
 * Installs everything the server needs in the database `sql` is connected to (idempotent): the
 * server schema and the service's role (returned), which the connecting user may switch to.
 */
export const installAll = (display: string): Effect.Effect<string, MigrationFailed, SqlClient.SqlClient> =>
  Rls.install().pipe(
    Effect.map(({ role }) => role),
    Effect.mapError((error) => new MigrationFailed({ url: display, reason: describeInstallError(error) }))
  )

/** `migrate`: the database (embedded or `DATABASE_URL`), the installation, one line on success. */
export const migrate = (options: MigrateOptions) =>
  Effect.gen(function*() {
    const database = yield* Database.acquire(options)
    const role = yield* installAll(database.display).pipe(Effect.provide(Database.layer(database, { maxConnections: 2 })))
    if (!options.quiet) {
      yield* Console.log(
        `reprise-server: server schema version ${ServerSchema.CURRENT_VERSION} and the role ${role} (row-level ` +
          `security) installed in ${database.display}`
      )
    }
  }).pipe(Effect.scoped)
