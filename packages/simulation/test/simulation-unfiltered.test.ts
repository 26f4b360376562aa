/**
 * Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5, R-SYNC-6, R-SYNC-7, R-SYNC-8
 * — the simulation with a server that filters nothing (no `audiences`: every user sees every
 * row, the engine's path without private data), on random schedules from a printed base seed.
 * CI's 200 main schedules (simulation-a/b) run with audiences.
 */
import { describe } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { baseSeed, simulate } from "./suite.js"

describe("convergence simulation without private data, server on PGlite", () => {
  simulate("40 schedules × 4 clients, every fault, nothing filtered", () => PgliteClient.layer({}), () => {
    const base = baseSeed("simulation unfiltered")
    return Array.from({ length: 40 }, (_, i) => base + 200 + i)
  }, 900_000)
})
