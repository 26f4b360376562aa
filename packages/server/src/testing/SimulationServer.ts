/**
 * The server driver a simulation (`@reprise/core/testing`) runs: the real `SyncService`, built
 * again at every simulated server restart, and a reset that empties its log between schedules.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Simulation } from "@reprise/core/testing"
import * as Effect from "effect/Effect"
import * as SyncService from "../SyncService.js"

/** The `SyncService` with `options`, as a simulation's server. */
export const driver = (options: SyncService.Options = {}): Simulation.ServerDriver => ({
  make: SyncService.make(options),
  reset: Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.zipRight(
      sql`TRUNCATE reprise_server.actions, reprise_server.patches`,
      sql`UPDATE reprise_server.state SET head = 0`
    ))
})
