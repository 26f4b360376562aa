/**
 * The pieces of the transport and sync-loop tests: a real server (`SyncRpcServer` on port 0,
 * `SyncService`, `Realtime`, `Auth` verifying real HS256 tokens) on PGlite in this process, and
 * replicas (PGlite, the sync schema, a tracked `notes` table, the registry, the executor, the
 * engine and `Inspect`) over a transport given as a layer.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionExecutor, ActionRegistry, Quarantine, SyncEngine, SyncSchema, type SyncTransport, Tracking } from "@reprise/core"
import { Auth, Realtime, SyncRpcServer, SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Inspect from "../src/Inspect.js"

/** The HS256 secret the test server verifies with. */
export const secret = Redacted.make("client-sync-tests-secret-0123456789-abcdef")

/** A token for `userId` valid for `ttlSeconds` (an hour by default). */
export const tokenFor = (userId: string, ttlSeconds = 3600) =>
  Effect.orDie(Auth.issueDevToken({ secret, userId, ttlSeconds }))

/** The app's table, on the server and on every replica. */
export const notesTable = "CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, body text NOT NULL, audience_key text)"

/** The app's one action: add a note with a given id. */
export const addNote = Action.make({
  tag: "note.add.v1",
  args: Schema.Struct({ id: Schema.String, body: Schema.String }),
  run: ({ body, id }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO notes ${sql.insert({ id, body })}`)
})

/** A server on PGlite with `notes` tracked, listening on 127.0.0.1 (port 0). */
export const serverLayer: Layer.Layer<
  SyncRpcServer.Address | SyncService.SyncService | SqlClient.SqlClient,
  unknown
> = SyncRpcServer.layer({ port: 0, host: "127.0.0.1" }).pipe(
    Layer.provide(Layer.unwrapEffect(Effect.map(PgliteClient.PgliteClient, (client) =>
      Realtime.layerWithListen(client.listen, { recheckInterval: "10 minutes", pingInterval: "10 minutes" })))),
    Layer.provide(Auth.layer({ secret })),
    Layer.provideMerge(Layer.effectDiscard(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(notesTable)
      yield* Tracking.install(["notes"])
    }))),
    Layer.provideMerge(SyncService.layer()),
    Layer.provideMerge(PgliteClient.layer({}))
  )

/** What a replica of the tests provides. */
export type ReplicaServices =
  | SyncEngine.SyncEngine
  | ActionExecutor.ActionExecutor
  | SqlClient.SqlClient
  | Inspect.Inspect
  | Quarantine.Quarantine

/** A replica of `userId` on a fresh PGlite, syncing through `transport` (whose other services it passes on). */
export const replicaLayer = <T>(
  userId: string,
  transport: Layer.Layer<T>
): Layer.Layer<ReplicaServices | T> => {
  const database = Layer.provideMerge(
    Layer.effectDiscard(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(notesTable)
      yield* SyncSchema.install()
      yield* Tracking.install(["notes"])
    })),
    PgliteClient.layer({})
  )
  const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), Layer.merge(database, ActionRegistry.layer([addNote])))
  const quarantine = Layer.provideMerge(Quarantine.layer, executor)
  // T includes SyncTransport, which TypeScript cannot see through the generic.
  const withTransport = Layer.merge(quarantine, transport) as Layer.Layer<
    Layer.Layer.Success<typeof quarantine> | SyncTransport.SyncTransport | T,
    Layer.Layer.Error<typeof quarantine>
  >
  const engine = Layer.provideMerge(SyncEngine.layer({}), withTransport)
  return Layer.provideMerge(Inspect.layer, engine).pipe(Layer.orDie)
}

/** The ids of the notes a replica (or the server) holds, in order. */
export const noteIds = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ id: string }>`SELECT id FROM notes ORDER BY id`, (rows) => rows.map((r) => r.id)))
