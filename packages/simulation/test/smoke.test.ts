import { describe, it } from "@effect/vitest"
import { Simulation } from "@reprise/core/testing"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import { config, runSeeds, summary } from "../src/index.js"

describe("smoke", () => {
  it.live("a few seeds", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulation.make(config(PgliteClient.layer({})))
      const started = Date.now()
      const totals = yield* runSeeds(simulator, [1, 2, 3, 4, 5], console.log)
      console.log(summary(totals), `${Date.now() - started} ms`)
    }).pipe(Effect.scoped), 600_000)
})
