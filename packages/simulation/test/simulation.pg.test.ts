/**
 * The simulation with the server on real Postgres: 3 schedules in CI, more with
 * `REPRISE_SIM_PG_SEEDS=20`. Verifies: R-SYNC-2, R-SYNC-4, R-SYNC-5, R-SYNC-7, R-SRV-1, R-SRV-2
 */
import { describe } from "@effect/vitest"
import * as PgFixture from "@reprise/pg-fixture"
import { baseSeed, simulate } from "./suite.js"

describe(`convergence simulation, server on PostgreSQL ${PgFixture.serverVersion()}`, () => {
  const count = Number(process.env["REPRISE_SIM_PG_SEEDS"] ?? 3)
  simulate(`${count} schedules × 4 clients, every fault`, () => PgFixture.layer(), () => {
    if (!Number.isSafeInteger(count) || count < 1) throw new Error(`REPRISE_SIM_PG_SEEDS must be a positive integer`)
    const base = baseSeed("simulation on Postgres", "--postgres")
    return Array.from({ length: count }, (_, i) => base + i)
  }, 1_200_000)
})
