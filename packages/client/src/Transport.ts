/**
 * The network transports of a client: `webSocket` (calls and the subscription on one socket;
 * the server pushes new pages as they are committed) and `http` (calls as `POST`s; new pages
 * are polled). Each is a layer providing core's `SyncTransport` (what the engine syncs
 * through) and this package's `Connection` (state, pushes, the app's offline switch), built on
 * core's `RpcTransport` and the server's RPC group.
 *
 * Both reconnect by themselves with a jittered exponential backoff (capped), and resume pushing
 * from the cursor the sync loop applied. `getToken` is asked for a token on every connection
 * attempt and again whenever the server answers `Unauthorized` (an expired token), before the
 * call is retried once.
 *
 * @example
 * ```ts
 * import { Transport } from "@reprise/client"
 * import * as NodeSocket from "@effect/platform-node/NodeSocket" // Node 20 has no global WebSocket
 *
 * const transport = Transport.webSocket({
 *   url: "wss://sync.example.com/rpc/ws",
 *   getToken: () => auth.currentToken(),
 *   webSocketConstructor: NodeSocket.layerWebSocketConstructor
 * })
 * const polling = Transport.http({ url: "https://sync.example.com/rpc", getToken, pollInterval: "5 seconds" })
 * ```
 */
import * as Socket from "@effect/platform/Socket"
import { SyncProtocol, SyncTransport } from "@reprise/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Connection } from "./Connection.js"
import * as Backoff from "./internal/transport/backoff.js"
import * as Drivers from "./internal/transport/drivers.js"
import * as Supervisor from "./internal/transport/supervisor.js"

/** Where the app's bearer token comes from: a string, a promise of one, or an Effect. */
export type GetToken = Supervisor.GetToken

/** How long to wait between connection attempts (jittered: each wait is ½ to 1 of its ceiling). */
export type BackoffOptions = Backoff.BackoffOptions

/** What both transports take. */
export interface Options {
  /**
   * The server's endpoint: `ws(s)://host:port/rpc/ws` for `webSocket`, `http(s)://host:port/rpc`
   * for `http` (`SyncRpcServer.Address`'s `webSocketUrl` and `rpcUrl`).
   */
  readonly url: string
  /** Gives the signed-in user's bearer token; asked on every connection and after `Unauthorized`. */
  readonly getToken: GetToken
  /** The waits between connection attempts: from 250 ms, doubling, at most 30 s by default. */
  readonly backoff?: BackoffOptions
  /** Actions per pushed page; 500 by default (at most `SyncProtocol.Limits.maxFetchLimit`). */
  readonly pageSize?: number
}

/** Options of `webSocket`. */
export interface WebSocketOptions extends Options {
  /**
   * How sockets are opened: the platform's global `WebSocket` by default (browsers, Node 22+);
   * in Node 20 give `NodeSocket.layerWebSocketConstructor` from `@effect/platform-node`.
   */
  readonly webSocketConstructor?: Layer.Layer<Socket.WebSocketConstructor>
}

/** Options of `http`. */
export interface HttpOptions extends Options {
  /** How often to ask the server for new actions while connected; 5 s by default. */
  readonly pollInterval?: Duration.DurationInput
}

/** What a transport layer provides: the engine's port and the connection. */
export type Services = SyncTransport.SyncTransport | Connection

/**
 * A transport over one WebSocket at a time: calls and the subscription share it, and the
 * server pushes each new page as soon as it is committed.
 */
export const webSocket = (options: WebSocketOptions): Layer.Layer<Services> =>
  Layer.unwrapEffect(Effect.map(
    Effect.provide(Socket.WebSocketConstructor, options.webSocketConstructor ?? Socket.layerWebSocketConstructorGlobal),
    (constructor) => fromDriver(Drivers.webSocket(options.url, pageSizeOf(options), constructor), options)
  ))

/**
 * A transport over HTTP: each call is a request, and new actions are polled every
 * `pollInterval` (for networks and proxies where a WebSocket cannot stay open).
 */
export const http = (options: HttpOptions): Layer.Layer<Services> =>
  Layer.unwrapEffect(Effect.sync(() =>
    fromDriver(
      Drivers.http(options.url, pageSizeOf(options), Duration.decode(options.pollInterval ?? "5 seconds")),
      options
    )
  ))

const pageSizeOf = (options: Options) => Math.max(1, Math.min(options.pageSize ?? 500, SyncProtocol.Limits.maxFetchLimit))

const fromDriver = (driver: Supervisor.Driver, options: Options): Layer.Layer<Services> =>
  Layer.scopedContext(Effect.gen(function*() {
    const backoff = yield* Effect.try({ try: () => Backoff.resolve(options.backoff), catch: (e) => e }).pipe(Effect.orDie)
    const { connection, transport } = yield* Supervisor.make(driver, { getToken: options.getToken, backoff })
    return Context.make(SyncTransport.SyncTransport, transport).pipe(Context.add(Connection, connection))
  }))
