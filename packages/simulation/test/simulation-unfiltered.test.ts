/**
 * Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5, R-SYNC-6, R-SYNC-7, R-SYNC-8
 * — the simulation with a server that filters nothing (no `audiences`: every user sees every
 * row, the engine's path without private data), on random schedules from a printed base seed:
 * a fifth as many as simulation-a and -b run with audiences (see suite.ts).
 */
import { describe } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { baseSeed, scheduleCount, seedRange, simulate } from "./suite.js"

const n = scheduleCount()

describe("convergence simulation without private data, server on PGlite", () => {
  simulate(`${seedRange("unfiltered", 0, n).length} schedules × 4 clients, every fault, nothing filtered`, () => PgliteClient.layer({}), () => {
    return seedRange("unfiltered", baseSeed("simulation unfiltered"), n)
  }, 900_000)
})
