/**
 * Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5
 * — the simulation with a server that filters nothing (no `audiences`): every user sees every
 * row, every replica computes everything. The CI halves (simulation-a/b) run with audiences.
 */
import { describe } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { baseSeed, simulate } from "./suite.js"

describe("convergence simulation without audiences, server on PGlite", () => {
  simulate("16 schedules × 4 clients, every fault, one scope", () => PgliteClient.layer({}), () => {
    const base = baseSeed("simulation unfiltered")
    return Array.from({ length: 16 }, (_, i) => base + i)
  }, 600_000)
})
