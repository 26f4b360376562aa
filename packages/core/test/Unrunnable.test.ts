/**
 * Remote records this replica cannot run (R-SRV-7): the server stores any well-formed upload
 * without running app code, so a record may carry a tag the app does not register (a newer app
 * version, or a hostile client) or input its Schema refuses. Such a record must not stop anyone's
 * sync: its effects are taken from the server's patches, it is counted in
 * `SyncReport.unrunnable`, and honest replicas keep acting, syncing and converging with each
 * other and the server, through fast-forward, reconcile and a late arrival that rolls it back.
 * A replica of a newer app version that knows the tag replays it normally; an upgraded replica
 * does from its next replay on. Real PGlite replicas and an in-process `SyncService` on PGlite.
 */
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
// The in-process server (core cannot depend on @reprise/server, which depends on it).
import { InProcessTransport, SyncCodec, SyncService } from "../../server/src/index.js"
import {
  Action,
  ActionExecutor,
  ActionIds,
  ActionRegistry,
  Hlc,
  SyncEngine,
  type SyncProtocol,
  SyncTransport,
  Tracking
} from "../src/index.js"

const tableSql = `CREATE TABLE IF NOT EXISTS notes (
  id text PRIMARY KEY, title text NOT NULL, n integer NOT NULL DEFAULT 0, pinned boolean NOT NULL DEFAULT false,
  audience_key text)`

const createNote = Action.make({
  tag: "note.create.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO notes (id, title, audience_key) VALUES (${id}, ${title}, 'team')`
      return id
    })
})

const renameNote = Action.make({
  tag: "note.rename.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE notes SET title = ${title} WHERE id = ${id}`)
})

/** Read-then-write on every row: replicas must agree on order and on every row's value. */
const bumpAll = Action.make({
  tag: "note.bump-all.v1",
  args: Schema.Struct({}),
  run: () => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE notes SET n = n + 1`)
})

/** Only the newer app version has it. */
const pinNote = Action.make({
  tag: "note.pin.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE notes SET pinned = true, n = n + 10 WHERE id = ${id}`)
})

const oldApp = [createNote, renameNote, bumpAll]
const newApp = [...oldApp, pinNote]

interface Server {
  readonly sql: SqlClient.SqlClient
  readonly sync: SyncService.SyncServiceShape
  readonly encodedFetch: SyncCodec.EncodedFetchShape
}

/** An in-process server on its own PGlite; every user sees the audience `team`. */
const startServer: Effect.Effect<Server, unknown, Scope.Scope> = Effect.gen(function*() {
  const database = yield* Layer.build(PgliteClient.layer({}))
  const built = yield* Layer.build(
    SyncService.layer({ audiences: () => Effect.succeed(["team"]) }).pipe(Layer.provide(Layer.succeedContext(database)))
  )
  const sql = Context.get(database, SqlClient.SqlClient)
  yield* sql.unsafe(tableSql)
  yield* Effect.provide(Tracking.install(["notes"]), database)
  return { sql, sync: Context.get(built, SyncService.SyncService), encodedFetch: Context.get(built, SyncCodec.EncodedFetch) }
})

type ReplicaContext = Context.Context<
  SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient | SyncTransport.SyncTransport
>

interface Replica {
  readonly context: ReplicaContext
  /** Its database, to start the same replica again with another app version. */
  readonly database: Context.Context<SqlClient.SqlClient>
}

/** A replica of `userId` running the app `actions`, on `database` (a fresh PGlite by default). */
const startReplica = (
  server: Server,
  userId: string,
  actions: ReadonlyArray<Action.Any>,
  existing?: Context.Context<SqlClient.SqlClient>,
  pageSize?: number
): Effect.Effect<Replica, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const database = existing ?? (yield* Layer.build(PgliteClient.layer({})))
    yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(tableSql)), database)
    const transport = Layer.succeed(
      SyncTransport.SyncTransport,
      InProcessTransport.fromServer(userId, server.sync, server.encodedFetch)
    )
    const base = Layer.merge(Layer.succeedContext(database), ActionRegistry.layer(actions))
    const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
    const context = yield* Layer.build(
      Layer.provideMerge(SyncEngine.layer({ backoff: "1 millis", ...(pageSize === undefined ? {} : { pageSize }) }), Layer.merge(executor, transport))
    )
    if (existing === undefined) yield* Effect.provide(Tracking.install(["notes"]), context)
    return { context, database }
  })

const sync = (replica: Replica) => Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync), replica.context)

const run = <A, I, Out, E>(replica: Replica, action: Action.Action<string, A, I, Out, E, Action.Provided>, args: A) =>
  Effect.provide(ActionExecutor.execute(action, args), replica.context)

const notesOf = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM notes t ORDER BY id`, (rows) => rows.map((x) => x.r))

const replicaNotes = (replica: Replica) => Effect.provide(Effect.flatMap(SqlClient.SqlClient, notesOf), replica.context)

const pendingOf = (replica: Replica) =>
  Effect.provide(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise.action_records WHERE NOT synced AND kind <> 'adoption'`, ([row]) => row?.n)),
    replica.context
  )

