/**
 * `pnpm bench`: Reprise's benchmarks, each reported as a ratio against a floor measured in the
 * same run on the same machine (raw PGlite), never as an absolute time budget.
 *
 * W1  1000 executions of an action inserting one note, vs 1000 raw PGlite inserts (each its
 *     own transaction), and vs the same inserts through @reprise/sql-pglite (driver cost).
 * W2  1000 executions of an action updating one column of one row, vs raw PGlite UPDATEs.
 * W3n, W7, W8  over the network: a server process on real Postgres (bench/network.ts).
 * W3–W5  sync: upload, fast-forward, and reconcile of interleaved offline histories, with the
 *     server on PGlite and on Postgres (bench/sync.ts).
 * W0  a client's start, fresh and reopening 10,000 rows, vs PGlite's own (bench/clientStart.ts).
 * W9  click to render: a facade action until a live query delivers its row, vs a raw INSERT
 *     until the same live query fires (bench/clickToRender.ts).
 *
 * Each workload: a warm-up, then 3 runs; min/median/max per run; results go to
 * bench/results/latest.json and the table in BENCHMARKS.md. The write-path series run
 * interleaved (run 1 of each, then run 2 of each, ...), so each floor and the series compared
 * with it are measured side by side.
 */
import { PGlite } from "@electric-sql/pglite"
import * as SqlClient from "@effect/sql/SqlClient"
import { ActionExecutor, ActionRegistry, SyncSchema, Tracking } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { createNote, NOTES_DDL, renameNote } from "./notes.js"
import { countStatements } from "./statementCounter.js"
import { clickToRenderBench } from "./clickToRender.js"
import { clientStartBench } from "./clientStart.js"
import { networkBench, updateNetworkBlock } from "./network.js"
import { replaceBlock, syncBench, updateSyncBlock } from "./sync.js"

const N = Number(process.env["BENCH_N"] ?? 1000)
const WARMUP = Number(process.env["BENCH_WARMUP"] ?? 200)
const RUNS = 3
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

interface Series {
  readonly name: string
  readonly runsMs: Array<number>
}

const stats = (series: Series) => {
  const sorted = [...series.runsMs].sort((a, b) => a - b)
  const perOp = sorted.map((ms) => ms / N)
  return { min: perOp[0]!, median: perOp[Math.floor(perOp.length / 2)]!, max: perOp[perOp.length - 1]! }
}

