/**
 * The server's side of `SyncRpc.SyncRpcs`: the handlers (the authenticated caller's upload,
 * fetch, head through `SyncServer`, with the claims of its token for row-level security; its
 * subscription through `Realtime`) and the two
 * `Authentication` middlewares (one per transport: over WebSocket it also counts connections
 * per user).
 */
import type * as RpcGroup from "@effect/rpc/RpcGroup"
import { SyncProtocol, SyncRpc, SyncServer } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Auth from "../../Auth.js"
import * as Realtime from "../../Realtime.js"
import type { Connections } from "./connections.js"
import { connectionHeader } from "./envelope.js"

/**
 * A defect in a handler (a bug, or input the server failed to foresee) is answered as a
 * `ServerFailure` with the cause logged, instead of `@effect/rpc`'s defect message: the client
 * gets a typed error it can retry, the process keeps serving.
 */
const noDefects = (procedure: string) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SyncServer.ServerFailure, R> =>
  Effect.catchAllDefect(effect, (defect) =>
    Effect.zipRight(
      Effect.logError(`SyncRpc.${procedure}: a defect answered as ServerFailure`, defect),
      Effect.fail(new SyncServer.ServerFailure({ detail: `${procedure} failed unexpectedly (the server logged why)` }))
    ))

/** The ms until `expiresAtMs`, or none when the token does not expire. */
const untilExpiry = (caller: SyncRpc.CallerShape) =>
  Effect.map(Clock.currentTimeMillis, (now) =>
    caller.expiresAtMs === null ? undefined : Math.max(0, caller.expiresAtMs - now))

/**
 * Ends `stream` with `Unauthorized` (`TokenExpired`) when the caller's token expires, so the
 * client refreshes the token and subscribes again from its last cursor.
 */
const untilTokenExpires = <A, E, R>(caller: SyncRpc.CallerShape, stream: Stream.Stream<A, E, R>) =>
  Stream.unwrap(Effect.map(untilExpiry(caller), (ms) =>
    ms === undefined ? stream : Stream.interruptWhen(
      stream,
      Effect.zipRight(
        Effect.sleep(ms),
        Effect.fail(
          new SyncRpc.Unauthorized({
            reason: "TokenExpired",
            detail: "the token this subscription was opened with has expired: refresh it and subscribe again from the last page's `next`"
          })
        )
      )
    )))

/** The handlers of `SyncRpc.SyncRpcs`. */
export type Handlers = RpcGroup.HandlersFrom<RpcGroup.Rpcs<typeof SyncRpc.SyncRpcs>>

/** The handlers of `SyncRpc.SyncRpcs`, over the `SyncServer` and `Realtime` in context. */
export const handlers: Effect.Effect<Handlers, never, SyncServer.SyncServer | Realtime.Realtime> =
  Effect.gen(function*() {
    const server = yield* SyncServer.SyncServer
    const realtime = yield* Realtime.Realtime
    /** A unary procedure for the caller, its defects answered as failures. */
    const unary = <A, E>(procedure: string, f: (caller: SyncRpc.CallerShape) => Effect.Effect<A, E>) =>
      noDefects(procedure)(Effect.flatMap(SyncRpc.Caller, f))
    return SyncRpc.SyncRpcs.of({
      Upload: (payload) =>
        payload instanceof SyncRpc.InvalidPayload
          ? Effect.fail(
            new SyncProtocol.UploadRejected({
              reason: payload.tooLarge ? "TooLarge" : "Malformed",
              actionId: payload.actionId,
              detail: payload.detail
            })
          )
          : unary("Upload", (caller) => server.upload(caller.userId, payload, caller.claims)),
      Fetch: (payload) =>
        payload instanceof SyncRpc.InvalidPayload
          ? Effect.fail(new SyncProtocol.FetchRejected({ detail: payload.detail }))
          : unary("Fetch", (caller) => server.fetch(caller.userId, payload, caller.claims)),
      Subscribe: (payload) =>
        payload instanceof SyncRpc.InvalidPayload
          ? Stream.fail(new SyncProtocol.FetchRejected({ detail: payload.detail }))
          : Stream.unwrap(Effect.map(SyncRpc.Caller, (caller) =>
            untilTokenExpires(caller, realtime.subscribe(caller, payload)).pipe(
              Stream.catchAllCause((cause) => Stream.fromEffect(noDefects("Subscribe")(Effect.failCause(cause))))
            ))),
      Head: () => unary("Head", (caller) => server.head(caller.userId, caller.claims))
    })
  })

/** The bearer token of a request's headers (the HTTP request's, merged with the message's own). */
export const tokenOf = (headers: Readonly<Record<string, string | undefined>>) => Auth.bearer(headers["authorization"])

/**
 * The callers the HTTP endpoint has verified for the requests it is serving, by token. The
 * endpoint verifies a request's token before `@effect/rpc` reads it (to answer a refused token
 * with a 401); the RPC middleware of the same request then takes the caller from here instead
 * of verifying the same token a second time (a second HMAC or signature check, on the path of
 * every upload). An entry lives only while a request whose endpoint verified that very token
 * is in flight, and a caller whose token has expired since is verified again.
 */
export interface VerifiedCallers {
  /** Runs `effect` (the request's RPC) with `token` known to stand for `caller`. */
  readonly during: <A, E, R>(token: string, caller: SyncRpc.CallerShape, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** The caller `token` was verified as by a request in flight, if any. */
  readonly get: (token: string) => SyncRpc.CallerShape | undefined
}

/** An empty registry of verified callers. */
export const makeVerifiedCallers = (): VerifiedCallers => {
  const entries = new Map<string, { readonly caller: SyncRpc.CallerShape; count: number }>()
  return {
    during: (token, caller, effect) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          const entry = entries.get(token)
          if (entry === undefined) entries.set(token, { caller, count: 1 })
          else entry.count++
        }),
        () => effect,
        () =>
          Effect.sync(() => {
            const entry = entries.get(token)
            if (entry !== undefined && --entry.count <= 0) entries.delete(token)
          })
      ),
    get: (token) => entries.get(token)?.caller
  }
}

/**
 * `Authentication` for HTTP: each request's bearer token, verified (by the endpoint, whose
 * answer `verified` holds while the request runs; else here).
 */
export const httpAuthentication = (verified: VerifiedCallers) =>
  Effect.map(Auth.Authenticator, (auth) =>
    Context.make(SyncRpc.Authentication, ({ headers }) => {
      const token = tokenOf(headers)
      const caller = token === undefined ? undefined : verified.get(token)
      if (caller === undefined) return auth.verify(token)
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        caller.expiresAtMs !== null && now >= caller.expiresAtMs ? auth.verify(token) : Effect.succeed(caller))
    }))

/**
 * `Authentication` for WebSocket: each request's bearer token (a browser sends it in the RPC
 * message's headers), verified, and the connection counted for the caller, within
 * `connections`' per-user limit.
 */
export const socketAuthentication = (connections: Connections) =>
  Effect.map(Auth.Authenticator, (auth) =>
    Context.make(SyncRpc.Authentication, ({ headers }) =>
      Effect.tap(auth.verify(tokenOf(headers)), (caller) => connections.admit(headers[connectionHeader], caller.userId))))
