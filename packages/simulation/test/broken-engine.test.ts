/**
 * The simulation must catch a broken engine: here the rollback step of reconciliation is
 * skipped (the reverse patches are never applied), and the simulation has to fail, naming the
 * seed. Verifies that the CI simulation can fail (R-SYNC-2).
 */
import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Rollback from "../../core/src/internal/sql/rollback.js"
import { Simulation } from "@reprise/core/testing"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import { config } from "../src/index.js"
import { baseSeed } from "./suite.js"

vi.mock("../../core/src/internal/sql/rollback.js", async (importOriginal) => {
  const original = await importOriginal<typeof Rollback>()
  // Same signature, half the work: "roll back" by marking the actions unapplied without
  // applying any reverse patch (a reconcile's rollback and `SyncEngine.replayAll`'s alike).
  return {
    ...original,
    rollBackAfter: (sql: SqlClient.SqlClient, ancestor: { readonly hlc: string; readonly id: string } | null) =>
      Effect.asVoid(sql.unsafe(original.markUnappliedAfter, [ancestor?.hlc ?? null, ancestor?.id ?? null]))
  }
})

describe("a broken engine", () => {
  it.live("skipping rollback makes the simulation fail with a seed", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulation.make(config(PgliteClient.layer({})))
      const base = baseSeed("broken engine")
      for (let i = 0; i < 30; i++) {
        const report = yield* simulator.explore(base + i)
        if (report.problems.length > 0) {
          console.log(`[broken engine] caught at seed ${report.seed} after ${i + 1} schedule(s): ${report.problems.slice(0, 3).join(" | ")}`)
          assert.isTrue(report.divergences + report.violations + report.doubleApplies + report.lost > 0)
          return
        }
      }
      assert.fail("30 schedules ran on an engine that never rolls back, and the simulation found nothing")
    }).pipe(Effect.scoped), 600_000)
})
