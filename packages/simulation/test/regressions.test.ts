/**
 * Every committed regression case (shrunk failing schedules, src/regressions.json) replayed,
 * and the simulator's own promise: a seed replays exactly.
 * Verifies: R-SYNC-2, R-SYNC-3, R-SYNC-4, R-SYNC-5
 */
import { assert, describe, it } from "@effect/vitest"
import { Simulation } from "@reprise/core/testing"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import { config } from "../src/index.js"
import * as Regressions from "../src/regressions.js"
import { baseSeed } from "./suite.js"

describe("simulation regression cases", () => {
  const cases = Regressions.load()
  it("the committed cases are well-formed", () => {
    for (const c of cases) {
      assert.isTrue(Number.isSafeInteger(c.schedule.seed), JSON.stringify(c))
      assert.isString(c.found)
      assert.include([undefined, true, false], c.privateData, JSON.stringify(c))
      assert.include([undefined, true, false], c.tally, JSON.stringify(c))
    }
  })
  it.live(`replays ${cases.length} case(s), and a seed replays exactly`, () =>
    Effect.gen(function*() {
      const simulator = yield* Simulation.make(config(PgliteClient.layer({})))
      // One variant per kind of case, on the same databases (`vary` builds none).
      const variants = new Map<string, Simulation.Simulator>()
      const simulatorFor = (c: Regressions.Regression) =>
        Effect.gen(function*() {
          if (c.privateData !== true && c.tally !== true) return simulator
          const key = `${c.privateData === true}/${c.tally === true}`
          const known = variants.get(key)
          if (known !== undefined) return known
          const { audiences, generate, server } = config(PgliteClient.layer({}), {}, {
            privateData: c.privateData === true,
            tally: c.tally === true
          })
          const made = yield* simulator.vary({ generate, server, ...(audiences === undefined ? {} : { audiences }) })
          variants.set(key, made)
          return made
        })
      for (const c of cases) {
        const report = yield* (yield* simulatorFor(c)).explore(c.schedule)
        assert.deepStrictEqual(report.problems, [], `regression case ${JSON.stringify(c)} (found: ${c.found})`)
      }
      // The same seed twice on the same (reset) databases: the same history, event for event.
      const seed = baseSeed("replays exactly")
      const { timings: _t1, ...first } = yield* simulator.explore(seed)
      const { timings: _t2, ...second } = yield* simulator.explore(seed)
      assert.deepStrictEqual(second, first)
      assert.isAbove(first.steps, 0)
      // A schedule that does not fit the configuration is a failure that says why.
      const bad = yield* simulator.explore({ seed, budgets: [1] })
      assert.isTrue(bad.problems.some((p) => p.includes("budgets must be 4 integers")), bad.problems.join("\n"))
    }).pipe(Effect.scoped), 600_000)
})
