/**
 * The client's database: PGlite opened on a `Storage`, with PGlite's `live` extension (live
 * queries, which `@electric-sql/pglite-react` and the facade's live queries build on), offered
 * to Effect code as `SqlClient` through `@reprise/sql-pglite` and to UI code as the raw
 * `PGliteWithLive` handle. Both talk to the same instance, so a live query sees an action's
 * writes as soon as its transaction commits.
 *
 * The database is closed when the layer's scope closes.
 *
 * @example
 * ```ts
 * const Db = ClientDatabase.layer(Storage.directory("./data/notes"))
 * const { pglite } = yield* ClientDatabase.ClientDatabase
 * const live = yield* Effect.promise(() => pglite.live.query("SELECT * FROM notes"))
 * ```
 */
import { PGlite } from "@electric-sql/pglite"
import { live, type PGliteWithLive } from "@electric-sql/pglite/live"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlCapabilities } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { DatabaseOpenFailed, type InvalidStorage } from "./errors.js"
import * as Storage from "./Storage.js"

/** The opened database. */
export interface ClientDatabaseShape {
  /** The PGlite instance, with live queries (`pglite.live.query(...)`). */
  readonly pglite: PGliteWithLive
  /** Where it keeps its data. */
  readonly storage: Storage.Storage
}

/** The client's database. */
export class ClientDatabase extends Context.Tag("@reprise/client/ClientDatabase")<ClientDatabase, ClientDatabaseShape>() {}

/** What the database layer provides: the raw handle, and the `@effect/sql` client over it. */
export type Services = ClientDatabase | PgliteClient.PgliteClient | SqlClient.SqlClient | SqlCapabilities.SqlCapabilities

/**
 * Opens PGlite (with `live`) on `storage` for the scope's lifetime and returns it; closed when
 * the scope closes.
 */
export const open = (storage: Storage.Storage) =>
  Effect.gen(function*() {
    const dataDir = yield* Storage.dataDir(storage)
    const where = Storage.describe(storage)
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        // The pg-compatible parsers go in at creation, so the driver need not add them per query.
        try: (): Promise<PGliteWithLive> =>
          PGlite.create({
            ...(dataDir === undefined ? {} : { dataDir }),
            extensions: { live },
            parsers: PgliteClient.parsers
          }),
        catch: (cause) => new DatabaseOpenFailed({ storage: where, detail: describeCause(cause) })
      }),
      (pglite) => Effect.promise(() => (pglite.closed ? Promise.resolve() : pglite.close()))
    )
  })

/** The database on `storage`: `ClientDatabase`, `PgliteClient`, `SqlClient` and `SqlCapabilities`. */
export const layer = (storage: Storage.Storage): Layer.Layer<Services, InvalidStorage | DatabaseOpenFailed> =>
  Layer.unwrapScoped(Effect.map(open(storage), (pglite) =>
    Layer.merge(
      Layer.succeed(ClientDatabase, { pglite, storage }),
      PgliteClient.layerFromPglite(pglite)
    )))

const describeCause = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)
