/**
 * The server's HTTP application: `POST /rpc` (the group over HTTP, JSON serialization),
 * `GET /rpc/ws` (the group over WebSocket) and `GET /health`. The limits are enforced here,
 * before `@effect/rpc` parses anything: a body or a message over its limit, or one that is not
 * a message of the protocol, is refused with a typed answer (HTTP 413 / 400 with a JSON body
 * naming the error; a WebSocket close code with a reason).
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as SqlClient from "@effect/sql/SqlClient"
import { SyncRpc, type SyncServer } from "@reprise/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Auth from "../../Auth.js"
import type * as Realtime from "../../Realtime.js"
import * as Connections from "./connections.js"
import { checkHttpBody, connectionHeader } from "./envelope.js"
import {
  handlers,
  httpAuthentication,
  makeVerifiedCallers,
  socketAuthentication,
  tokenOf,
  type VerifiedCallers
} from "./handlers.js"
import { guard } from "./socket.js"

/** The limits the network layer enforces (the protocol's own are `SyncProtocol.Limits`). */
export interface Limits {
  /** The largest HTTP request body, in bytes. */
  readonly maxBodyBytes: number
  /** The largest WebSocket message, in bytes. */
  readonly maxMessageBytes: number
  /** How many WebSocket connections one user may hold open. */
  readonly maxConnectionsPerUser: number
}

/** The JSON body of a refused HTTP request: a typed error a client can decode. */
const refusal = (status: number, error: SyncRpc.LimitExceeded | SyncRpc.Unauthorized | MalformedRequest) =>
  HttpServerResponse.unsafeJson(error, { status })

/**
 * An HTTP request (or WebSocket upgrade) that is not a message of the sync protocol, answered
 * with status 400 (426 for a WebSocket endpoint requested without an upgrade); nothing was
 * read or written.
 */
export class MalformedRequest extends Schema.TaggedError<MalformedRequest>()("MalformedRequest", {
  detail: Schema.String
}) {
  override get message() {
    return `Malformed request: ${this.detail}`
  }
}

const malformed = (detail: string) => refusal(400, new MalformedRequest({ detail }))

const bodyTooLarge = (max: number, detail: string) =>
  refusal(413, new SyncRpc.LimitExceeded({ limit: "maxBodyBytes", max, detail }))

/**
 * `POST /rpc`: the body's size and shape checked, the bearer token verified (a refused token is
 * HTTP 401 with the `Unauthorized` as its body, R-SRV-4; the RPC middleware, which also serves
 * WebSocket messages, verifies it again and provides the caller), then `rpc` answers it.
 */
const httpEndpoint = <E, R>(
  limits: Limits,
  authenticator: Auth.AuthenticatorShape,
  verified: VerifiedCallers,
  rpc: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > limits.maxBodyBytes) {
      return bodyTooLarge(limits.maxBodyBytes, `the request body is ${declared} bytes`)
    }
    // The body is read once (the request caches it) under the limit; `rpc` reads the same text.
    const body = yield* Effect.either(
      HttpIncomingMessage.withMaxBodySize(request.text, Option.some(limits.maxBodyBytes))
    )
    if (Either.isLeft(body)) {
      return bodyTooLarge(limits.maxBodyBytes, "the request body could not be read within the limit")
    }
    const checked = checkHttpBody(body.right)
    if (Either.isLeft(checked)) return malformed(checked.left)
    // The headers `@effect/rpc` gives the middleware: the HTTP request's, then the message's own.
    const headers = Headers.fromInput([...Object.entries(request.headers), ...checked.right])
    const token = tokenOf(headers)
    const caller = yield* Effect.either(authenticator.verify(token))
    if (Either.isLeft(caller)) return refusal(401, caller.left)
    // The RPC middleware takes this caller instead of verifying the same token again.
    return token === undefined ? yield* rpc : yield* verified.during(token, caller.right, rpc)
  })

/**
 * `GET /rpc/ws`: the connection registered (for the per-user limit) and its socket guarded,
 * then `rpc` serves it until it closes.
 */