const time = async (f: () => Promise<void>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

/** A fresh in-memory PGlite with the notes table, Reprise installed, and an executor on it. */
const reprise = async () => {
  const pglite = await PGlite.create({ parsers: PgliteClient.parsers })
  await pglite.exec(NOTES_DDL)
  const counter = countStatements(pglite)
  const layer = ActionExecutor.layer({ userId: "u1" }).pipe(
    Layer.provide(ActionRegistry.layer([createNote, renameNote])),
    Layer.provideMerge(PgliteClient.layerFromPglite(pglite))
  )
  const runtime = ManagedRuntime.make(layer)
  await runtime.runPromise(Effect.zipRight(SyncSchema.install(), Tracking.install(["notes"])))
  return { pglite, runtime, counter }
}

/** One series: how to set up a run of it (returning the operation), and what to close after. */
interface Spec {
  readonly series: Series
  readonly prepare: () => Promise<(i: number) => Promise<void>>
  readonly cleanup?: (() => Promise<void>) | undefined
}

const measure = (name: string, prepare: Spec["prepare"], cleanup?: Spec["cleanup"]): Spec => ({
  series: { name, runsMs: [] },
  prepare,
  cleanup
})

/**
 * Runs the series interleaved: run 1 of every series, then run 2 of every series, ... so a
 * floor and the series compared with it see the same machine (a slower stretch of a shared VM,
 * a process that has grown) instead of one of them getting a different part of the session.
 */
const interleaved = async (specs: ReadonlyArray<Spec>) => {
  for (let run = 0; run < RUNS; run++) {
    for (const { cleanup, prepare, series } of specs) {
      const op = await prepare()
      for (let i = 0; i < WARMUP; i++) await op(-1 - i)
      series.runsMs.push(await time(async () => {
        for (let i = 0; i < N; i++) await op(i)
      }))
      await cleanup?.()
    }
  }
}

const w1 = () => {
  const opened: Array<PGlite> = []
  const close = async () => {
    for (const db of opened.splice(0)) await db.close()
  }
  const floor = measure("raw PGlite insert", async () => {
    const db = await PGlite.create()
    opened.push(db)
    await db.exec(NOTES_DDL)
    return async (i) => {
      await db.query("INSERT INTO notes (id, title, content, user_id, audience_key) VALUES ($1, $2, $3, $4, $5)", [
        `n${i}`, "title", "content", "u1", "u1"
      ])
    }
  }, close)
  // The same insert inside an explicit PGlite transaction() each: for reference only (the floor
  // above, one autocommit statement, is the stricter reading of "each in its own transaction").
  const explicit = measure("raw PGlite insert in transaction()", async () => {
    const db = await PGlite.create()
    opened.push(db)
    await db.exec(NOTES_DDL)
    return async (i) => {
      await db.transaction(async (tx) => {
        await tx.query("INSERT INTO notes (id, title, content, user_id, audience_key) VALUES ($1, $2, $3, $4, $5)", [
          `n${i}`, "title", "content", "u1", "u1"
        ])
      })
    }
  }, close)
  const runtimes: Array<{ dispose: () => Promise<void> }> = []
  const driver = measure("@reprise/sql-pglite insert", async () => {
    const db = await PGlite.create({ parsers: PgliteClient.parsers })
    opened.push(db)
    await db.exec(NOTES_DDL)
    const runtime = ManagedRuntime.make(PgliteClient.layerFromPglite(db))
    runtimes.push(runtime)
    const sql = await runtime.runPromise(SqlClient.SqlClient)
    return (i) => runtime.runPromise(Effect.asVoid(sql`INSERT INTO notes ${sql.insert({ id: `n${i}`, title: "title", content: "content", user_id: "u1", audience_key: "u1" })}`))
  }, async () => {
    for (const r of runtimes.splice(0)) await r.dispose()
    await close()
  })
  // The database work of an action with no Effect around it: BEGIN, the record insert (which
  // also points the triggers at the action), the app's insert with its trigger, COMMIT.
  const design = measure("raw PGlite, Reprise's statements", async () => {
    const env = await reprise()
    opened.push(env.pglite)
    runtimes.push(env.runtime)
    let k = 0
    return async (i) => {
      const id = crypto.randomUUID()
      await env.pglite.transaction(async (tx) => {
        // As the executor sends it: parameterless (simple protocol), values as literals.
        await tx.exec(recordInsert(id, JSON.stringify({ input: { title: `title ${i}` }, timestamp: 0 }), `h${String(++k).padStart(12, "0")}`))
        await tx.query("INSERT INTO notes (id, title, content, user_id, audience_key) VALUES ($1, $2, $3, $4, $5)", [
          id, `title ${i}`, "content", "u1", "u1"
        ])
      })
    }
  }, async () => {
    for (const r of runtimes.splice(0)) await r.dispose()
    await close()
  })
  let statements = 0
  const action = measure("executeAction(note.create.v1)", async () => {
    const env = await reprise()
    opened.push(env.pglite)
    runtimes.push(env.runtime)
    const executor = await env.runtime.runPromise(ActionExecutor.ActionExecutor)
    return async (i) => {
      const before = env.counter.count
      await env.runtime.runPromise(executor.execute(createNote, { title: `title ${i}`, content: "content" }))
      statements = env.counter.count - before
    }
  }, async () => {
    for (const r of runtimes.splice(0)) await r.dispose()
    await close()
  })
  return { floor, explicit, driver, design, action, statements: () => statements }
}

const literal = (value: string) => `E'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`
// As the executor sends it on PGlite: an EXECUTE of the record statement it prepared when it
// was built (one statement per action, no planning).
const recordInsert = (id: string, args: string, hlc: string) =>
  `EXECUTE reprise_record_v1(${literal(id)}, 'note.create.v1', ${literal(args)}, 'c', 'u1', ${literal(hlc)})`

const w2 = () => {
  const opened: Array<PGlite> = []
  const runtimes: Array<{ dispose: () => Promise<void> }> = []
  const close = async () => {
    for (const r of runtimes.splice(0)) await r.dispose()
    for (const db of opened.splice(0)) await db.close()
  }
  const floor = measure("raw PGlite update", async () => {
    const db = await PGlite.create()
    opened.push(db)
    await db.exec(NOTES_DDL)
    await db.query("INSERT INTO notes (id, title) VALUES ('n1', 'start')")
    return async (i) => {
      await db.query("UPDATE notes SET title = $1 WHERE id = $2", [`title ${i}`, "n1"])
    }
  }, close)
  let statements = 0
  const action = measure("executeAction(note.rename.v1)", async () => {
    const env = await reprise()
    opened.push(env.pglite)
    runtimes.push(env.runtime)
    const executor = await env.runtime.runPromise(ActionExecutor.ActionExecutor)
    const id = await env.runtime.runPromise(executor.execute(createNote, { title: "start", content: "c" }))
    return async (i) => {
      const before = env.counter.count
      await env.runtime.runPromise(executor.execute(renameNote, { id, title: `title ${i}` }))
      statements = env.counter.count - before
    }
  }, close)
  return { floor, action, statements: () => statements }
}

const fmt = (ms: number) => ms.toFixed(3)

/**
 * `BENCH_ONLY=write` runs W1/W2 only, `BENCH_ONLY=sync` W3–W5 only, `BENCH_ONLY=network` W3n, W7
 * and W8 only, `BENCH_ONLY=client` W0 and W9 only (for quick iterations);
 * neither writes BENCHMARKS.md or the JSON results, which only a full run updates.
 */
const ONLY = process.env["BENCH_ONLY"]

const main = async () => {
  console.log(`Reprise benchmarks: N=${N}, warm-up ${WARMUP}, ${RUNS} runs, node ${process.version}`)
  if (ONLY !== undefined && ONLY !== "write" && ONLY !== "sync" && ONLY !== "network" && ONLY !== "client") {
    throw new Error(`BENCH_ONLY must be "write", "sync", "network" or "client", not ${JSON.stringify(ONLY)}`)
  }
  if (ONLY === "client") {
    const client = await clientBench()
    console.log(client.markdown)
    return
  }
  if (ONLY === "network") {
    const network = await networkBench()
    console.log(network.markdown)
    return
  }
  if (ONLY === "sync") {
    const sync = await syncBench()
    console.log(sync.markdown)
    return
  }
  const specs = { one: w1(), two: w2() }
  await interleaved([
    specs.one.floor,
    specs.one.explicit,
    specs.one.driver,
    specs.one.design,
    specs.one.action,
    specs.two.floor,
    specs.two.action
  ])
  const one = {
    floor: specs.one.floor.series,
    explicit: specs.one.explicit.series,
    driver: specs.one.driver.series,
    design: specs.one.design.series,
    action: specs.one.action.series
  }
  const two = { floor: specs.two.floor.series, action: specs.two.action.series }
  const rows: Array<{ workload: string; series: Series; floor: Series; statements?: number }> = [
    { workload: "W1", series: one.floor, floor: one.floor },
    { workload: "W1", series: one.explicit, floor: one.floor },
    { workload: "W1", series: one.driver, floor: one.floor },
    { workload: "W1", series: one.design, floor: one.floor },
    { workload: "W1", series: one.action, floor: one.floor, statements: specs.one.statements() },
    { workload: "W2", series: two.floor, floor: two.floor },
    { workload: "W2", series: two.action, floor: two.floor, statements: specs.two.statements() }
  ]
  const table = [
    "| workload | what | ms/op min | median | max | × floor (median) | statements/op |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(({ floor, series, statements, workload }) => {
      const s = stats(series)
      const ratio = s.median / stats(floor).median
      return `| ${workload} | ${series.name} | ${fmt(s.min)} | ${fmt(s.median)} | ${fmt(s.max)} | ${ratio.toFixed(2)} | ${statements ?? ""} |`
    })
  ].join("\n")
  console.log(table)
  const ratios = {
    w1ActionVsFloor: stats(one.action).median / stats(one.floor).median,
    w1DriverVsFloor: stats(one.driver).median / stats(one.floor).median,
    w1DesignVsFloor: stats(one.design).median / stats(one.floor).median,
    w2ActionVsFloor: stats(two.action).median / stats(two.floor).median
  }
  console.log(`W1 action/floor ${ratios.w1ActionVsFloor.toFixed(2)} (goal ≤ 3), driver/floor ${ratios.w1DriverVsFloor.toFixed(2)} (goal ≤ 1.3); W2 action/floor ${ratios.w2ActionVsFloor.toFixed(2)} (goal ≤ 3)`)
  if (ONLY === "write") return
  // W3–W5 (bench/sync.ts); it fails the whole run if replicas and server do not converge.
  const sync = await syncBench()
  // W3 over HTTP, W7, W8 (bench/network.ts): a server process on real Postgres.
  const network = await networkBench()
  // W0 and W9 (bench/clientStart.ts, bench/clickToRender.ts): the client package.
  const client = await clientBench()
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    n: N,
    warmup: WARMUP,
    runs: RUNS,
    rows: rows.map(({ series, statements, workload }) => ({ workload, name: series.name, runsMs: series.runsMs, perOpMs: stats(series), statements })),
    ratios,
    sync: sync.json,
    network: network.json,
    client: client.json
  }
  await fs.mkdir(path.join(root, "bench/results"), { recursive: true })
  await fs.writeFile(path.join(root, "bench/results/latest.json"), JSON.stringify(result, null, 2))
  await updateBenchmarksMd(table, result.date)
  await updateSyncBlock(path.join(root, "BENCHMARKS.md"), sync.markdown)
  await updateNetworkBlock(path.join(root, "BENCHMARKS.md"), network.markdown)
  await replaceBlock(path.join(root, "BENCHMARKS.md"), CLIENT_START, CLIENT_END, client.markdown)
}

const CLIENT_START = "<!-- bench:client:start -->"
const CLIENT_END = "<!-- bench:client:end -->"

/** W0 then W9, one table each. */
const clientBench = async () => {
  const start = await clientStartBench()
  console.log(start.markdown)
  const click = await clickToRenderBench()
  console.log(click.markdown)
  return {
    markdown: `Last run: ${new Date().toISOString()}, ${process.version}.\n\n${start.markdown}\n\n${click.markdown}`,
    json: { w0: start.json, w9: click.json }
  }
}

const START = "<!-- bench:write-path:start -->"
const END = "<!-- bench:write-path:end -->"

const updateBenchmarksMd = async (table: string, date: string) => {
  const file = path.join(root, "BENCHMARKS.md")
  const current = await fs.readFile(file, "utf8")
  const start = current.indexOf(START)
  const end = current.indexOf(END)
  if (start < 0 || end < start) throw new Error("BENCHMARKS.md lost its bench markers")
  const block = `${START}\nLast run: ${date}, ${process.version}, N=${N}.\n\n${table}\n${END}`
  await fs.writeFile(file, current.slice(0, start) + block + current.slice(end + END.length))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
