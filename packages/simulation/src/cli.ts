/**
 * `pnpm sim`: the long convergence simulation.
 *
 *   pnpm sim --seeds 5000          5000 schedules from a random base seed (printed)
 *   pnpm sim --seeds 50 --from 7   schedules 7 .. 56
 *   pnpm sim --seed 1234           replays one schedule and prints what it found
 *   pnpm sim --seed 1234 --shrink  ... and shrinks a failure into a committed regression case
 *   pnpm sim --postgres ...        the server on real Postgres (DATABASE_URL, else embedded)
 *   pnpm sim --private ...         the server filters the log by audience (checks per scope)
 *   pnpm sim --tally ...           with the tally action ("author" authority) in the mix
 *   pnpm sim --seed 1234 --trace   ... printing each replica's sync reports after healing
 *
 * Exits non-zero if any schedule fails. Without --seed, failures are shrunk only with --shrink.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Simulation } from "@reprise/core/testing"
import * as PgServer from "@reprise/pg-fixture/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { parseArgs } from "node:util"
import { add, config, emptyTotals, summary } from "./index.js"
import * as Regressions from "./regressions.js"

const { values } = parseArgs({
  options: {
    seeds: { type: "string" },
    from: { type: "string" },
    seed: { type: "string" },
    shrink: { type: "boolean", default: false },
    postgres: { type: "boolean", default: false },
    private: { type: "boolean", default: false },
    tally: { type: "boolean", default: false },
    trace: { type: "boolean", default: false }
  },
  strict: true
})

const int = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new Error(`--${name} needs an integer, got ${JSON.stringify(text)}`)
  return n
}

const one = int("seed", values.seed)
const count = int("seeds", values.seeds) ?? (one === undefined ? 200 : 1)
const from = one ?? int("from", values.from) ?? Math.floor(Math.random() * 0x7fffffff)
if (count < 1) throw new Error(`--seeds needs a positive integer, got ${count}`)
const seeds = Array.from({ length: count }, (_, i) => from + i)

const serverDatabase = async (): Promise<{ layer: Layer.Layer<SqlClient.SqlClient, unknown>; close: () => Promise<void>; name: string }> => {
  if (!values.postgres) return { layer: PgliteClient.layer({}), close: async () => {}, name: "in-process PGlite" }
  const server = await PgServer.start()
  const db = `reprise_sim_${process.pid}_${Date.now()}`
  await PgServer.withClient(server.url, (c) => c.query(`CREATE DATABASE "${db}"`))
  const url = new URL(server.url)
  url.pathname = `/${db}`
  return {
    layer: PgClient.layer({ url: Redacted.make(url.toString()) }),
    name: `PostgreSQL ${server.version} (${server.source})`,
    close: async () => {
      await PgServer.withClient(server.url, (c) => c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`))
      await server.stop()
    }
  }
}

const main = async () => {
  const database = await serverDatabase()
  console.log(`pnpm sim: ${count} schedule(s) from seed ${from} (replay one with --seed N), server on ${database.name}`)
  const started = Date.now()
  const program = Effect.gen(function*() {
    const simulator = yield* Simulation.make(config(database.layer, values.trace ? { trace: console.log } : {}, { privateData: values.private, tally: values.tally }))
    const totals = emptyTotals()
    for (const seed of seeds) {
      const report = yield* simulator.explore(seed)
      add(totals, report)
      if (one !== undefined) console.log(JSON.stringify(report, null, 2))
      if (report.problems.length === 0) {
        if (count > 1 && totals.schedules % 50 === 0) console.log(`${totals.schedules}/${count} ${summary(totals)}`)
        continue
      }
      console.log(`seed ${seed} FAILED:\n  ${report.problems.join("\n  ")}`)
      if (values.shrink) {
        const shrunk = yield* Simulation.shrink(simulator, report, { log: console.log })
        Regressions.append({
          schedule: shrunk.schedule,
          ...(values.private ? { privateData: true } : {}),
          ...(values.tally ? { tally: true } : {}),
          found: shrunk.report.problems.slice(0, 5).map((p) => p.split("\n")[0]).join(" | "),
          date: new Date().toISOString()
        })
        console.log(`shrunk to ${JSON.stringify(shrunk.schedule)} in ${shrunk.tries} tries; added to ${Regressions.file}`)
      }
    }
    return totals
  }).pipe(Effect.scoped)
  try {
    const totals = await Effect.runPromise(program)
    console.log(summary(totals))
    console.log(`${((Date.now() - started) / 1000).toFixed(0)} s`)
    process.exitCode = totals.failedSeeds.length === 0 ? 0 : 1
  } finally {
    await database.close()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 2
})
