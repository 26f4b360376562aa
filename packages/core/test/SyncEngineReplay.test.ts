/**
 * Replay of a fetched page: an action failing (its own rule, or a statement the database
 * refuses, which aborts the transaction and sends replay back to its last checkpoint to run the
 * failed action alone in a savepoint) has no effect while the actions after it still apply;
 * each replayed action's patches are its own, and every replayed record ends applied.
 * (The crafted page carries no known patches, so the replica also records a correction for the
 * server; that is not what this test looks at.)
 */
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import {
  Action,
  ActionExecutor,
  ActionRegistry,
  Hlc,
  SyncEngine,
  type SyncProtocol,
  SyncSchema,
  SyncTransport,
  Tracking
} from "../src/index.js"

const put = Action.make({
  tag: "note.put.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO notes (id, title) VALUES (${id}, ${title})`
    })
})

/** Writes a row, then a duplicate key: the database refuses the second statement. */
const putTwice = Action.make({
  tag: "note.putTwice.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO notes (id, title) VALUES (${id}, 'first')`
      yield* sql`INSERT INTO notes (id, title) VALUES (${id}, 'again')`
    })
})

/** Writes a row, then its own rule says no. */
const refuse = Action.make({
  tag: "note.refuse.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO notes (id, title) VALUES (${id}, 'refused')`
      return yield* Effect.fail("no" as const)
    })
})

const ids = [
  "00000000-0000-4000-8000-000000000001",
  "00000000-0000-4000-8000-000000000002",
  "00000000-0000-4000-8000-000000000003",
  "00000000-0000-4000-8000-000000000004",
  "00000000-0000-4000-8000-000000000005"
] as const

const other = Hlc.NodeId.make("other-client")
const wallMs = Date.now()
const remote = (i: number, tag: string, input: unknown): SyncProtocol.RemoteAction => ({
  id: ids[i]!,
  tag,
  args: { input, timestamp: wallMs },
  clientId: other,
  userId: "someone",
  hlc: new Hlc.Hlc({ wallMs, counter: i, nodeId: other }),
  kind: "action",
  patches: [],
  serverSeq: i + 1,
  fullView: true
})

const page: SyncProtocol.FetchResponse = {
  actions: [
    remote(0, put.tag, { id: "a", title: "A" }),
    remote(1, putTwice.tag, { id: "b" }),
    remote(2, put.tag, { id: "c", title: "C" }),
    remote(3, refuse.tag, { id: "d" }),
    remote(4, put.tag, { id: "e", title: "E" })
  ],
  next: 5,
  head: 5,
  hasMore: false,
  audiences: null
}

const Db = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE notes (id text PRIMARY KEY, title text, content text, user_id text, audience_key text)`
  yield* SyncSchema.install()
  yield* Tracking.install(["notes"])
})).pipe(Layer.provideMerge(PgliteClient.layer({})))

const replica = SyncEngine.layer().pipe(
  Layer.provideMerge(ActionExecutor.layer({ userId: "me" })),
  Layer.provide(Layer.succeed(SyncTransport.SyncTransport, {
    upload: () => Effect.die("no upload expected"),
    fetch: ({ since }) => Effect.succeed(since === 0 ? page : { actions: [], next: since, head: since, hasMore: false, audiences: null })
  })),
  Layer.provide(ActionRegistry.layer([put, putTwice, refuse])),
  Layer.provideMerge(Db)
)

/** Verifies: R-SYNC-1 */
it.live("replays failing actions without effect (undone, or rolled back to a checkpoint); later actions still apply", () =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    const report = yield* engine.pull
    assert.deepStrictEqual(
      { fetched: report.fetched, fastForwarded: report.fastForwarded, replayed: report.replayed },
      { fetched: 5, fastForwarded: 5, replayed: 5 }
    )
    const sql = yield* SqlClient.SqlClient
    const notes = yield* sql<{ id: string; title: string }>`SELECT id, title FROM notes ORDER BY id`
    assert.deepStrictEqual(notes.map((n) => `${n.id}:${n.title}`), ["a:A", "c:C", "e:E"])
    const records = yield* sql<{ id: string; applied: boolean; patches: number }>`
      SELECT r.id::text AS id, r.applied,
        (SELECT count(*)::int FROM reprise.action_patches p WHERE p.action_id = r.id) AS patches
      FROM reprise.action_records r WHERE r.id = ANY (${[...ids]}::uuid[]) ORDER BY r.hlc`
    assert.deepStrictEqual(records.map((r) => [r.id, r.applied, r.patches]), [
      [ids[0], true, 1],
      [ids[1], true, 0],
      [ids[2], true, 1],
      [ids[3], true, 0],
      [ids[4], true, 1]
    ])
    const patches = yield* sql<{ action: string; seq: number; row: string }>`
      SELECT action_id::text AS action, seq, row_id AS row FROM reprise.action_patches
      WHERE action_id = ANY (${[...ids]}::uuid[]) ORDER BY row_id`
    assert.deepStrictEqual(patches.map((p) => [p.action, p.seq, p.row]), [[ids[0], 1, "a"], [ids[2], 1, "c"], [ids[4], 1, "e"]])
    // The transaction committed with its savepoints released: a new write outside an action is
    // refused (no action id was left behind), and the connection is usable.
    const outside = yield* Effect.flip(sql`INSERT INTO notes (id, title) VALUES ('x', 'X')`)
    assert.include(outside.message, "outside an action")
  }).pipe(Effect.provide(replica)))

/** A tracer that keeps every span it starts, over the tracer in use. */
const recordingTracer = Effect.map(Effect.tracer, (base) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = base.span(...args)
      spans.push(span)
      return span
    },
    context: (f, fiber) => base.context(f, fiber)
  })
  return { spans, tracer }
})

/** Verifies: R-SYNC-1 */
it.live("traces a pull: its page, plan and replay in spans carrying the report's counts", () =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    const { spans, tracer } = yield* recordingTracer
    const report = yield* Effect.withTracer(engine.pull, tracer)
    const named = (name: string) => spans.filter((span) => span.name === name)
    const [pull] = named("SyncEngine.pull")
    const pages = named("SyncEngine.applyPage")
    const [replay] = named("SyncEngine.replay")
    assert.isDefined(pull)
    assert.isDefined(replay)
    assert.strictEqual(pull!.status._tag, "Ended")
    assert.strictEqual(pull!.attributes.get("reprise.sync.fetched"), report.fetched)
    assert.strictEqual(pull!.attributes.get("reprise.sync.replayed"), 5)
    assert.strictEqual(pull!.attributes.get("reprise.sync.corrections"), report.corrections)
    // One page, with the five actions after everything applied: a fast-forward.
    assert.deepStrictEqual(
      pages.map((page) => [page.attributes.get("reprise.sync.fetched"), page.attributes.get("reprise.sync.plan")]),
      [[5, "FastForward"]]
    )
    assert.strictEqual(replay!.attributes.get("reprise.sync.actions"), 5)
    // replay, inside the page's transaction, inside the page, inside the pull
    const ancestors: Array<string> = []
    for (let span = Option.getOrUndefined(replay!.parent); span?._tag === "Span"; span = Option.getOrUndefined(span.parent)) {
      ancestors.push(span.name)
    }
    assert.deepStrictEqual(ancestors.slice(0, 3), ["sql.transaction", "SyncEngine.applyPage", "SyncEngine.pull"])
    assert.strictEqual(Option.getOrUndefined(pages[0]!.parent), pull)
  }).pipe(Effect.provide(replica)))
