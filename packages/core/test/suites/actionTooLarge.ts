/**
 * The executor refuses an action the server would refuse for size (R-SRV-7): args over
 * `SyncProtocol.Limits.maxArgsChars` or nested deeper than `maxJsonDepth`, and a captured patch
 * whose row image, row id or audience key is over its limit, fail with `ActionTooLarge` in the
 * action's transaction, so nothing commits (no record, no row, no patch); an action right at a
 * limit runs, and its row images pass the server's own check (`SyncProtocol.rowImageProblem`).
 */
import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Action, ActionExecutor, ActionRegistry, SyncProtocol, Tracking } from "../../src/index.js"

const L = SyncProtocol.Limits

const nested = (depth: number): unknown => {
  let value: unknown = []
  for (let i = 1; i < depth; i++) value = [value]
  return value
}

/** Writes one note with the given fields. */
const put = Action.make({
  tag: "note.put.v1",
  args: Schema.Struct({
    id: Schema.String,
    title: Schema.String,
    doc: Schema.optional(Schema.Unknown),
    audience: Schema.optional(Schema.String)
  }),
  run: ({ audience, doc, id, title }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`INSERT INTO notes (id, title, doc, audience_key)
          VALUES (${id}, ${title}, ${doc === undefined ? null : JSON.stringify(doc)}::jsonb, ${audience ?? null})`)
})

/** Sets a note's title to `length` characters (an UPDATE, from small args). */
const stretch = Action.make({
  tag: "note.stretch.v1",
  args: Schema.Struct({ id: Schema.String, length: Schema.Number }),
  run: ({ id, length }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE notes SET title = repeat('s', ${length}) WHERE id = ${id}`)
})

/** Writes a note whose doc nests `depth` levels of arrays, from small args. */
const deepen = Action.make({
  tag: "note.deepen.v1",
  args: Schema.Struct({ id: Schema.String, depth: Schema.Number }),
  run: ({ depth, id }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`INSERT INTO notes (id, title, doc) VALUES (${id}, 'deep', ${JSON.stringify(nested(depth))}::jsonb)`)
})

/** Carries anything as args, writing nothing. */
const carry = Action.make({
  tag: "note.carry.v1",
  args: Schema.Struct({ payload: Schema.Unknown }),
  run: () => Effect.void
})

const executors = (devMode: boolean, driver: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  Layer.effectDiscard(Tracking.install(["notes"])).pipe(
    Layer.provideMerge(ActionExecutor.layer({ userId: "me", devMode })),
    Layer.provideMerge(ActionRegistry.layer([put, stretch, deepen, carry])),
    Layer.provideMerge(Layer.effectDiscard(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, title text NOT NULL, doc jsonb, audience_key text)`
    }))),
    Layer.provideMerge(driver)
  )


/** What the database holds of actions and notes: nothing may be added by a refused action. */
const counts = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ records: number; patches: number; notes: number }>`
      SELECT (SELECT count(*)::int FROM reprise.action_records) AS records,
             (SELECT count(*)::int FROM reprise.action_patches) AS patches,
             (SELECT count(*)::int FROM notes) AS notes`,
    ([row]) => row!
  ))

/** The action fails with `ActionTooLarge` and leaves the database as it was. */
const refused = <A, I, Out, E>(action: Action.Action<string, A, I, Out, E, Action.Provided>, args: A) =>
  Effect.gen(function*() {
    const before = yield* counts
    const error = yield* Effect.flip(ActionExecutor.execute(action, args))
    assert.deepStrictEqual(yield* counts, before)
    if (!(error instanceof ActionExecutor.ActionTooLarge)) return assert.fail(`expected ActionTooLarge, got ${String(error)}`)
    assert.strictEqual(error.tag, action.tag)
    assert.include(error.message, "Nothing was written")
    assert.include(error.message, "Keep big values out of synced rows")
    return error
  })

/** A note's captured row images as the server gets them (`forward::text`, `reverse::text`). */
const imagesOf = (id: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ forward: string | null; reverse: string | null }>`
      SELECT forward::text AS forward, reverse::text AS reverse FROM reprise.action_patches WHERE row_id = ${id} ORDER BY action_id, seq`)

/** The title that makes the note's INSERT image (`{"id": ..., "title": ..., ...}`) exactly `chars` long. */
const titleFor = (id: string, chars: number) => {
  const empty = JSON.stringify({ id, doc: null, title: "", audience_key: null }).length
  // jsonb::text puts a space after each of the 4 colons and 3 commas.
  return "t".repeat(chars - empty - 7)
}

/**
 * Registers the tests on `database` (`name` in the title): on PGlite in `ActionTooLarge.test.ts`, on Postgres
 * in `ActionTooLarge.pg.test.ts` (on both, the capture trigger checks each patch as it writes
 * it). `fresh` gives a fresh database for the development-mode group.
 */
