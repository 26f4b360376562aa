/**
 * The pieces of the network tests: a real server (`SyncRpcServer` on port 0 over a real
 * database, `SyncService`, `Realtime`, `Auth` verifying real HS256 tokens) and real clients
 * (`RpcTransport` over HTTP or WebSocket on loopback), and the sync suite's harness that puts
 * the network between the suite's replicas and its server.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { RpcTransport, SyncServer, type SyncTransport } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { afterAll } from "vitest"
import type { SyncSuite } from "../../sync-suite/src/index.js"
import { Auth, Realtime, SyncRpcServer } from "../src/index.js"

/** The HS256 secret the test servers verify with. */
export const secret = Redacted.make("network-tests-secret-0123456789-abcdefghij")

/** A token for `userId`, signed with `secret`, expiring in `ttlSeconds` (an hour by default). */
export const tokenFor = (userId: string, ttlSeconds = 3600) =>
  Effect.orDie(Auth.issueDevToken({ secret, userId, ttlSeconds }))

/** The two transports under test. */
export type Kind = "http" | "websocket"

/** A client transport to the server at `address`, signed in as `userId` (a fresh token per request). */
export const transport = (
  kind: Kind,
  address: SyncRpcServer.AddressShape,
  userId: string
): Layer.Layer<SyncTransport.SyncTransport | RpcTransport.RpcTransport> =>
  kind === "http"
    ? RpcTransport.layerHttp({ url: address.rpcUrl, token: () => tokenFor(userId) })
    : RpcTransport.layerWebSocket({ url: address.webSocketUrl, token: () => tokenFor(userId) }).pipe(
      Layer.provide(NodeSocket.layerWebSocketConstructor)
    )

/** Realtime far from its timers: pages arrive through NOTIFY. */
const realtimeOptions: Realtime.Options = { recheckInterval: "10 minutes", pingInterval: "10 minutes" }

/**
 * `Realtime` on the database in context: Postgres's LISTEN when a `PgClient` is there, else
 * PGlite's; read from the context at runtime because the sync suite's server context types
 * only the sync services.
 */
export const realtimeHere: Layer.Layer<Realtime.Realtime, never, SqlClient.SqlClient | SyncServer.SyncServer> = Layer
  .unwrapEffect(Effect.gen(function*() {
    const pg = yield* Effect.serviceOption(PgClient.PgClient)
    if (Option.isSome(pg)) return Realtime.layerWithListen(pg.value.listen, realtimeOptions)
    const pglite = yield* Effect.serviceOption(PgliteClient.PgliteClient)
    if (Option.isSome(pglite)) return Realtime.layerWithListen(pglite.value.listen, realtimeOptions)
    return yield* Effect.dieMessage("network tests: the server's database is neither Postgres nor PGlite")
  }))

/** The network server on port 0 over the `SyncServer` and database in context. */
export const serverLayer = (limits?: Partial<SyncRpcServer.Limits>) =>
  SyncRpcServer.layer({ port: 0, host: "127.0.0.1", limits }).pipe(
    Layer.provide(realtimeHere),
    Layer.provide(Auth.layer({ secret }))
  )

interface Running {
  readonly address: SyncRpcServer.AddressShape
  readonly scope: Scope.CloseableScope
  users: number
}

/**
 * The network servers of the suite's server runtimes, one per `SyncServer`, started by the
 * first transport that needs one and stopped when the last one is released.
 */
const running = new Map<SyncServer.SyncServerShape, Running>()
const lock = Effect.unsafeMakeSemaphore(1)

afterAll(() =>
  Effect.runPromise(Effect.forEach(running.values(), (server) => Scope.close(server.scope, Exit.void), { discard: true }))
)

const acquire = (context: Context.Context<SyncSuite.ServerServices | SqlClient.SqlClient>, key: SyncServer.SyncServerShape) =>
  lock.withPermits(1)(Effect.gen(function*() {
    const existing = running.get(key)
    if (existing !== undefined) {
      existing.users += 1
      return existing
    }
    const scope = yield* Scope.make()
    const built = yield* Layer.buildWithScope(serverLayer().pipe(Layer.provide(Layer.succeedContext(context))), scope)
    const server: Running = { address: Context.get(built, SyncRpcServer.Address), scope, users: 1 }
    running.set(key, server)
    return server
  }))

const release = (key: SyncServer.SyncServerShape, server: Running) =>
  lock.withPermits(1)(Effect.suspend(() => {
    server.users -= 1
    if (server.users > 0) return Effect.void
    running.delete(key)
    return Scope.close(server.scope, Exit.void)
  }))

/**
 * The sync suite's harness for `kind`: each replica's transport is an `RpcTransport` to a
 * network server started over the suite's server (its `SyncServer` and database).
 */
export const harness = (
  kind: Kind,
  name: string,
  serverDatabase: SyncSuite.Harness["serverDatabase"]
): SyncSuite.Harness => ({
  name,
  serverDatabase,
  transport: (userId) =>
    Layer.unwrapScoped(Effect.gen(function*() {
      const context = yield* Effect.context<SyncSuite.ServerServices>()
      const key = Context.get(context, SyncServer.SyncServer)
      const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
      if (Option.isNone(sql)) return yield* Effect.dieMessage("network tests: the suite's server has no SqlClient")
      const server = yield* Effect.acquireRelease(
        acquire(Context.add(context, SqlClient.SqlClient, sql.value), key),
        (server) => release(key, server)
      )
      return transport(kind, server.address, userId)
    }))
})
