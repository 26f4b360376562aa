/**
 * A `SyncTransport` over the network: `SyncRpc.SyncRpcs` called through `@effect/rpc`'s
 * client, over HTTP (`fetch`, in browsers and Node) or over WebSocket (any
 * `Socket.WebSocketConstructor`: the browser's, or Node's from `@effect/platform-node`).
 *
 * Each request carries `authorization: Bearer <token>` in its RPC headers, the token taken
 * from `options.token()` for every request (so a refreshed token is used from the next
 * request on). Beside the engine's port (`upload`, `fetch`) it offers `head()` and
 * `subscribe(request)`, a stream of pages of newly committed actions (WebSocket only: HTTP
 * answers a request with one response); `withSince` pairs each page with the cursor it starts
 * at, for `SyncEngine.applyPushed`.
 *
 * Failures the engine has no use for (the server unreachable, a broken message, the server's
 * own `ServerFailure`, `Unauthorized`, `LimitExceeded`, `FetchRejected`) are a
 * `SyncTransport.TransportError`; `cause(error)` returns the server's typed error it stands
 * for, so a client can act on it (refresh the token on `Unauthorized`, reconnect on
 * `TokenExpired`). `UploadRejected` and `BehindHead` stay typed. This module does not
 * reconnect or retry; a client's sync loop does.
 *
 * @example
 * ```ts
 * import { RpcTransport } from "@reprise/core"
 * import * as BrowserSocket from "@effect/platform-browser/BrowserSocket"
 *
 * const Transport = RpcTransport.layerWebSocket({
 *   url: "wss://sync.example.com/rpc/ws",
 *   token: () => Effect.promise(() => auth.currentToken())
 * }).pipe(Layer.provide(BrowserSocket.layerWebSocketConstructor))
 * ```
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Socket from "@effect/platform/Socket"
import * as RpcClient from "@effect/rpc/RpcClient"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SyncProtocol from "./SyncProtocol.js"
import * as SyncRpc from "./SyncRpc.js"
import * as SyncServer from "./SyncServer.js"
import * as SyncTransport from "./SyncTransport.js"

/** Where the server is and how to authenticate. */
export interface Options {
  /**
   * The endpoint: `http(s)://host:port/rpc` for `makeHttp`, `ws(s)://host:port/rpc/ws` for
   * `makeWebSocket`.
   */
  readonly url: string
  /** The bearer token to send, asked for each request. */
  readonly token: () => Effect.Effect<string>
}

/** A server's typed answer that a `TransportError` stands for (see `cause`). */
export type ServerError = SyncRpc.Unauthorized | SyncRpc.LimitExceeded | SyncServer.ServerFailure | SyncProtocol.FetchRejected

/** The transport's shape: the engine's port, the head, and subscriptions. */
export interface RpcTransportShape extends SyncTransport.SyncTransportShape {
  /** The server's highest sequence. */
  readonly head: () => Effect.Effect<number, SyncTransport.TransportError>
  /**
   * Pages of the log after `request.since` (each of at most `request.limit` actions), then a
   * page whenever new actions the caller may see are committed; it ends with a
   * `TransportError` (an expired token: `cause` is `Unauthorized` `TokenExpired`).
   * WebSocket only.
   */
  readonly subscribe: (
    request: SyncProtocol.FetchRequest
  ) => Stream.Stream<SyncProtocol.FetchResponse, SyncTransport.TransportError>
}

/** The network transport (the same service as `SyncTransport`, with `head` and `subscribe`). */
export class RpcTransport extends Context.Tag("@reprise/core/RpcTransport")<RpcTransport, RpcTransportShape>() {}

/**
 * The server's typed error `error` stands for (`Unauthorized`, `LimitExceeded`,
 * `ServerFailure`, `FetchRejected`), or none when it is a failure of the network or of the
 * messages themselves.
 */