export const actionTooLargeTests = (name: string, database: () => Layer.Layer<SqlClient.SqlClient, unknown>) =>
describe(`ActionExecutor refuses what the server would refuse for size (R-SRV-7), ${name}`, () => {
  layer(executors(false, database()), { excludeTestServices: true })((it) => {
    /** Verifies: R-SRV-7, R-ACT-2 */
    it.effect("args over maxArgsChars or nested deeper than maxJsonDepth", () =>
      Effect.gen(function*() {
        const long = yield* refused(carry, { payload: "x".repeat(L.maxArgsChars) })
        assert.strictEqual(long.what, "args")
        assert.strictEqual(long.limit, L.maxArgsChars)
        assert.isAbove(long.size, L.maxArgsChars)
        assert.isNull(long.table)
        // The payload is level 2 of the input: 63 levels of arrays make 64, the limit.
        yield* ActionExecutor.execute(carry, { payload: nested(L.maxJsonDepth - 1) })
        const deep = yield* refused(carry, { payload: nested(L.maxJsonDepth) })
        assert.deepStrictEqual([deep.what, deep.limit, deep.size], ["args depth", L.maxJsonDepth, L.maxJsonDepth + 1])
        // What the executor accepts, the server's check accepts too.
        assert.isUndefined(SyncProtocol.jsonValueProblem({ payload: nested(L.maxJsonDepth - 1) }))
        assert.isDefined(SyncProtocol.jsonValueProblem({ payload: nested(L.maxJsonDepth) }))
      }))

    /** Verifies: R-SRV-7, R-ACT-2 */
    it.effect("a row image at the size limit runs; one character more is refused, nothing written", () =>
      Effect.gen(function*() {
        yield* ActionExecutor.execute(put, { id: "at-limit", title: titleFor("at-limit", L.maxRowImageChars) })
        const [image] = yield* imagesOf("at-limit")
        assert.strictEqual(image?.forward?.length, L.maxRowImageChars)
        assert.isUndefined(SyncProtocol.rowImageProblem(image!.forward!))
        const over = yield* refused(put, { id: "over", title: titleFor("over", L.maxRowImageChars + 1) })
        assert.deepStrictEqual(
          [over.what, over.limit, over.size, over.table, over.rowId],
          ["forward row image", L.maxRowImageChars, L.maxRowImageChars + 1, "public.notes", "over"]
        )
        assert.isDefined(SyncProtocol.rowImageProblem(`{"id": "over", "doc": null, "title": "${titleFor("over", L.maxRowImageChars + 1)}", "audience_key": null}`))
        // An update's patch carries the changed columns: a big new title is refused too.
        yield* ActionExecutor.execute(put, { id: "small", title: "s" })
        const update = yield* refused(stretch, { id: "small", length: L.maxRowImageChars })
        assert.deepStrictEqual([update.what, update.rowId], ["forward row image", "small"])
      }))

    /** Verifies: R-SRV-7, R-ACT-2 */
    it.effect("a row image nested deeper than maxJsonDepth, a row id or an audience key over its limit", () =>
      Effect.gen(function*() {
        // The image is level 1 and the column's value level 2: 63 levels in the column make 64.
        yield* ActionExecutor.execute(deepen, { id: "deep-ok", depth: L.maxJsonDepth - 1 })
        const [image] = yield* imagesOf("deep-ok")
        assert.isUndefined(SyncProtocol.rowImageProblem(image!.forward!))
        const deep = yield* refused(deepen, { id: "deep", depth: L.maxJsonDepth })
        assert.deepStrictEqual([deep.what, deep.limit, deep.table], ["forward row image depth", L.maxJsonDepth, "public.notes"])
        // Brackets inside strings are not nesting.
        yield* ActionExecutor.execute(put, { id: "brackets", title: "[{".repeat(200) })
        const id = yield* refused(put, { id: "i".repeat(L.maxRowIdChars + 1), title: "t" })
        assert.deepStrictEqual([id.what, id.limit, id.size], ["row id", L.maxRowIdChars, L.maxRowIdChars + 1])
        const audience = yield* refused(put, { id: "aud", title: "t", audience: "a".repeat(L.maxAudienceKeyChars + 1) })
        assert.deepStrictEqual([audience.what, audience.size], ["audience key", L.maxAudienceKeyChars + 1])
        yield* ActionExecutor.execute(put, { id: "aud", title: "t", audience: "a".repeat(L.maxAudienceKeyChars) })
      }))

    /** Verifies: R-SRV-7, R-ACT-2 */
    it.effect("inside a caller's transaction the error is the same and the caller's transaction rolls back", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const before = yield* counts
        const error = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
          yield* ActionExecutor.execute(put, { id: "first", title: "ok" })
          yield* ActionExecutor.execute(put, { id: "second", title: titleFor("second", L.maxRowImageChars + 1) })
        })))
        assert.strictEqual(error._tag, "ActionTooLarge")
        assert.deepStrictEqual(yield* counts, before)
      }))
  })

  layer(executors(true, database()), { excludeTestServices: true })("in development mode", (it) => {
    /** Verifies: R-SRV-7, R-ACT-4 */
    it.effect("the action runs twice, then is refused the same way", () =>
      Effect.gen(function*() {
        yield* ActionExecutor.execute(put, { id: "fits", title: "t".repeat(1000) })
        const over = yield* refused(put, { id: "over", title: titleFor("over", L.maxRowImageChars + 1) })
        assert.strictEqual(over.what, "forward row image")
      }))
  })
})