/** Syncs every replica, round after round, until a round fetches and uploads nothing. */
const settle = (replicas: ReadonlyArray<Replica>) =>
  Effect.gen(function*() {
    const total = { unrunnable: 0, corrections: 0 }
    for (let round = 0; round < 10; round++) {
      let moved = 0
      for (const replica of replicas) {
        const report = yield* sync(replica)
        moved += report.fetched + report.uploaded
        total.unrunnable += report.unrunnable
        total.corrections += report.corrections
      }
      if (moved === 0) return total
    }
    return assert.fail("replicas did not settle in 10 rounds")
  })

/** Every replica holds exactly the server's rows, and nothing is left pending. */
const assertConverged = (server: Server, replicas: ReadonlyArray<Replica>) =>
  Effect.gen(function*() {
    const expected = yield* notesOf(server.sql)
    for (const replica of replicas) {
      assert.deepStrictEqual(yield* replicaNotes(replica), expected)
      assert.strictEqual(yield* pendingOf(replica), 0)
    }
    return expected
  })

type PatchWire = typeof SyncProtocol.PatchWire.Encoded

/**
 * A hostile (or merely newer) client's upload, as raw JSON through the codec a transport runs:
 * one action per entry, each stamped `wallMs` (counter `i`), on the server's current head.
 */
const upload = (
  server: Server,
  wallMs: number,
  actions: ReadonlyArray<{ readonly tag: string; readonly input: unknown; readonly patches: ReadonlyArray<PatchWire> }>
) =>
  Effect.gen(function*() {
    const basis = yield* server.sync.head("mal")
    const clientId = "mal-client"
    const raw = {
      clientId,
      basis,
      actions: actions.map((action, i) => ({
        id: crypto.randomUUID(),
        tag: action.tag,
        args: { input: action.input, timestamp: wallMs },
        clientId,
        userId: "mal",
        hlc: Hlc.encode(new Hlc.Hlc({ wallMs, counter: i, nodeId: Hlc.NodeId.make(clientId) })),
        kind: "action",
        patches: action.patches
      }))
    }
    const response = yield* server.sync.upload("mal", yield* SyncCodec.decodeUploadRequest(raw))
    return response.accepted.map((a) => a.id)
  })

const insertPatch = (rowId: string, title: string): PatchWire => ({
  seq: 1,
  schema: "public",
  table: "notes",
  rowId,
  op: "INSERT",
  forward: JSON.stringify({ id: rowId, title, n: 0, pinned: false, audience_key: "team" }),
  reverse: null,
  audienceKey: "team"
})

const titlePatch = (rowId: string, from: string, to: string): PatchWire => ({
  seq: 1,
  schema: "public",
  table: "notes",
  rowId,
  op: "UPDATE",
  forward: JSON.stringify({ title: to }),
  reverse: JSON.stringify({ title: from }),
  audienceKey: "team"
})

/** The server's correction records that restate one of `ids`. */
const correctionsRestating = (server: Server, ids: ReadonlyArray<string>) =>
  Effect.map(
    server.sql<{ n: number }>`
      SELECT count(*)::int AS n FROM reprise_server.actions
      WHERE kind = 'correction' AND args -> 'input' -> 'restates' ?| ${ids}::text[]`,
    ([row]) => row?.n
  )