export const cause = (error: SyncTransport.TransportError): Option.Option<ServerError> =>
  isServerError(error.cause) ? Option.some(error.cause) : Option.none()

/** A page a subscription pushed, with the cursor it was read from (see `withSince`). */
export interface Pushed {
  /** The cursor the page starts at: the previous page's `next`, or the subscription's `since`. */
  readonly since: number
  readonly page: SyncProtocol.FetchResponse
}

/**
 * Pairs each page of a subscription opened at `since` with the cursor it was read from (the
 * previous page's `next`; the first page's is `since`), which is what
 * `SyncEngine.applyPushed(since, page)` takes: a client applies each pushed page as it arrives
 * instead of fetching it again, and the engine pulls when a page does not start at its
 * watermark.
 *
 * @example
 * ```ts
 * const since = yield* readCursor
 * yield* rpc.subscribe({ since, limit: 500 }).pipe(
 *   RpcTransport.withSince(since),
 *   Stream.runForEach(({ page, since }) => engine.applyPushed(since, page))
 * )
 * ```
 */
export const withSince = (since: number) =>
<E, R>(pages: Stream.Stream<SyncProtocol.FetchResponse, E, R>): Stream.Stream<Pushed, E, R> =>
  Stream.mapAccum(pages, since, (from, page) => [page.next, { since: from, page }])

/** A transport over HTTP, through the `HttpClient` in context (for `POST <url>`). */
export const makeHttp = (options: Options): Effect.Effect<RpcTransportShape, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const http = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(options.url)),
      HttpClient.transformResponse(Effect.flatMap(refusedStatus))
    )
    const protocol = yield* RpcClient.makeProtocolHttp(http).pipe(Effect.provide(serialization))
    const shape = yield* fromProtocol(protocol, options)
    return {
      ...shape,
      // An HTTP exchange answers once: a subscription would never be answered.
      subscribe: () =>
        Stream.fail(new SyncTransport.TransportError({ detail: "subscribe needs the WebSocket transport (makeWebSocket)" }))
    }
  })

/** A transport over one WebSocket to `url`, opened with the `WebSocketConstructor` in context. */
export const makeWebSocket = (
  options: Options
): Effect.Effect<RpcTransportShape, never, Socket.WebSocketConstructor | Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* Socket.makeWebSocket(options.url)
    const protocol = yield* RpcClient.makeProtocolSocket().pipe(
      Effect.provide(serialization),
      Effect.provideService(Socket.Socket, socket)
    )
    return yield* fromProtocol(protocol, options)
  })

/** `SyncTransport` and `RpcTransport` over HTTP, with the platform's `fetch`. */
export const layerHttp = (options: Options): Layer.Layer<SyncTransport.SyncTransport | RpcTransport> =>
  toLayer(makeHttp(options)).pipe(Layer.provide(FetchHttpClient.layer))

/** `SyncTransport` and `RpcTransport` over WebSocket. */
export const layerWebSocket = (
  options: Options
): Layer.Layer<SyncTransport.SyncTransport | RpcTransport, never, Socket.WebSocketConstructor> =>
  toLayer(makeWebSocket(options))

const toLayer = <R>(make: Effect.Effect<RpcTransportShape, never, R>) =>
  Layer.scopedContext(Effect.map(make, (shape) =>
    Context.make(RpcTransport, shape).pipe(Context.add(SyncTransport.SyncTransport, shape))))

const serialization = Layer.succeed(RpcSerialization.RpcSerialization, RpcSerialization.json)

const decodeRefusal = Schema.decodeUnknownOption(Schema.parseJson(Schema.Union(SyncRpc.LimitExceeded, SyncRpc.Unauthorized)))

/**
 * The server refuses a request it will not read with an HTTP status and a JSON body (413 with
 * `LimitExceeded`, 401 with `Unauthorized`, 400 with `MalformedRequest`) instead of an RPC
 * answer; such a response is a failure of the request, carrying the `LimitExceeded` or
 * `Unauthorized` when that is what the body says.
 */
