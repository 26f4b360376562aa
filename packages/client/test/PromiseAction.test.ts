/**
 * Promise actions on core's executor and real PGlite: their SQL runs in the action's
 * transaction, in order, and nowhere else; their context is the action's frozen time, seeded
 * randomness and deterministic ids, so development mode's double run passes a deterministic one
 * and catches a nondeterministic one, and a replica replaying one (after a rollback, or one it
 * received) writes exactly what its author wrote. Args take zod and Effect Schema alike.
 */
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { ActionExecutor, ActionIds, ActionRegistry, SyncEngine, SyncSchema, Tracking } from "@reprise/core"
import { InProcessTransport, SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { afterAll, beforeAll } from "vitest"
import { z } from "zod"
import * as PromiseAction from "../src/PromiseAction.js"
import { RepriseError } from "../src/internal/promiseErrors.js"

const TABLES = `CREATE TABLE IF NOT EXISTS todos (
  id text PRIMARY KEY, title text NOT NULL, lucky double precision, created_at timestamptz, audience_key text)`

/** Everything a promise action can read deterministically, written to its row. */
const createTodo = PromiseAction.defineAction({
  tag: "todo.create.v1",
  args: z.object({ title: z.string().min(1, "a todo needs a title"), list: z.string() }),
  run: async (tx, { list, title }, ctx) => {
    const id = ctx.id("todo")
    await tx.query("INSERT INTO todos (id, title, lucky, created_at, audience_key) VALUES ($1, $2, $3, $4, $5)", [
      id,
      title,
      ctx.random(),
      new Date(ctx.now()).toISOString(),
      list
    ])
    return { id, actionId: ctx.actionId, now: ctx.now() }
  }
})

/** Effect Schema args, plain: renames a todo if it exists (reads, then writes). */
const renameTodo = PromiseAction.defineAction({
  tag: "todo.rename.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.NonEmptyString }),
  run: async (tx, { id, title }) => {
    const found = await tx.query<{ id: string }>("SELECT id FROM todos WHERE id = $1", [id])
    if (found.length === 0) throw new Error(`no todo ${id}`)
    await tx.query("UPDATE todos SET title = $2 WHERE id = $1", [id, title])
  }
})

/** Effect Schema args through Schema.standardSchemaV1; three statements started together. */
const createThree = PromiseAction.defineAction({
  tag: "todo.createThree.v1",
  args: Schema.standardSchemaV1(Schema.Struct({ prefix: Schema.String })),
  run: async (tx, { prefix }, ctx) => {
    await Promise.all([1, 2, 3].map((n) =>
      tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, $2, 'l')", [ctx.id(`t${n}`), `${prefix} ${n}`])
    ))
  }
})

const sloppy = PromiseAction.defineAction({
  tag: "todo.sloppy.v1",
  args: z.object({ title: z.string() }),
  run: async (tx, { title }, ctx) => {
    await tx.query("INSERT INTO todos (id, title, lucky, audience_key) VALUES ($1, $2, $3, 'l')", [
      ctx.id("todo"),
      title,
      Math.random()
    ])
  }
})

let escaped: Promise<unknown> | undefined
const escaping = PromiseAction.defineAction({
  tag: "todo.escaping.v1",
  args: z.object({ id: z.string() }),
  run: async (tx, { id }) => {
    escaped = new Promise((resolve) => setTimeout(resolve, 20)).then(() =>
      tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, 'late', 'l')", [id])
    )
    escaped.catch(() => undefined)
  }
})

const unawaited = PromiseAction.defineAction({
  tag: "todo.unawaited.v1",
  args: z.object({ id: z.string() }),
  run: async (tx, { id }) => {
    void tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, 'floating', 'l')", [id]).catch(() => undefined)
  }
})

const swallowing = PromiseAction.defineAction({
  tag: "todo.swallowing.v1",
  args: z.object({ id: z.string() }),
  run: async (tx, { id }) => {
    await tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, 'one', 'l')", [id])
    await tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, 'two', 'l')", [id]).catch(() => undefined)
  }
})

const reusedKey = PromiseAction.defineAction({
  tag: "todo.reusedKey.v1",
  args: z.object({}),
  run: async (tx, _args, ctx) => {
    await tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, 'a', 'l')", [ctx.id("same")])
    await tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, 'b', 'l')", [ctx.id("same")])
  }
})

const actions = [createTodo, renameTodo, createThree, sloppy, escaping, unawaited, swallowing, reusedKey]

const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(TABLES)
  yield* SyncSchema.install()
  yield* Tracking.install(["todos"])
})

const Local = Layer.merge(PgliteClient.layer({}), ActionRegistry.layer(actions))
let local: ManagedRuntime.ManagedRuntime<SqlClient.SqlClient | ActionRegistry.ActionRegistry, unknown>
beforeAll(async () => {
  local = ManagedRuntime.make(Local)
  await local.runPromise(setup)
})
afterAll(() => local.dispose())