const authorityOf = (replica: Replica, id: string) =>
  Effect.provide(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ a: boolean }>`SELECT authoritative AS a FROM reprise.action_records WHERE id = ${id}::uuid`, ([row]) => row?.a)),
    replica.context
  )

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("remote records a replica cannot run (R-SRV-7)", () => {
  /** Verifies: R-SRV-7, R-SYNC-1, R-SYNC-2, R-SYNC-4 */
  it.live("an unknown tag and refused input are taken from the server: honest replicas keep syncing and converge", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer
      const ana = yield* startReplica(server, "ana", oldApp)
      const ben = yield* startReplica(server, "ben", oldApp)

      const a = yield* run(ana, createNote, { title: "a" })
      yield* sync(ana)
      yield* sync(ben)
      const created = Date.now()
      yield* sleep(30)
      // Ben acts offline: the hostile records land before his pending rename (a reconcile).
      yield* run(ben, renameNote, { id: a, title: "b1" })

      // Well-formed, so the server stores them; no replica can run either.
      const hostile = yield* upload(server, created + 10, [
        { tag: "nope.v1", input: { anything: [1, 2] }, patches: [insertPatch("mal-1", "junk")] },
        { tag: createNote.tag, input: {}, patches: [titlePatch(a, "a", "hijacked")] }
      ])

      // Fast-forward: taken from the server.
      const anaReport = yield* sync(ana)
      assert.strictEqual(anaReport.unrunnable, 2)
      assert.strictEqual(anaReport.fastForwarded, 2)
      assert.deepStrictEqual(yield* replicaNotes(ana), yield* notesOf(server.sql))
      assert.include((yield* replicaNotes(ana)).join("\n"), "hijacked")
      for (const id of hostile) assert.isFalse(yield* authorityOf(ana, id))

      // Reconcile: Ben's pending rename is rolled back, the hostile records are taken from the
      // server, the rename replays after them, and it uploads.
      const benReport = yield* sync(ben)
      assert.strictEqual(benReport.unrunnable, 2)
      assert.strictEqual(benReport.reconciled, 1)
      assert.strictEqual(benReport.uploaded, 1)

      // Honest replicas keep acting and syncing.
      yield* run(ana, bumpAll, {})
      yield* run(ben, createNote, { title: "c" })
      const first = yield* settle([ana, ben])
      const rows = yield* assertConverged(server, [ana, ben])
      assert.strictEqual(rows.length, 3)
      assert.include(rows.join("\n"), `(${a},b1,1,f,team)`)
      assert.include(rows.join("\n"), "(mal-1,junk,1,f,team)")

      // A late arrival before the hostile records: every replica rolls them back (their
      // captured patches restore what was there) and takes them from the server again.
      yield* upload(server, created + 5, [{ tag: renameNote.tag, input: { id: a, title: "late" }, patches: [titlePatch(a, "a", "late")] }])
      const late = yield* sync(ana)
      assert.strictEqual(late.reconciled, 1)
      assert.strictEqual(late.unrunnable, 2)
      yield* run(ben, bumpAll, {})
      const second = yield* settle([ana, ben])
      const after = yield* assertConverged(server, [ana, ben])
      assert.include(after.join("\n"), `(${a},b1,2,f,team)`)

      // A replica never corrects an action it could not run.
      assert.strictEqual(yield* correctionsRestating(server, hostile), 0)
      assert.strictEqual(first.corrections + second.corrections + anaReport.corrections + benReport.corrections, 0)

      // A fresh replica catching up takes them from the server too, over pages of one action.
      const cy = yield* startReplica(server, "cy", oldApp, undefined, 1)
      const catchUp = yield* sync(cy)
      // Counted per replay: the late arrival's page reconciles, taking both again.
      assert.strictEqual(catchUp.unrunnable, 4)
      yield* assertConverged(server, [ana, ben, cy])
      // Replaying its whole log again captures the same rows.
      const again = yield* Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.replayAll), cy.context)
      assert.strictEqual(again.unrunnable, 2)
      assert.strictEqual(again.corrections, 0)
      yield* assertConverged(server, [cy])
    })), 120_000)

  /** Verifies: R-SRV-7, R-ACT-1, R-SYNC-1, R-SYNC-2 */
  it.live("a newer app version's action: older replicas take it from the server, newer and upgraded ones replay it", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer
      const ana = yield* startReplica(server, "ana", oldApp)
      const cy = yield* startReplica(server, "cy", newApp)

      const a = yield* run(ana, createNote, { title: "a" })
      yield* settle([ana, cy])
      yield* run(cy, pinNote, { id: a })
      const [pinned] = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.map(sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records WHERE tag = 'note.pin.v1'`, (rows) => rows.map((r) => r.id))),
        cy.context
      )
      yield* sync(cy)
      const anaReport = yield* sync(ana)
      assert.strictEqual(anaReport.unrunnable, 1)
      assert.include((yield* replicaNotes(ana)).join("\n"), `(${a},a,10,t,team)`)
      assert.isFalse(yield* authorityOf(ana, pinned!))

      // The older replica keeps acting on the pinned note.
      yield* run(ana, renameNote, { id: a, title: "renamed" })
      yield* run(ana, bumpAll, {})
      const counted = yield* settle([ana, cy])
      assert.strictEqual(counted.corrections, 0)
      yield* assertConverged(server, [ana, cy])

      // A fresh replica of the newer version replays it: nothing unrunnable.
      const dee = yield* startReplica(server, "dee", newApp)
      assert.strictEqual((yield* sync(dee)).unrunnable, 0)
      yield* assertConverged(server, [dee])

      // Ana upgrades (the same database, the newer app): from its next replay on it runs the
      // action, and its replay stands again.
      const upgraded = yield* startReplica(server, "ana", newApp, ana.database)
      const replayed = yield* Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.replayAll), upgraded.context)
      assert.strictEqual(replayed.unrunnable, 0)
      assert.strictEqual(replayed.corrections, 0)
      assert.isTrue(yield* authorityOf(upgraded, pinned!))
      yield* run(upgraded, pinNote, { id: a })
      yield* settle([upgraded, cy, dee])
      yield* assertConverged(server, [upgraded, cy, dee])

      // A pending action of this replica whose tag the app no longer registers (Dee goes back
      // to the older version): the server has no image of it to take, so it is not silently
      // dropped: the replay fails with the typed error and changes nothing.
      yield* run(dee, pinNote, { id: a })
      const before = yield* replicaNotes(dee)
      const downgraded = yield* startReplica(server, "dee", oldApp, dee.database)
      const error = yield* Effect.flip(
        Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.replayAll), downgraded.context)
      )
      assert.strictEqual(error._tag, "UnknownActionTag")
      assert.include(error.message, "note.pin.v1")
      assert.deepStrictEqual(yield* replicaNotes(downgraded), before)
      assert.strictEqual(yield* pendingOf(downgraded), 1)
    })), 120_000)
})
