/**
 * The CI simulation: schedules of the conflict-heavy app with every fault on, from a random
 * base seed that is printed (`REPRISE_SIM_SEED` replays the same schedules). Never retried: a
 * failing schedule fails the test with its seed; shrink it with `pnpm sim --seed N --shrink`
 * and commit the case (regressions.json), which every run then replays.
 *
 * How many: `REPRISE_SIM_SCHEDULES` schedules with audiences (simulation-a and -b take half
 * each), and a fifth as many without (simulation-unfiltered). `pnpm test` runs the default, a
 * sample that keeps the command near five minutes; CI's simulation step runs 60 (see .ci/run).
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

/** The default of `REPRISE_SIM_SCHEDULES`: the sample `pnpm test` runs. */
export const DEFAULT_SCHEDULES = 10

/** `REPRISE_SIM_SCHEDULES`, else the default: the number of schedules with audiences (a + b). */
export const scheduleCount = (): number => positive("REPRISE_SIM_SCHEDULES", DEFAULT_SCHEDULES)

/** A positive integer from the environment variable `name`, else `fallback`. */
export const positive = (name: string, fallback: number): number => {
  const text = process.env[name]
  if (text === undefined || text === "") return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${text}`)
  return value
}

/**
 * The seeds of each file, laid out so that one `REPRISE_SIM_SEED` replays a whole run: with
 * `n` schedules, simulation-a runs base..base+⌈n/2⌉-1, simulation-b the rest up to base+n-1,
 * simulation-unfiltered base+n onwards (⌈n/5⌉ of them).
 */
export const seedRange = (part: "a" | "b" | "unfiltered", base: number, n = scheduleCount()): Array<number> => {
  const half = Math.ceil(n / 2)
  const [from, count] = part === "a" ? [0, half] : part === "b" ? [half, n - half] : [n, Math.ceil(n / 5)]
  return Array.from({ length: count }, (_, i) => base + from + i)
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
