/**
 * Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5, R-SYNC-6, R-SYNC-7, R-SYNC-8, R-SRV-3, R-ACT-2, R-ACT-3
 * — first half of CI's simulation (the second half is simulation-b, so the two workers share it).
 */
import { describe } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { baseSeed, simulate } from "./suite.js"

describe("convergence simulation, server on PGlite (1/2)", () => {
  simulate("100 schedules × 4 clients, every fault, audiences", () => PgliteClient.layer({}), () => {
    const base = baseSeed("simulation 1/2", "--private --tally")
    return Array.from({ length: 100 }, (_, i) => base + i)
  }, 1_200_000, { privateData: true, tally: true }, "simulation, CI's 200 schedules")
})
