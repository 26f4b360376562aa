/**
 * Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5, R-SYNC-6, R-SYNC-7, R-SYNC-8, R-SRV-3, R-ACT-2, R-ACT-3
 * — second half of CI's simulation (see simulation-a).
 */
import { describe } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { baseSeed, simulate } from "./suite.js"

describe("convergence simulation, server on PGlite (2/2)", () => {
  simulate("100 schedules × 4 clients, every fault, audiences", () => PgliteClient.layer({}), () => {
    const base = baseSeed("simulation 2/2", "--private --tally")
    return Array.from({ length: 100 }, (_, i) => base + 100 + i)
  }, 1_200_000, { privateData: true, tally: true }, "simulation, CI's 200 schedules")
})