/** Runs `f` with an executor (development mode or not) on the shared local database. */
const withExecutor = <A, E>(devMode: boolean, f: (executor: ActionExecutor.ActionExecutorShape) => Effect.Effect<A, E>) =>
  local.runPromise(Effect.flatMap(ActionExecutor.make({ userId: "u1", devMode }), f))

const query = <Row extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
  local.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<Row>(text, params)))

const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(() => assert.fail("expected the action to fail"), (error: unknown) => error)

/** What running `f` with an executor fails with (it must fail). */
const failing = <A, E>(devMode: boolean, f: (executor: ActionExecutor.ActionExecutorShape) => Effect.Effect<A, E>) =>
  local.runPromise(Effect.flip(Effect.flatMap(ActionExecutor.make({ userId: "u1", devMode }), f)))

/** The _tag of a failed Effect's error, as runPromise rejects with it. */
const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : `not tagged: ${String(error)}`

describe("PromiseAction", () => {
  /** Verifies: R-ACT-1, R-ACT-2, R-ACT-3 */
  it("runs in the action's transaction with its frozen time, seeded Random and ids", async () => {
    const out = await withExecutor(false, (ex) => ex.executeTag("todo.create.v1", { title: "Milk", list: "home" }))
    const result = out as { id: string; actionId: string; now: number }
    assert.strictEqual(result.id, ActionIds.deriveUuid(result.actionId, "todo"))
    const [row] = await query<{ title: string; lucky: number; created_at: Date }>(
      "SELECT title, lucky, created_at FROM todos WHERE id = $1",
      [result.id]
    )
    assert.strictEqual(row?.title, "Milk")
    assert.strictEqual(row?.created_at.getTime(), result.now)
    // The record says when it ran: the same timestamp the action read.
    const [record] = await query<{ args: { timestamp: number } }>("SELECT args FROM reprise.action_records WHERE id = $1", [
      result.actionId
    ])
    assert.strictEqual(record?.args.timestamp, result.now)
    // Its writes were captured as its patches: they ran in its transaction.
    const [patches] = await query<{ n: number }>("SELECT count(*)::int AS n FROM reprise.action_patches WHERE action_id = $1", [
      result.actionId
    ])
    assert.strictEqual(patches?.n, 1)
    // Effect code runs a promise action through the executor's typed API as well.
    await withExecutor(false, (ex) => ex.execute(renameTodo, { id: result.id, title: "Oat milk" }))
    const [renamed] = await query<{ title: string }>("SELECT title FROM todos WHERE id = $1", [result.id])
    assert.strictEqual(renamed?.title, "Oat milk")
  })

  /** Verifies: R-ACT-2 */
  it("runs statements started together one at a time, in the order they were called", async () => {
    await withExecutor(false, (ex) => ex.executeTag("todo.createThree.v1", { prefix: "ordered" }))
    const rows = await query<{ title: string }>(
      `SELECT forward->>'title' AS title FROM reprise.action_patches p JOIN reprise.action_records r ON r.id = p.action_id
       WHERE r.tag = 'todo.createThree.v1' ORDER BY p.seq`
    )
    assert.deepStrictEqual(rows.map((r) => r.title), ["ordered 1", "ordered 2", "ordered 3"])
  })

  /** Verifies: R-ACT-1 */
  it("validates args with zod and with Effect Schema, failing with a typed InvalidActionArgs", async () => {
    const zodError = await failing(false, (ex) => ex.executeTag("todo.create.v1", { title: "", list: "l" }))
    assert.strictEqual(tagOf(zodError), "InvalidActionArgs")
    assert.include((zodError as Error).message, "title: a todo needs a title")
    const effectError = await failing(false, (ex) => ex.executeTag("todo.rename.v1", { id: "x", title: "" }))
    assert.strictEqual(tagOf(effectError), "InvalidActionArgs")
    const standardError = await failing(false, (ex) => ex.executeTag("todo.createThree.v1", { prefix: 3 }))
    assert.strictEqual(tagOf(standardError), "InvalidActionArgs")
  })

  /** Verifies: R-ACT-2 */
  it("fails and rolls back when its code throws: ActionFailed with what was thrown as the cause", async () => {
    const before = await query<{ n: number }>("SELECT count(*)::int AS n FROM reprise.action_records")
    const error = await failing(false, (ex) => ex.executeTag("todo.rename.v1", { id: "missing", title: "x" }))
    assert.strictEqual(tagOf(error), "ActionFailed")
    assert.include((error as Error).message, "no todo missing")
    assert.instanceOf((error as { cause: unknown }).cause, Error)
    const after = await query<{ n: number }>("SELECT count(*)::int AS n FROM reprise.action_records")
    assert.strictEqual(after[0]?.n, before[0]?.n)
  })

  /** Verifies: R-ACT-2 */
  it("refuses a statement that escapes the action (TransactionClosed) and never runs it", async () => {
    await withExecutor(false, (ex) => ex.executeTag("todo.escaping.v1", { id: "escaped-1" }))
    const error = await failure(escaped!)
    assert.instanceOf(error, RepriseError)
    assert.strictEqual((error as RepriseError).tag, "TransactionClosed")
    assert.lengthOf(await query("SELECT 1 FROM todos WHERE id = 'escaped-1'"), 0)
  })

  /** Verifies: R-ACT-2 */
  it("fails an action that returns before its statements finish, writing nothing", async () => {
    const error = await failing(false, (ex) => ex.executeTag("todo.unawaited.v1", { id: "floating-1" }))
    assert.strictEqual(tagOf(error), "UnawaitedStatement")
    assert.lengthOf(await query("SELECT 1 FROM todos WHERE id = 'floating-1'"), 0)
    assert.lengthOf(await query("SELECT 1 FROM reprise.action_records WHERE tag = 'todo.unawaited.v1'"), 0)
  })

  /** Verifies: R-ACT-2, R-ACT-3 */
  it("fails with the statement's error when the code caught it, and tells a reused id key apart", async () => {
    const swallowed = await failing(false, (ex) => ex.executeTag("todo.swallowing.v1", { id: "sw-1" }))
    assert.strictEqual(tagOf(swallowed), "SqlError")
    assert.lengthOf(await query("SELECT 1 FROM todos WHERE id = 'sw-1'"), 0)
    const reused = await failing(false, (ex) => ex.executeTag("todo.reusedKey.v1", {}))
    assert.strictEqual(tagOf(reused), "DuplicateActionId")
    assert.strictEqual((reused as { key: string }).key, "same")
  })

  /** Verifies: R-ACT-4 */
  it("development mode passes a deterministic promise action and catches a nondeterministic one", async () => {
    const out = await withExecutor(true, (ex) => ex.executeTag("todo.create.v1", { title: "Twice", list: "l" }))
    const [row] = await query<{ n: number }>("SELECT count(*)::int AS n FROM todos WHERE title = 'Twice'")
    assert.strictEqual(row?.n, 1)
    assert.isString((out as { id: string }).id)
    const error = await failing(true, (ex) => ex.executeTag("todo.sloppy.v1", { title: "Sloppy" }))
    assert.strictEqual(tagOf(error), "NondeterministicAction")
    assert.include((error as Error).message, "lucky")
    assert.lengthOf(await query("SELECT 1 FROM todos WHERE title = 'Sloppy'"), 0)
  })
})

