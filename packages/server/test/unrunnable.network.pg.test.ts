/**
 * One client must never stop another's sync (R-SRV-7), over the network: a client uploads, over
 * loopback HTTP to a `SyncRpcServer` on real Postgres, well-formed actions no replica can run
 * (an unknown tag, and input the app's Schema refuses). The server stores them (it never runs
 * app code); two honest replicas, one over HTTP and one over WebSocket, take their effects from
 * the server (`SyncReport.unrunnable`), keep acting and syncing, and converge with each other and
 * with the server's tables.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import {
  Action,
  ActionExecutor,
  ActionIds,
  ActionRegistry,
  Hlc,
  RpcTransport,
  SyncEngine,
  type SyncProtocol,
  Tracking
} from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { SyncCodec, SyncRpcServer, SyncService } from "../src/index.js"
import { type Kind, serverLayer, transport } from "./networkWorld.js"

const tableSql = `CREATE TABLE IF NOT EXISTS unrunnable_notes (
  id text PRIMARY KEY, title text NOT NULL, n integer NOT NULL DEFAULT 0, audience_key text)`

const createNote = Action.make({
  tag: "note.create.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO unrunnable_notes (id, title) VALUES (${id}, ${title})`
      return id
    })
})

const bumpAll = Action.make({
  tag: "note.bump-all.v1",
  args: Schema.Struct({}),
  run: () => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE unrunnable_notes SET n = n + 1`)
})

const actions = [createNote, bumpAll]

const server = serverLayer().pipe(
  Layer.provideMerge(Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(tableSql)
    yield* Tracking.install(["unrunnable_notes"])
  }))),
  Layer.provideMerge(SyncService.layer()),
  Layer.provideMerge(PgFixture.layer())
)

const notesOf = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM unrunnable_notes t ORDER BY id`, (rows) => rows.map((x) => x.r))

layer(server, { excludeTestServices: true, timeout: "180 seconds" })(`unrunnable remote actions over the network, server on PostgreSQL ${PgFixture.serverVersion()}`, (it) => {
  /** Verifies: R-SRV-7, R-SYNC-1 */
  it.effect("an unknown tag and refused input uploaded over HTTP stop nobody: honest replicas over HTTP and WebSocket converge", () =>
    Effect.scoped(Effect.gen(function*() {
      const address = yield* SyncRpcServer.Address
      const serverSql = yield* SqlClient.SqlClient

      const replica = (userId: string, kind: Kind) =>
        Effect.gen(function*() {
          const database = yield* Layer.build(PgliteClient.layer({}))
          yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(tableSql)), database)
          const base = Layer.merge(Layer.succeedContext(database), ActionRegistry.layer(actions))
          const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
          const built = yield* Layer.build(
            Layer.provideMerge(SyncEngine.layer({ backoff: "1 millis" }), Layer.merge(executor, transport(kind, address, userId)))
          )
          yield* Effect.provide(Tracking.install(["unrunnable_notes"]), built)
          return built
        })
      const sync = (context: Context.Context<SyncEngine.SyncEngine>) =>
        Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync), context)
      const notes = (context: Context.Context<SqlClient.SqlClient>) => Effect.provide(Effect.flatMap(SqlClient.SqlClient, notesOf), context)

      const ana = yield* replica("ana", "http")
      const ben = yield* replica("ben", "websocket")
      const a = yield* Effect.provide(ActionExecutor.execute(createNote, { title: "a" }), ana)
      yield* sync(ana)
      yield* sync(ben)

      // The hostile client, over HTTP: well-formed uploads of actions no replica can run.
      const mal = Context.get(yield* Layer.build(transport("http", address, "mal")), RpcTransport.RpcTransport)
      const clientId = "mal-client"
      const wallMs = Date.now()
      const patch = (op: "INSERT" | "UPDATE", rowId: string, forward: object, reverse: object | null): typeof SyncProtocol.PatchWire.Encoded => ({
        seq: 1,
        schema: "public",
        table: "unrunnable_notes",
        rowId,
        op,
        forward: JSON.stringify(forward),
        reverse: reverse === null ? null : JSON.stringify(reverse),
        audienceKey: null
      })
      const raw = {
        clientId,
        basis: yield* mal.head(),
        actions: [
          { tag: "nope.v1", input: { anything: true }, patches: [patch("INSERT", "mal-1", { id: "mal-1", title: "junk", n: 0, audience_key: null }, null)] },
          { tag: createNote.tag, input: {}, patches: [patch("UPDATE", a, { title: "hijacked" }, { title: "a" })] }
        ].map((action, i) => ({
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
      const accepted = yield* mal.upload(yield* SyncCodec.decodeUploadRequest(raw))
      assert.strictEqual(accepted.accepted.length, 2)

      // Honest replicas keep acting and syncing.
      yield* Effect.provide(ActionExecutor.execute(bumpAll, {}), ben)
      const benReport = yield* sync(ben)
      assert.strictEqual(benReport.unrunnable, 2)
      assert.strictEqual(benReport.uploaded, 1)
      yield* Effect.provide(ActionExecutor.execute(createNote, { title: "c" }), ana)
      const anaReport = yield* sync(ana)
      assert.strictEqual(anaReport.unrunnable, 2)
      for (let round = 0; round < 3; round++) {
        yield* sync(ana)
        yield* sync(ben)
      }
      const expected = yield* notesOf(serverSql)
      assert.strictEqual(expected.length, 3)
      assert.include(expected.join("\n"), `(${a},hijacked,1,)`)
      assert.include(expected.join("\n"), "(mal-1,junk,1,)")
      assert.deepStrictEqual(yield* notes(ana), expected)
      assert.deepStrictEqual(yield* notes(ben), expected)
    })))
})
