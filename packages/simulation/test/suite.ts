/**
 * The CI simulation: schedules of the conflict-heavy app with every fault on, from a random
 * base seed that is printed (`REPRISE_SIM_SEED` replays the same schedules). Never retried: a
 * failing schedule fails the test with its seed; shrink it with `pnpm sim --seed N --shrink`
 * and commit the case (regressions.json), which every run then replays.
 */
import { assert, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { inject } from "vitest"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Simulation } from "@reprise/core/testing"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { config, runSeeds, summary, type Variant } from "../src/index.js"

/** The base seed: `REPRISE_SIM_SEED`, else random; printed either way. */
export const baseSeed = (label: string, flags = ""): number => {
  const text = process.env["REPRISE_SIM_SEED"]
  const seed = text === undefined ? Math.floor(Math.random() * 0x7fffffff) : Number.parseInt(text, 10)
  if (!Number.isSafeInteger(seed)) throw new Error(`REPRISE_SIM_SEED must be an integer, got ${text}`)
  console.log(`[${label}] base seed ${seed} (replay with REPRISE_SIM_SEED=${seed}, or one schedule with pnpm sim ${flags === "" ? "" : `${flags} `}--seed N)`)
  return seed
}

/** Registers a test running `count` schedules from `base + offset` with the server on `server`. */
export const simulate = (
  name: string,
  server: () => Layer.Layer<SqlClient.SqlClient, unknown>,
  seeds: () => ReadonlyArray<number>,
  timeoutMs: number,
  options: Variant = {},
  /** Runs of one group are also printed together, as one line, when the test run ends. */
  group?: string
) =>
  it.live(name, () =>
    Effect.gen(function*() {
      const started = Date.now()
      const simulator = yield* Simulation.make(config(server(), {}, options))
      const list = seeds()
      const totals = yield* runSeeds(simulator, list, console.log)
      console.log(`[${name}] ${summary(totals)} (${((Date.now() - started) / 1000).toFixed(0)} s)`)
      if (group !== undefined) {
        // Picked up by summarySetup.ts, which prints the group's line at the end of the run.
        const dir = inject("reprise.simTotalsDir")
        fs.writeFileSync(path.join(dir, `${group}-${process.pid}-${Date.now()}.json`), JSON.stringify({ group, totals }))
      }
      const replay = `pnpm sim${options.privateData === true ? " --private" : ""}${options.tally === true ? " --tally" : ""} --seed N`
      assert.deepStrictEqual(
        totals.failedSeeds,
        [],
        `failing seeds (printed above with what they broke; replay one with ${replay}): ${totals.failedSeeds.join(", ")}`
      )
      assert.strictEqual(totals.schedules, list.length)
    }).pipe(Effect.scoped), timeoutMs)