describe("PromiseAction replay", () => {
  const ServerDb = PgliteClient.layer({})
  let server: ManagedRuntime.ManagedRuntime<SyncService.SyncService | SqlClient.SqlClient, unknown>
  const replica = (userId: string) =>
    ManagedRuntime.make(
      SyncEngine.layer({}).pipe(
        Layer.provideMerge(ActionExecutor.layer({ userId })),
        Layer.provideMerge(Layer.merge(PgliteClient.layer({}), ActionRegistry.layer(actions))),
        Layer.provideMerge(InProcessTransport.layer(userId)),
        Layer.provide(Layer.effectContext(Effect.promise(() => server.runPromise(Effect.context<SyncService.SyncService>()))))
      )
    )
  let a: ReturnType<typeof replica>
  let b: ReturnType<typeof replica>
  beforeAll(async () => {
    server = ManagedRuntime.make(Layer.provideMerge(SyncService.layer({}), ServerDb))
    await server.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(TABLES)
      yield* Tracking.install(["todos"])
    }))
    a = replica("u1")
    b = replica("u1")
    await a.runPromise(setup)
    await b.runPromise(setup)
  })
  afterAll(async () => {
    await a.dispose()
    await b.dispose()
    await server.dispose()
  })

  const rows = (runtime: typeof a) =>
    runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM todos t ORDER BY id`, (rs) => rs.map((x) => x.r))))
  const sync = (runtime: typeof a) => runtime.runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))
  const run = (runtime: typeof a, tag: string, args: unknown) =>
    runtime.runPromise(Effect.flatMap(ActionExecutor.ActionExecutor, (ex) => ex.executeTag(tag, args)))

  /** Verifies: R-ACT-3, R-SYNC-2 */
  it("a replica replaying a promise action (received, or after a rollback) writes what its author wrote", async () => {
    // a's action is replayed by b when b receives it; b's earlier concurrent one makes a roll
    // its own back and replay it after b's.
    await run(b, "todo.create.v1", { title: "from b", list: "l" })
    await new Promise((resolve) => setTimeout(resolve, 3))
    await run(a, "todo.create.v1", { title: "from a", list: "l" })
    await run(a, "todo.createThree.v1", { prefix: "a" })
    const before = await rows(a)
    await sync(b)
    const report = await sync(a)
    assert.isAtLeast(report.replayed, 2, "a replayed its own actions after b's")
    await sync(b)
    const [onA, onB] = [await rows(a), await rows(b)]
    assert.deepStrictEqual(onA, onB)
    assert.lengthOf(onA, 5)
    // Every row a wrote before syncing (random number, time and id included) is still there, unchanged.
    for (const row of before) assert.include(onA, row)
  })
})
