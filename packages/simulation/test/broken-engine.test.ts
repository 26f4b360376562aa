/**
 * The simulation must catch a broken engine: here the rollback step of reconciliation is
 * skipped (the reverse patches are never applied), and the simulation has to fail, naming the
 * seed. Verifies that the CI simulation can fail (R-SYNC-2).
 */
import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import { Simulation } from "@reprise/core/testing"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import { config } from "../src/index.js"
import { baseSeed } from "./suite.js"

vi.mock("../../core/src/internal/sql/engine.js", async (importOriginal) => {
  const original = await importOriginal<Record<string, unknown>>()
  // Same parameters, no effect: "roll back" without applying any reverse patch.
  return { ...original, undoAfter: "SELECT 0 AS n WHERE $1::text IS NULL OR $2::uuid IS NOT NULL" }
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
