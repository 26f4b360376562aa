/**
 * Per-file Postgres databases for `*.pg.test.ts` files.
 *
 * The global setup (`./globalSetup.ts`) starts one server for the run; every layer built here
 * creates a brand-new database on it, named `reprise_t_<random>`, and drops it when the layer's
 * scope closes, so test files never see each other's tables.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type pg from "pg"
import { inject } from "vitest"
import { withClient } from "./server.js"

/** The admin connection URL of the run's Postgres server (from the global setup). */
export const adminUrl = (): string => inject("reprise.pgAdminUrl")

/** The `server_version` of the run's Postgres server. */
export const serverVersion = (): string => inject("reprise.pgVersion")

const withAdmin = <A>(url: string, f: (client: pg.Client) => Promise<A>): Effect.Effect<A, SqlError> =>
  Effect.tryPromise({
    try: () => withClient(url, f),
    catch: (cause) => new SqlError({ cause, message: `pg-fixture: admin statement failed: ${String(cause)}` })
  })

const randomName = (): string => `reprise_t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`

/**
 * Creates a fresh database and returns its URL; the database is dropped (with `FORCE`, so
 * leftover connections do not block it) when the scope closes.
 */
export const freshDatabase: Effect.Effect<string, SqlError, Scope.Scope> = Effect.gen(function*() {
  const admin = adminUrl()
  const name = randomName()
  yield* Effect.acquireRelease(
    withAdmin(admin, (client) => client.query(`CREATE DATABASE "${name}"`)),
    () => Effect.orDie(withAdmin(admin, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
  )
  const url = new URL(admin)
  url.pathname = `/${name}`
  return url.toString()
})

/** Options passed through to `PgClient.layer` for the fresh database. */
export type Options = Omit<PgClient.PgClientConfig, "url">

/**
 * A layer providing `PgClient` and `SqlClient` (from `@effect/sql-pg`) connected to a fresh
 * database of its own.
 */
export const layer = (options: Options = {}): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> =>
  Layer.unwrapScoped(
    Effect.map(freshDatabase, (url) => PgClient.layer({ maxConnections: 10, ...options, url: Redacted.make(url) }))
  )

/** A layer providing only the URL of a fresh database (for code that opens its own pools). */
export class DatabaseUrl extends Effect.Tag("@reprise/pg-fixture/DatabaseUrl")<DatabaseUrl, string>() {}

/** `DatabaseUrl` for a fresh database, dropped when the layer is released. */
export const layerUrl: Layer.Layer<DatabaseUrl, SqlError> = Layer.scoped(DatabaseUrl, freshDatabase)
