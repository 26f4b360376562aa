/**
 * Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5, R-SYNC-6, R-SYNC-7, R-SYNC-8, R-SRV-3, R-ACT-2, R-ACT-3
 * — second half of the simulation with audiences (see simulation-a).
 */
import { describe } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { baseSeed, scheduleCount, seedRange, simulate } from "./suite.js"

const n = scheduleCount()

describe("convergence simulation, server on PGlite (2/2)", () => {
  simulate(`${seedRange("b", 0, n).length} schedules × 4 clients, every fault, audiences`, () => PgliteClient.layer({}), () => {
    return seedRange("b", baseSeed("simulation 2/2", "--private --tally"), n)
  }, 1_200_000, { privateData: true, tally: true }, `simulation with audiences, ${n} schedules`)
})