const socketEndpoint = <E, R>(
  limits: Limits,
  connections: Connections.Connections,
  rpc: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) => {
  let nextId = 0
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if ((request.headers["upgrade"] ?? "").toLowerCase() !== "websocket") {
      const detail = "GET /rpc/ws is a WebSocket endpoint: open it with an Upgrade: websocket request"
      return HttpServerResponse.unsafeJson(new MalformedRequest({ detail }), { status: 426, headers: { upgrade: "websocket" } })
    }
    const id = String(nextId++)
    // `@effect/rpc` reads the upgrade's headers into every message (so the middleware sees the
    // connection's id) and the socket from `upgrade` (so it reads through the guard).
    const served: HttpServerRequest.HttpServerRequest = Object.create(
      request.modify({ headers: Headers.set(request.headers, connectionHeader, id) }),
      { upgrade: { value: Effect.map(request.upgrade, (socket) => guard(socket, limits.maxMessageBytes)) } }
    )
    return yield* connections.open(id, Effect.provideService(rpc, HttpServerRequest.HttpServerRequest, served))
  })
}

/** How long the health check waits for the database. */
const healthTimeout = "3 seconds"

/** `GET /health`: 200 when `SELECT 1` answers, else 503 with a one-line reason. */
const health = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Uninterruptible and disconnected: the timeout answers at once, while the statement runs to
  // its end in the background (a cancelled pooled statement can cancel the next one on its
  // connection: see `toTheEnd` in SyncService.ts).
  const result = yield* Effect.uninterruptible(sql`SELECT 1`).pipe(
    Effect.disconnect,
    Effect.timeoutFail({ duration: healthTimeout, onTimeout: () => new Error(`no answer within ${healthTimeout}`) }),
    Effect.either
  )
  if (Either.isRight(result)) return HttpServerResponse.unsafeJson({ status: "ok" })
  const error = result.left
  const cause = "cause" in error && error.cause instanceof Error ? ` (${error.cause.message})` : ""
  const reason = `database unavailable: ${error.message}${cause}`.replace(/\s+/g, " ").slice(0, 500)
  return HttpServerResponse.unsafeJson({ status: "unavailable", reason }, { status: 503 })
})

/** What the application needs: the sync server, the authenticator, realtime push, the database. */
export type Requirements = SyncServer.SyncServer | Auth.Authenticator | Realtime.Realtime | SqlClient.SqlClient

/** The server's HTTP application, its RPC servers running in the scope. */
export const makeApp = (
  limits: Limits
): Effect.Effect<HttpRouter.HttpRouter<never, Scope.Scope>, never, Scope.Scope | Requirements> =>
  Effect.gen(function*() {
    const handlerContext = yield* SyncRpc.SyncRpcs.toHandlersContext(handlers)
    const serialization = Context.make(RpcSerialization.RpcSerialization, RpcSerialization.json)
    const options = { spanPrefix: "SyncRpc", disableFatalDefects: true }

    const verified = makeVerifiedCallers()
    const httpRpc = yield* RpcServer.toHttpApp(SyncRpc.SyncRpcs, options).pipe(
      Effect.provide(Context.merge(handlerContext, serialization)),
      Effect.provide(yield* httpAuthentication(verified))
    )
    const connections = Connections.make(limits.maxConnectionsPerUser)
    const socketRpc = yield* RpcServer.toHttpAppWebsocket(SyncRpc.SyncRpcs, options).pipe(
      Effect.provide(Context.merge(handlerContext, serialization)),
      Effect.provide(yield* socketAuthentication(connections))
    )
    const sql = yield* SqlClient.SqlClient
    const authenticator = yield* Auth.Authenticator

    return HttpRouter.empty.pipe(
      HttpRouter.post("/rpc", httpEndpoint(limits, authenticator, verified, httpRpc)),
      HttpRouter.get("/rpc/ws", socketEndpoint(limits, connections, socketRpc)),
      HttpRouter.get("/health", Effect.provideService(health, SqlClient.SqlClient, sql))
    )
  })
