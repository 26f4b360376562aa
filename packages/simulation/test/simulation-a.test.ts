/**
 * Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5, R-SYNC-6, R-SYNC-7, R-SYNC-8, R-SRV-3, R-ACT-2, R-ACT-3
 * — first half of the simulation with audiences (the second half is simulation-b, so the two
 * workers share it): `REPRISE_SIM_SCHEDULES` schedules in all (a sample in `pnpm test`, 60 in
 * CI's simulation step; see suite.ts).
 */
import { describe } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { baseSeed, scheduleCount, seedRange, simulate } from "./suite.js"

const n = scheduleCount()

describe("convergence simulation, server on PGlite (1/2)", () => {
  simulate(`${seedRange("a", 0, n).length} schedules × 4 clients, every fault, audiences`, () => PgliteClient.layer({}), () => {
    return seedRange("a", baseSeed("simulation 1/2", "--private --tally"), n)
  }, 1_200_000, { privateData: true, tally: true }, `simulation with audiences, ${n} schedules`)
})
