/**
 * A real sync server for the client tests: `SyncRpcServer` on a loopback port over an
 * in-memory PGlite (`SyncService`, `Realtime`, `Auth` verifying real HS256 tokens), with the
 * notes app's tables tracked, and the WebSocket transport a client reaches it with.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as SqlClient from "@effect/sql/SqlClient"
import { RpcTransport, type SyncTransport, Tracking } from "@reprise/core"
import { Auth, Realtime, SyncRpcServer, SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { migrations } from "./fixtures.js"

/** The HS256 secret the test server verifies with. */
export const secret = Redacted.make("client-tests-secret-0123456789-abcdefghijkl")

/** A token for `userId` signed with `secret`. */
export const tokenFor = (userId: string) => Effect.orDie(Auth.issueDevToken({ secret, userId, ttlSeconds: 3600 }))

/**
 * The server, on port 0 of 127.0.0.1: its database holds the app's tables (`steps`, the notes
 * app's migrations by default) with `tracked` tracked.
 */
export const serverLayer = (
  tracked: ReadonlyArray<string> = ["notes"],
  steps: ReadonlyArray<string> = migrations.map((m) => m.sql)
): Layer.Layer<SyncRpcServer.Address, unknown> => {
  const database = PgliteClient.layer({})
  const schema = Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const step of steps) yield* sql.unsafe(step)
    yield* Tracking.install(tracked)
  }))
  const services = schema.pipe(Layer.provideMerge(SyncService.layer()), Layer.provideMerge(database))
  const realtime = Layer.unwrapEffect(
    Effect.map(PgliteClient.PgliteClient, (client) =>
      Realtime.layerWithListen(client.listen, { recheckInterval: "10 minutes", pingInterval: "10 minutes" }))
  )
  return SyncRpcServer.layer({ port: 0, host: "127.0.0.1" }).pipe(
    Layer.provide(Layer.merge(realtime, Auth.layer({ secret }))),
    Layer.provide(services)
  )
}

/** The WebSocket transport to the server at `address`, signed in as `userId`. */
export const webSocketTransport = (
  address: SyncRpcServer.AddressShape,
  userId: string
): Layer.Layer<SyncTransport.SyncTransport> =>
  RpcTransport.layerWebSocket({ url: address.webSocketUrl, token: () => tokenFor(userId) }).pipe(
    Layer.provide(NodeSocket.layerWebSocketConstructor)
  )
