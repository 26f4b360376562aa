/**
 * The pieces the hostile-client tests are built from: a small notes app, a server on the
 * database in context with the app's table, honest replicas (real `SyncEngine`s on their own
 * PGlite, syncing through the in-process transport) and a hostile client that sends raw bodies
 * through the same decoding a transport runs (`SyncCodec`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type {
  SyncProtocol} from "@reprise/core";
import {
  Action,
  ActionExecutor,
  ActionIds,
  ActionRegistry,
  Hlc,
  SyncEngine,
  type SyncServer,
  SyncTransport,
  Tracking
} from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { InProcessTransport, SyncCodec, SyncService } from "../src/index.js"

/** The app's one table: its name is fixed, as the actions' code names it. */
export const NOTES = "hostile_notes"

/** SQL creating the app's table (idempotent). */
export const tableSql = `CREATE TABLE IF NOT EXISTS ${NOTES} (
  id text PRIMARY KEY, title text NOT NULL, doc jsonb, n integer NOT NULL DEFAULT 0, audience_key text)`

/** Creates a note whose id comes from the action. */
export const createNote = Action.make({
  tag: "note.create.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO ${sql(NOTES)} ${sql.insert({ id, title })}`
      return id
    })
})

/** Renames a note. */
export const renameNote = Action.make({
  tag: "note.rename.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE ${sql(NOTES)} SET title = ${title} WHERE id = ${id}`)
})

/** Increments every note's counter: read-then-write on every row, so replicas must agree on order. */
export const bumpAll = Action.make({
  tag: "note.bump-all.v1",
  args: Schema.Struct({}),
  run: () => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE ${sql(NOTES)} SET n = n + 1`)
})

const actions = [createNote, renameNote, bumpAll]

/** A started server: its database, the service and its fetch fast path. */
export interface Server {
  readonly sql: SqlClient.SqlClient
  readonly sync: SyncService.SyncServiceShape
  readonly encodedFetch: SyncCodec.EncodedFetchShape
}

/** The server: the service and its fetch fast path on the database in context, with the app's table tracked. */
export const startServer = (
  options: SyncService.Options = {}
): Effect.Effect<Server, unknown, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const built = yield* Layer.build(SyncService.layer(options))
    yield* sql.unsafe(tableSql)
    yield* Tracking.install([NOTES])
    return {
      sql,
      sync: Context.get(built, SyncService.SyncService),
      encodedFetch: Context.get(built, SyncCodec.EncodedFetch)
    }
  })

/** What a replica offers a test: its engine, executor and database, as a context to provide. */
export type ReplicaContext = Context.Context<
  SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient | SyncTransport.SyncTransport
>

/** An honest replica signed in as `userId`, on a fresh PGlite, syncing with `server` in-process. */
export const startReplica = (
  server: Server,
  userId: string
): Effect.Effect<ReplicaContext, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const database = yield* Layer.build(PgliteClient.layer({}))
    yield* Effect.provide(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(tableSql)),
      database
    )
    const transport = Layer.succeed(
      SyncTransport.SyncTransport,
      InProcessTransport.fromServer(userId, server.sync, server.encodedFetch)
    )
    const base = Layer.merge(Layer.succeedContext(database), ActionRegistry.layer(actions))
    const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
    const built = yield* Layer.build(
      Layer.provideMerge(SyncEngine.layer({ backoff: "1 millis" }), Layer.merge(executor, transport))
    )
    yield* Effect.provide(Tracking.install([NOTES]), built)
    return built
  })

/** Runs a replica's full sync. */
export const syncReplica = (replica: ReplicaContext) =>
  Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync), replica)

/** Executes an action on a replica. */
export const run = <A, I, Out, E>(
  replica: ReplicaContext,
  action: Action.Action<string, A, I, Out, E, Action.Provided>,
  args: A
) => Effect.provide(ActionExecutor.execute(action, args), replica)

/** The notes as Postgres renders them (equal text, equal rows), in id order. */
export const notesOf = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM ${sql(NOTES)} t ORDER BY id`, (rows) => rows.map((x) => x.r))

/** A replica's notes. */
export const replicaNotes = (replica: ReplicaContext) =>
  Effect.provide(Effect.flatMap(SqlClient.SqlClient, notesOf), replica)

/** The ids of every action in the server's log. */
export const loggedIds = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ id: string }>`SELECT id::text AS id FROM reprise_server.actions ORDER BY server_seq`, (rows) => rows.map((r) => r.id))

/** What a transport does with a raw upload body from `userId`: decode it (`SyncCodec`), then call the server. */
export const uploadRaw = (
  server: Server,
  userId: string,
  raw: unknown
): Effect.Effect<SyncProtocol.UploadResponse, SyncServer.UploadError> =>
  Effect.flatMap(SyncCodec.decodeUploadRequest(raw), (decoded) => server.sync.upload(userId, decoded))

/** What a transport does with a raw fetch body from `userId`. */
export const fetchRaw = (server: Server, userId: string, raw: unknown): Effect.Effect<string, SyncServer.FetchError> =>
  Effect.flatMap(SyncCodec.decodeFetchRequest(raw), (decoded) => server.encodedFetch.fetch(userId, decoded))

/** A well-formed action as a client sends it (encoded), inserting one note; fields overridable. */
export const noteAction = (options: {
  readonly clientId: string
  readonly userId: string | null
  readonly wallMs: number
  readonly counter?: number
  readonly id?: string
  readonly rowId?: string
  readonly forward?: string
}): typeof SyncProtocol.ActionWire.Encoded => {
  const rowId = options.rowId ?? `note-${crypto.randomUUID()}`
  return {
    id: options.id ?? crypto.randomUUID(),
    tag: createNote.tag,
    args: { input: { title: "t" }, timestamp: options.wallMs },
    clientId: options.clientId,
    userId: options.userId,
    hlc: Hlc.encode(new Hlc.Hlc({ wallMs: options.wallMs, counter: options.counter ?? 0, nodeId: Hlc.NodeId.make(options.clientId) })),
    kind: "action",
    patches: [{
      seq: 1,
      schema: "public",
      table: NOTES,
      rowId,
      op: "INSERT",
      forward: options.forward ?? JSON.stringify({ id: rowId, title: "t", doc: null, n: 0, audience_key: null }),
      reverse: null,
      audienceKey: null
    }]
  }
}

/** JSON arrays nested `depth` levels deep, as text. */
export const nestedJson = (depth: number): string => "[".repeat(depth) + "]".repeat(depth)
