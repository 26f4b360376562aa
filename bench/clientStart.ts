/**
 * W0 start (issue 16): how long until a client is ready to run actions, beside PGlite's own
 * start on the same storage, measured in the same run.
 *
 * W0 fresh   `Client.layer` on a new in-memory database (migrations, sync schema, tracking,
 *            registry, executor, engine, inspector) until `Client` is built.
 *            Floor: `PGlite.create()` in memory, then the app's DDL.
 * W0 reopen  `Client.layer` on a copy of a data directory holding 10,000 notes (written by 200
 *            actions of 50 rows each, with their records and patches), until `Client` is built
 *            and a `count(*)` of the notes answered. Floor: `PGlite.create(dir)` on another
 *            copy of the same directory, then the same `count(*)`.
 *
 * Each run opens a new instance (the copy is made before the clock starts), the series
 * alternating run by run so each floor is measured beside its series; RUNS runs each, after one
 * warm-up of each. Run alone: `npx tsx bench/clientStart.ts`; `pnpm bench` calls
 * `clientStartBench()` when registered.
 */
import { PGlite } from "@electric-sql/pglite"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Client, Storage } from "../packages/client/src/index.js"

const RUNS = Number(process.env["BENCH_W0_RUNS"] ?? 5)
const ROWS = 10_000
const ROWS_PER_ACTION = 50

const DDL = "CREATE TABLE notes (id text PRIMARY KEY, title text NOT NULL, body text, audience_key text)"

const addNotes = Action.make({
  tag: "notes.add.v1",
  args: Schema.Struct({ batch: Schema.Number, count: Schema.Number }),
  run: ({ batch, count }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const ids = yield* ActionIds.ActionIds
      const rows = Array.from({ length: count }, (_, i) => ({
        id: ids.id(`note-${i}`),
        title: `note ${batch}.${i}`,
        body: "lorem ipsum dolor sit amet ".repeat(4),
        audience_key: "team-1"
      }))
      yield* sql`INSERT INTO notes ${sql.insert(rows)}`
    })
})

const config = (storage: Storage.Storage): Client.Config => ({
  storage,
  migrations: [{ name: "notes", sql: DDL }],
  tables: ["notes"],
  actions: [addNotes],
  userId: "user-1"
})

/** Opens a client on `storage`, runs `after` on it, and returns the ms until it was ready (and `after` done), closed after. */
const openClient = (storage: Storage.Storage, after: Effect.Effect<unknown, unknown, Client.Services> = Effect.void) =>
  Effect.runPromise(Effect.gen(function*() {
    const scope = yield* Scope.make()
    const start = performance.now()
    const context = yield* Layer.buildWithScope(Client.layer(config(storage)), scope)
    yield* Effect.provide(after, context)
    const ms = performance.now() - start
    yield* Scope.close(scope, Exit.void)
    return ms
  }))

const countNotes = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT count(*)::int AS n FROM notes`)

const seed = async (dir: string) => {
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(Client.layer(config(Storage.directory(dir))))
    const client = Effect.provide(Client.Client, context)
    const c = yield* client
    for (let batch = 0; batch < ROWS / ROWS_PER_ACTION; batch++) {
      yield* c.run(addNotes, { batch, count: ROWS_PER_ACTION })
    }
    const [row] = yield* Effect.provide(countNotes, context)
    if (row?.["n"] !== ROWS) throw new Error(`W0 seed: expected ${ROWS} notes, found ${JSON.stringify(row)}`)
  })))
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Runs W0 and returns its table (markdown) and figures (JSON). */
export const clientStartBench = async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "reprise-w0-"))
  try {
    const seedDir = path.join(root, "seed")
    await seed(seedDir)
    let copies = 0
    const copy = async () => {
      const dir = path.join(root, `copy-${copies++}`)
      await fs.cp(seedDir, dir, { recursive: true })
      return dir
    }
    const series = { freshFloor: [] as Array<number>, fresh: [] as Array<number>, reopenFloor: [] as Array<number>, reopen: [] as Array<number> }
    for (let run = -1; run < RUNS; run++) {
      const keep = (list: Array<number>, ms: number) => {
        if (run >= 0) list.push(ms)
      }
      {
        const start = performance.now()
        const db = await PGlite.create()
        await db.exec(DDL)
        keep(series.freshFloor, performance.now() - start)
        await db.close()
      }
      keep(series.fresh, await openClient(Storage.memory()))
      {
        const dir = await copy()
        const start = performance.now()
        const db = await PGlite.create(dir)
        await db.query("SELECT count(*)::int AS n FROM notes")
        keep(series.reopenFloor, performance.now() - start)
        await db.close()
        await fs.rm(dir, { recursive: true, force: true })
      }
      {
        const dir = await copy()
        keep(series.reopen, await openClient(Storage.directory(dir), countNotes))
        await fs.rm(dir, { recursive: true, force: true })
      }
    }
    const row = (what: string, xs: ReadonlyArray<number>, floor: ReadonlyArray<number>) =>
      `| ${what} | ${Math.min(...xs).toFixed(0)} | ${median(xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${(median(xs) / median(floor)).toFixed(2)} |`
    const markdown = [
      `| W0 start (${RUNS} runs) | ms min | median | max | × floor (median) |`,
      "| --- | ---: | ---: | ---: | ---: |",
      row("fresh: PGlite.create() + DDL (floor)", series.freshFloor, series.freshFloor),
      row("fresh: Client.layer, memory", series.fresh, series.freshFloor),
      row(`reopen ${ROWS} rows: PGlite.create(dir) + count (floor)`, series.reopenFloor, series.reopenFloor),
      row(`reopen ${ROWS} rows: Client.layer, directory + count`, series.reopen, series.reopenFloor)
    ].join("\n")
    const json = {
      runs: RUNS,
      rows: ROWS,
      ms: series,
      ratios: {
        fresh: median(series.fresh) / median(series.freshFloor),
        reopen: median(series.reopen) / median(series.reopenFloor)
      }
    }
    return { markdown, json }
  } finally {
    await fs.rm(root, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  clientStartBench().then(({ json, markdown }) => {
    console.log(markdown)
    console.log(`W0 fresh ${json.ratios.fresh.toFixed(2)}× floor, reopen ${json.ratios.reopen.toFixed(2)}× floor (goal ≤ 1.2)`)
  }, (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
