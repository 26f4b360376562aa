/**
 * The simulation with the server on real Postgres: `REPRISE_SIM_PG_SEEDS` schedules, 1 in
 * `pnpm test`, 3 in CI's simulation step (and its pass on the machine's PostgreSQL), more by
 * hand. Verifies: R-SYNC-2, R-SYNC-4, R-SYNC-5, R-SYNC-7, R-SRV-1, R-SRV-2
 */
import { describe } from "@effect/vitest"
import * as PgFixture from "@reprise/pg-fixture"
import { baseSeed, positive, simulate } from "./suite.js"

describe(`convergence simulation, server on PostgreSQL ${PgFixture.serverVersion()}`, () => {
  const count = positive("REPRISE_SIM_PG_SEEDS", 1)
  simulate(`${count} schedule(s) × 4 clients, every fault`, () => PgFixture.layer(), () => {
    const base = baseSeed("simulation on Postgres", "--postgres")
    return Array.from({ length: count }, (_, i) => base + i)
  }, 1_200_000)
})