const refusedStatus = (response: HttpClientResponse.HttpClientResponse) =>
  response.status >= 200 && response.status < 300
    ? Effect.succeed(response)
    : Effect.flatMap(Effect.orElseSucceed(response.text, () => ""), (text) =>
      Effect.fail(
        new HttpClientError.ResponseError({
          request: response.request,
          response,
          reason: "StatusCode",
          cause: Option.getOrUndefined(decodeRefusal(text)),
          description: `the server refused the request: ${text.slice(0, 500)}`
        })
      ))

const fromProtocol = (protocol: RpcClient.Protocol["Type"], options: Options) =>
  Effect.gen(function*() {
    const authentication = yield* Layer.build(
      RpcMiddleware.layerClient(SyncRpc.Authentication, ({ request }) =>
        Effect.map(options.token(), (token) => ({
          ...request,
          headers: Headers.set(request.headers, "authorization", `Bearer ${token}`)
        })))
    )
    const client = yield* RpcClient.make(SyncRpc.SyncRpcs).pipe(
      Effect.provideService(RpcClient.Protocol, protocol),
      Effect.provide(authentication)
    )
    const shape: RpcTransportShape = {
      upload: (request) =>
        client.Upload(request).pipe(
          Effect.catchAllCause((cause): Effect.Effect<never, UploadError> => {
            const failure = Cause.failureOption(cause)
            if (Option.isSome(failure)) {
              const error = failure.value
              if (error._tag === "UploadRejected" || error._tag === "BehindHead") return Effect.fail(error)
            }
            return Effect.fail(toTransportError(cause))
          })
        ),
      fetch: (request) => Effect.catchAllCause(client.Fetch(request), (cause) => Effect.fail(toTransportError(cause))),
      head: () => Effect.catchAllCause(client.Head(), (cause) => Effect.fail(toTransportError(cause))),
      subscribe: (request) =>
        Stream.catchAllCause(client.Subscribe(request), (cause) => Stream.fail(toTransportError(cause)))
    }
    return shape
  })

type UploadError = SyncProtocol.UploadRejected | SyncProtocol.BehindHead | SyncTransport.TransportError

const isServerError = (u: unknown): u is ServerError =>
  u instanceof SyncRpc.Unauthorized || u instanceof SyncRpc.LimitExceeded ||
  u instanceof SyncServer.ServerFailure || u instanceof SyncProtocol.FetchRejected

/** The typed error inside a failed HTTP exchange (a 413's `LimitExceeded`, a 401's `Unauthorized`), if any. */
const innerCause = (error: RpcClientError): unknown => {
  const inner = error.cause
  return inner instanceof HttpClientError.ResponseError && isServerError(inner.cause) ? inner.cause : inner
}

/** A failed call as the `TransportError` the engine handles, keeping what it stands for. */
const toTransportError = (cause: Cause.Cause<unknown>): SyncTransport.TransportError => {
  const failure = Cause.failureOption(cause)
  let detail: string
  let reason: unknown
  if (Option.isSome(failure)) {
    const error = failure.value
    reason = error instanceof RpcClientError ? innerCause(error) : error
    detail = isServerError(reason)
      ? reason.message
      : error instanceof RpcClientError
      ? `${error.message}${reason === undefined ? "" : `: ${describe(reason)}`}`
      : describe(error)
  } else if (Cause.isDie(cause)) {
    reason = Cause.squash(cause)
    detail = `the exchange with the server broke: ${describe(reason)}`
  } else {
    reason = undefined
    detail = "the server ended the request (it may be shutting down); retry"
  }
  const error = new SyncTransport.TransportError({ detail })
  error.cause = reason
  return error
}

const describe = (u: unknown): string =>
  u instanceof Error ? u.message : typeof u === "string" ? u : String(u)
