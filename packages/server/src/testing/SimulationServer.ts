/**
 * The server driver a simulation (`@reprise/core/testing`) runs: the real `SyncService`, built
 * again at every simulated server restart, and a reset that empties its log between schedules.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { SyncServer } from "@reprise/core"
import * as Effect from "effect/Effect"
import type * as ServerSchema from "../ServerSchema.js"
import * as SyncService from "../SyncService.js"

/** How a simulation builds and empties the server. */
export interface Driver {
  /** Builds the server on the server's database; run at start and at every server restart. */
  readonly make: Effect.Effect<SyncServer.SyncServerShape, ServerSchema.InstallError, SqlClient.SqlClient>
  /** Empties the server's log between schedules (the simulation empties the app's tables). */
  readonly reset: Effect.Effect<void, SqlError, SqlClient.SqlClient>
}

/** The `SyncService` with `options`, as a simulation's server. */
export const driver = (options: SyncService.Options = {}): Driver => ({
  make: SyncService.make(options),
  reset: Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.asVoid(Effect.zipRight(
      sql`TRUNCATE reprise_server.actions, reprise_server.patches, reprise_server.restatements`,
      sql`UPDATE reprise_server.state SET head = 0`
    )))
})
