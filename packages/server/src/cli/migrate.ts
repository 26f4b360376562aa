/**
 * `reprise-server migrate`: installs (or confirms) the server schema in the database, so a
 * deployment can migrate before it starts its server processes. Idempotent: running it again
 * changes nothing. `serve` runs the same installation on start.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as ServerSchema from "../ServerSchema.js"
import * as Database from "./database.js"
import { MigrationFailed } from "./errors.js"
import { databaseUrl, dataDir, reset } from "./options.js"

/** Installs everything the server needs in the database `sql` is connected to. */
export const installAll = (display: string): Effect.Effect<void, MigrationFailed, SqlClient.SqlClient> =>
  ServerSchema.install().pipe(
    Effect.mapError((error) => new MigrationFailed({ url: display, reason: error.message }))
  )

/** The `migrate` command. */
export const migrate = Command.make(
  "migrate",
  { databaseUrl, dataDir, reset, quiet: Options.boolean("quiet").pipe(Options.withDescription("Print nothing on success.")) },
  (options) =>
    Effect.gen(function*() {
      const database = yield* Database.acquire(options)
      yield* installAll(database.display).pipe(Effect.provide(Database.layer(database, { maxConnections: 2 })))
      if (!options.quiet) {
        yield* Console.log(`reprise-server: schema version ${ServerSchema.CURRENT_VERSION} installed in ${database.display}`)
      }
    }).pipe(Effect.scoped)
).pipe(
  Command.withDescription(
    "Install or upgrade the Reprise server schema in the database (idempotent). Uses DATABASE_URL, or the " +
      "embedded database in <data-dir>/postgres when it is not set."
  )
)
