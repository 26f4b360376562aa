/**
 * W9 click to render (issue 16): from calling an action through the promise facade until a
 * live query on the same client has delivered the new row, beside the floor measured in the
 * same run: a raw PGlite `INSERT` (autocommit) until the same live query on a plain PGlite
 * (with `live`, the same table) delivers it. Goal: within 2× the floor.
 *
 * SAMPLES samples of each (after WARMUP of each), taken in alternating blocks of BLOCK so that
 * the floor and the series share the machine's load; p50 and p99 of each. The live query is
 * the same on both sides: the 10 newest rows by title, so its cost does not grow with the table.
 * A third series isolates what the facade adds: the same promise action executed by core's
 * `ActionExecutor` directly (`executeTag` on a `ManagedRuntime`, as `bench/run.ts`'s W1 does),
 * on a PGlite with `live`, until the same live query delivers the row.
 * Run alone: `npx tsx bench/clickToRender.ts`; `pnpm bench` calls `clickToRenderBench()` when
 * registered.
 */
import { PGlite } from "@electric-sql/pglite"
import { live, type PGliteWithLive } from "@electric-sql/pglite/live"
import { ActionExecutor, ActionRegistry, SyncSchema, Tracking } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { createReprise, defineAction } from "../packages/client/src/index.js"

const SAMPLES = Number(process.env["BENCH_W9_SAMPLES"] ?? 500)
const WARMUP = Number(process.env["BENCH_W9_WARMUP"] ?? 50)
const BLOCK = 50

const DDL = "CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, audience_key text)"
const LIVE = "SELECT id, title FROM todos ORDER BY title DESC LIMIT 10"

const addTodo = defineAction({
  tag: "todo.add.v1",
  args: Schema.standardSchemaV1(Schema.Struct({ title: Schema.String })),
  run: async (tx, { title }, ctx) => {
    await tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, $2, 'me')", [ctx.id("todo"), title])
  }
})

/** Resolves the wait for a title once a live query's rows show it. */
const watcher = () => {
  let expected: { readonly title: string; readonly resolve: () => void } | undefined
  return {
    onRows: (rows: ReadonlyArray<{ readonly title: string }>) => {
      if (expected !== undefined && rows.some((row) => row.title === expected!.title)) {
        const { resolve } = expected
        expected = undefined
        resolve()
      }
    },
    /** Starts the clock, runs `write`, and resolves with the ms until the row was delivered. */
    time: async (title: string, write: () => Promise<unknown>): Promise<number> => {
      const start = performance.now()
      const delivered = new Promise<void>((resolve) => {
        expected = { title, resolve }
      })
      await write()
      await delivered
      return performance.now() - start
    }
  }
}

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Runs W9 and returns its markdown rows and figures. */
export const clickToRenderBench = async () => {
  // The floor: a plain PGlite with live queries.
  const raw: PGliteWithLive = await PGlite.create({ extensions: { live } })
  await raw.exec(DDL)
  const rawWatch = watcher()
  const rawLive = await raw.live.query<{ title: string }>(LIVE, [], (results) => rawWatch.onRows(results.rows))

  // The series: the facade, local-only, in memory.
  const reprise = await createReprise({
    storage: "memory://",
    migrations: [{ name: "todos", sql: DDL }],
    tables: ["todos"],
    actions: { addTodo },
    userId: "bench"
  })
  const facadeWatch = watcher()
  const facadeLive = await reprise.live<{ title: string }>(LIVE, [], (rows) => facadeWatch.onRows(rows))

  // The same action on core's executor, without the facade.
  const corePglite: PGliteWithLive = await PGlite.create({ extensions: { live }, parsers: PgliteClient.parsers })
  await corePglite.exec(DDL)
  const core = ManagedRuntime.make(ActionExecutor.layer({ userId: "bench" }).pipe(
    Layer.provide(ActionRegistry.layer([addTodo])),
    Layer.provideMerge(PgliteClient.layerFromPglite(corePglite))
  ))
  await core.runPromise(Effect.zipRight(SyncSchema.install(), Tracking.install(["todos"])))
  const executor = await core.runPromise(ActionExecutor.ActionExecutor)
  const coreWatch = watcher()
  const coreLive = await corePglite.live.query<{ title: string }>(LIVE, [], (results) => coreWatch.onRows(results.rows))

  const floor: Array<number> = []
  const series: Array<number> = []
  const direct: Array<number> = []
  let n = 0
  const title = () => `sample ${String(++n).padStart(8, "0")}`
  const rawInsert = (t: string) =>
    rawWatch.time(t, () => raw.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, $2, 'me')", [t, t]))
  const facadeAction = (t: string) => facadeWatch.time(t, () => reprise.actions.addTodo({ title: t }))
  const coreAction = (t: string) => coreWatch.time(t, () => core.runPromise(executor.executeTag(addTodo.tag, { title: t })))
  try {
    for (let i = 0; i < WARMUP; i++) {
      await rawInsert(title())
      await facadeAction(title())
      await coreAction(title())
    }
    while (series.length < SAMPLES) {
      const size = Math.min(BLOCK, SAMPLES - series.length)
      for (let i = 0; i < size; i++) floor.push(await rawInsert(title()))
      for (let i = 0; i < size; i++) series.push(await facadeAction(title()))
      for (let i = 0; i < size; i++) direct.push(await coreAction(title()))
    }
  } finally {
    await rawLive.unsubscribe()
    await facadeLive.unsubscribe()
    await coreLive.unsubscribe()
    await core.dispose()
    await corePglite.close()
    await raw.close()
    await reprise.close()
  }
  const figures = {
    samples: SAMPLES,
    floor: { p50: percentile(floor, 50), p99: percentile(floor, 99) },
    facade: { p50: percentile(series, 50), p99: percentile(series, 99) },
    core: { p50: percentile(direct, 50), p99: percentile(direct, 99) }
  }
  const ratios = {
    p50: figures.facade.p50 / figures.floor.p50,
    p99: figures.facade.p99 / figures.floor.p99,
    /** What the facade adds over core's executor. */
    facadeOverCore: figures.facade.p50 / figures.core.p50
  }
  const row = (what: string, f: { p50: number; p99: number }) =>
    `| ${what} | ${f.p50.toFixed(2)} | ${f.p99.toFixed(2)} | ${(f.p50 / figures.floor.p50).toFixed(2)} |`
  const markdown = [
    `| W9 click to render (${SAMPLES} samples) | ms p50 | p99 | × floor (p50) |`,
    "| --- | ---: | ---: | ---: |",
    row("raw PGlite INSERT until the live query delivers it (floor)", figures.floor),
    row("reprise.actions.addTodo(...) until the same live query delivers it", figures.facade),
    row("the same action through core's ActionExecutor.executeTag (no facade)", figures.core)
  ].join("\n")
  return { markdown, json: { ...figures, ratios } }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  clickToRenderBench().then(({ json, markdown }) => {
    console.log(markdown)
    console.log(
      `W9 ${json.ratios.p50.toFixed(2)}× floor at p50, ${json.ratios.p99.toFixed(2)}× at p99 (goal ≤ 2); ` +
        `the facade ${json.ratios.facadeOverCore.toFixed(2)}× core's executor at p50`
    )
  }, (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
