/**
 * The sync server on the network (R-SRV-3, R-SRV-7): `SyncRpc.SyncRpcs` served over HTTP and
 * WebSocket by Node's HTTP server, around the transport-independent `SyncServer`.
 *
 * - `POST /rpc`: the group over HTTP (`@effect/rpc`'s HTTP protocol, JSON serialization: one
 *   request per body, its answer as the response). Upload, Fetch and Head.
 * - `GET /rpc/ws`: the group over WebSocket (JSON serialization, one message per frame); every
 *   procedure, and the only way to `Subscribe`.
 * - `GET /health`: 200 `{"status":"ok"}` when the database answers `SELECT 1`, else 503
 *   `{"status":"unavailable","reason":"..."}`.
 *
 * Every request is authenticated by `Auth.Authenticator` from its `authorization: Bearer
 * <jwt>` header: over HTTP the request's own, over WebSocket the RPC message's (a browser
 * cannot set headers on a WebSocket). A subscription ends with `Unauthorized`
 * (`TokenExpired`) when its token expires.
 *
 * What a client sends is checked before it is parsed as an RPC: a body over `maxBodyBytes`
 * is refused with 413 and a `LimitExceeded` body, one that is not a message of the protocol
 * with 400 and a `MalformedRequest` body; a WebSocket message over `maxMessageBytes` closes its
 * connection with 1009, one not of the protocol with 1007; a user opening more than
 * `maxConnectionsPerUser` WebSockets has the requests of the extra ones refused with
 * `LimitExceeded`. A payload that does not decode is answered with the procedure's typed
 * rejection (`UploadRejected` `Malformed`, `FetchRejected`), and a defect in a handler with
 * `ServerFailure`: nothing a client sends crashes the process or answers 500.
 *
 * @example
 * ```ts
 * import { Auth, Realtime, SyncRpcServer, SyncService } from "@reprise/server"
 *
 * const ServerLive = SyncRpcServer.layer({ port: 8787, host: "127.0.0.1" }).pipe(
 *   Layer.provide(Realtime.layer()),
 *   Layer.provideMerge(SyncService.layer()),
 *   Layer.provide(Auth.layer({ secret: Redacted.make(process.env.JWT_SECRET!) })),
 *   Layer.provideMerge(PgClient.layer({ url }))
 * )
 * // Effect.flatMap(SyncRpcServer.Address, (address) => Effect.log(`listening on ${address.url}`))
 * ```
 */
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SyncServer } from "@reprise/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Auth from "./Auth.js"
import * as Drain from "./internal/drain.js"
import { type Limits, makeApp, MalformedRequest } from "./internal/rpc/http.js"
import type * as Realtime from "./Realtime.js"

export {
  /** The limits the network layer enforces (the protocol's own are `SyncProtocol.Limits`). */
  type Limits,
  /** The answer (HTTP 400, JSON) to a request that is not a message of the sync protocol. */
  MalformedRequest
}

/** The limits when none are given: 16 MiB bodies and messages, 16 WebSockets per user. */
export const defaultLimits: Limits = {
  maxBodyBytes: 16 * 1024 * 1024,
  maxMessageBytes: 16 * 1024 * 1024,
  maxConnectionsPerUser: 16
}

/** How long closing the server waits for HTTP requests in flight before it cuts them. */
const drainGraceMs = 10_000

/** Where and how the server listens. */
export interface Options {
  /** The TCP port; 0 picks a free one (read it from `Address`). */
  readonly port: number
  /** The interface to listen on; `127.0.0.1` by default. */
  readonly host?: string | undefined
  /** Limits on what clients send; each one missing is `defaultLimits`'. */
  readonly limits?: Partial<Limits> | undefined
}

/** Where a running server listens. */
export interface AddressShape {
  readonly host: string
  /** The bound port (the one chosen when `Options.port` was 0). */
  readonly port: number
  /** `http://host:port`. */
  readonly url: string
  /** The URL of the HTTP endpoint, `http://host:port/rpc`. */
  readonly rpcUrl: string
  /** The URL of the WebSocket endpoint, `ws://host:port/rpc/ws`. */
  readonly webSocketUrl: string
  /** The URL of the health check, `http://host:port/health`. */
  readonly healthUrl: string
}

/** The address of the running server, for its logs, its clients and tests (port 0). */
export class Address extends Context.Tag("@reprise/server/SyncRpcServer/Address")<Address, AddressShape>() {}

/** What the server needs: the sync server, the authenticator, realtime push, the database. */
export type Requirements = SyncServer.SyncServer | Auth.Authenticator | Realtime.Realtime | SqlClient.SqlClient

const checkLimits = (limits: Limits) =>
  Effect.forEach(Object.entries(limits), ([name, value]) =>
    Number.isSafeInteger(value) && value > 0
      ? Effect.void
      : Effect.dieMessage(`SyncRpcServer: limits.${name} must be a positive integer, got ${value}`), { discard: true })

/**
 * The server, listening on `options.host`:`options.port` until the layer's scope closes (which
 * stops accepting, lets HTTP requests in flight finish for up to 10 s, closes every WebSocket
 * with 1001 (going away), ending its subscriptions, and closes the rest). Fails with `ServeError`
 * when it cannot listen (the port is in use).
 */
export const layer = (options: Options): Layer.Layer<Address, ServeError, Requirements> =>
  Layer.scoped(
    Address,
    Effect.gen(function*() {
      const limits: Limits = { ...defaultLimits, ...options.limits }
      yield* checkLimits(limits)
      const host = options.host ?? "127.0.0.1"
      // The server lives in a scope of its own, drained before it closes (see internal/drain.ts).
      const nodeServer = Http.createServer()
      const drain = Drain.track(nodeServer)
      const inner = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      yield* Effect.addFinalizer(() => drain.shutdown(drainGraceMs))
      const server = yield* NodeHttpServer.make(() => nodeServer, { port: options.port, host }).pipe(Scope.extend(inner))
      const app = yield* makeApp(limits).pipe(Scope.extend(inner))
      yield* HttpServer.serveEffect()(app).pipe(Effect.provideService(HttpServer.HttpServer, server), Scope.extend(inner))
      const port = server.address._tag === "TcpAddress" ? server.address.port : options.port
      const authority = `${host.includes(":") ? `[${host}]` : host}:${port}`
      return {
        host,
        port,
        url: `http://${authority}`,
        rpcUrl: `http://${authority}/rpc`,
        webSocketUrl: `ws://${authority}/rpc/ws`,
        healthUrl: `http://${authority}/health`
      }
    })
  )
