/**
 * The connection supervisor both network transports share. It keeps one connection (a
 * "generation": an `RpcTransport` in a scope of its own) to the server at a time:
 *
 * - connect: ask the app for a token (`getToken`), open the transport, probe it with `Head`
 *   (after an `Unauthorized`, ask for a token again and probe once more); then the state is
 *   `online` and the driver's session runs (the WebSocket subscription, or HTTP polls),
 *   pushing pages from the applied cursor;
 * - a call or the session failing for the network (a `TransportError` the server did not send)
 *   marks the generation broken: its scope closes, the state goes `offline`, and after a
 *   jittered, capped exponential backoff (reset by every successful connection) it connects
 *   again, with a fresh token;
 * - a call failing for the network is tried once more on the same connection (an idle HTTP
 *   keep-alive socket the server closed fails the first request sent on it);
 * - a call answered `Unauthorized` asks for a token again and is retried once with it; a
 *   session ended by `Unauthorized` (`TokenExpired` on a subscription) is resumed with a fresh
 *   token on the same connection;
 * - `setEnabled(false)` closes the generation and keeps it closed; calls fail at once with a
 *   `TransportError` whose cause is `Offline`. Nothing local is touched, so nothing is lost.
 *
 * @internal
 */
import type { RpcTransport, SyncProtocol } from "@reprise/core"
import { SyncRpc, SyncTransport } from "@reprise/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { ConnectionShape, ConnectionState, Push } from "../../Connection.js"
import { NotConnected, Offline, TokenUnavailable } from "../../Connection.js"
import * as Backoff from "./backoff.js"

/** Where the app's bearer token comes from: a value, a promise, or an Effect. */
export type GetToken = () => string | PromiseLike<string> | Effect.Effect<string, unknown>

/** What differs between the WebSocket and the HTTP transport. @internal */
export interface Driver {
  /** Opens one connection in the scope, sending the token `token` gives with each request. */
  readonly open: (token: Effect.Effect<string>) => Effect.Effect<RpcTransport.RpcTransportShape, never, Scope.Scope>
  /**
   * Runs while connected: pushes pages from `from` on (it waits for the cursor to be known),
   * `from` being asked again when the session is resumed. Fails when the connection breaks or
   * the server ends it.
   */
  readonly session: (
    transport: RpcTransport.RpcTransportShape,
    from: Effect.Effect<number>,
    push: (push: Push) => Effect.Effect<void>
  ) => Effect.Effect<never, SyncTransport.TransportError>
}

/** The supervisor's settings. @internal */
export interface Settings {
  readonly getToken: GetToken
  readonly backoff: Backoff.Backoff
}

/** A live connection: its transport and the signal that it broke. */
interface Generation {
  readonly transport: RpcTransport.RpcTransportShape
  readonly broken: Deferred.Deferred<void>
}

/** A `TransportError` standing for `cause` (read back with `RpcTransport.cause` or `.cause`). */
export const transportError = (detail: string, cause: unknown): SyncTransport.TransportError => {
  const error = new SyncTransport.TransportError({ detail })
  error.cause = cause
  return error
}

/** Whether the server answered the call with `Unauthorized` (a token to refresh). */
export const isUnauthorized = (error: { readonly _tag: string }): boolean =>
  error._tag === "TransportError" && (error as SyncTransport.TransportError).cause instanceof SyncRpc.Unauthorized

/**
 * Whether the error says the connection itself failed (nothing the server answered): the
 * generation is then broken and replaced.
 */
const isNetworkFailure = (error: { readonly _tag: string }): boolean => {
  if (error._tag !== "TransportError") return false
  const cause = (error as SyncTransport.TransportError).cause
  return !(cause instanceof Error && "_tag" in cause && serverTags.has(String(cause._tag)))
}

const serverTags = new Set(["Unauthorized", "LimitExceeded", "ServerFailure", "FetchRejected"])

/** Builds the supervisor and starts it in the scope; returns the engine's port and the connection. @internal */
export const make = (
  driver: Driver,
  settings: Settings
): Effect.Effect<
  { readonly transport: SyncTransport.SyncTransportShape; readonly connection: ConnectionShape },
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const state = yield* SubscriptionRef.make<ConnectionState>("connecting")
    const enabled = yield* SubscriptionRef.make(true)
    const cursor = yield* SubscriptionRef.make<Option.Option<number>>(Option.none())
    const token = yield* Ref.make<Option.Option<string>>(Option.none())
    const current = yield* Ref.make<Option.Option<Generation>>(Option.none())
    const pushes = yield* Queue.bounded<Push>(8)
    yield* Effect.addFinalizer(() => Queue.shutdown(pushes))

    /** Asks the app for a token and keeps it for the requests that follow. */
    const refreshToken: Effect.Effect<string, SyncTransport.TransportError> = Effect.suspend(() => {
      let got: ReturnType<GetToken>
      try {
        got = settings.getToken()
      } catch (thrown) {
        return Effect.fail(thrown)
      }
      return Effect.isEffect(got)
        ? got
        : typeof got === "string"
        ? Effect.succeed(got)
        : Effect.tryPromise({ try: () => Promise.resolve(got), catch: (e) => e })
    }).pipe(
      Effect.mapError((e) => {
        const cause = new TokenUnavailable({ detail: e instanceof Error ? e.message : String(e) })
        return transportError(cause.message, cause)
      }),
      Effect.tap((t) => Ref.set(token, Option.some(t)))
    )
    const requestToken: Effect.Effect<string> = Effect.flatMap(Ref.get(token), Option.match({
      onSome: Effect.succeed,
      onNone: () => Effect.orElseSucceed(refreshToken, () => "")
    }))

    /** Runs `call` once, and once more with a fresh token when the server says `Unauthorized`. */
    const withFreshToken = <A, E extends { readonly _tag: string }>(call: Effect.Effect<A, E>) =>
      Effect.catchIf(call, isUnauthorized, () => Effect.zipRight(refreshToken, call))

    const awaitCursor: Effect.Effect<number> = cursor.changes.pipe(
      Stream.filterMap((c) => c),
      Stream.runHead,
      Effect.map(Option.getOrElse(() => 0))
    )

    /** One generation: connect, go online, serve the session until the connection breaks. */
    const connectAndServe = (onOnline: Effect.Effect<void>) =>
      Effect.scoped(Effect.gen(function*() {
        yield* SubscriptionRef.set(state, "connecting")
        yield* refreshToken
        const transport = yield* driver.open(requestToken)
        yield* withFreshToken(transport.head())
        const broken = yield* Deferred.make<void>()
        yield* Effect.acquireRelease(
          Ref.set(current, Option.some({ transport, broken })),
          () => Ref.set(current, Option.none())
        )
        yield* SubscriptionRef.set(state, "online")
        yield* onOnline
        let resumedFrom = 0
        const session = driver.session(
          transport,
          Effect.map(awaitCursor, (c) => Math.max(c, resumedFrom)),
          (push) => Effect.zipRight(Queue.offer(pushes, push), Effect.sync(() => { resumedFrom = push.page.next }))
        )
        // A session ended by Unauthorized (an expired token) resumes once with a fresh one; a
        // second refusal in a row ends the generation (the next one starts with a fresh token).
        const served = session.pipe(
          Effect.tapError((error) => isUnauthorized(error) ? Effect.ignore(refreshToken) : Effect.void),
          Effect.retry({ while: isUnauthorized, times: 1 })
        )
        return yield* Effect.raceFirst(served, Deferred.await(broken))
      }))

    const awaitEnabled = (value: boolean) =>
      enabled.changes.pipe(Stream.filter((e) => e === value), Stream.runHead, Effect.asVoid)

    const supervise = Effect.gen(function*() {
      let attempt = 0
      for (;;) {
        yield* awaitEnabled(true)
        const iteration = Effect.gen(function*() {
          yield* Effect.exit(connectAndServe(Effect.sync(() => { attempt = 0 })))
          yield* SubscriptionRef.set(state, "offline")
          yield* Effect.sleep(yield* Backoff.delay(settings.backoff, attempt))
          attempt += 1
        })
        yield* Effect.raceFirst(iteration, awaitEnabled(false))
        if (!(yield* SubscriptionRef.get(enabled))) yield* SubscriptionRef.set(state, "offline")
      }
    })
    yield* Effect.forkScoped(Effect.interruptible(supervise))

    /** A call on the current generation, failing fast when there is none. */
    const call = <A, E extends { readonly _tag: string }>(
      f: (transport: RpcTransport.RpcTransportShape) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | SyncTransport.TransportError> =>
      Effect.gen(function*() {
        if (!(yield* SubscriptionRef.get(enabled))) {
          const offline = new Offline()
          return yield* Effect.fail(transportError(offline.message, offline))
        }
        const generation = yield* Ref.get(current)
        if (Option.isNone(generation)) {
          const now = yield* SubscriptionRef.get(state)
          const notConnected = new NotConnected({ state: now === "offline" ? "offline" : "connecting" })
          return yield* Effect.fail(transportError(notConnected.message, notConnected))
        }
        const { broken, transport } = generation.value
        // A call that fails for the network is tried once more before the connection is given
        // up: an HTTP keep-alive socket the server closed while idle fails the first request
        // sent on it. Every call is safe to repeat (uploads are idempotent, R-SYNC-5).
        const attempt = withFreshToken(f(transport))
        return yield* attempt.pipe(
          Effect.catchIf(isNetworkFailure, () => attempt),
          Effect.tapError((error) => isNetworkFailure(error) ? Deferred.succeed(broken, undefined) : Effect.void)
        )
      })

    const transport: SyncTransport.SyncTransportShape = {
      upload: (request: SyncProtocol.UploadRequest) => call((t) => t.upload(request)),
      fetch: (request: SyncProtocol.FetchRequest) => call((t) => t.fetch(request))
    }
    const connection: ConnectionShape = {
      state: SubscriptionRef.get(state),
      changes: state.changes,
      pushes: Stream.fromQueue(pushes),
      setCursor: (c) => SubscriptionRef.update(cursor, (old) => Option.some(Math.max(c, Option.getOrElse(old, () => 0)))),
      setEnabled: (e) => SubscriptionRef.set(enabled, e),
      enabled: SubscriptionRef.get(enabled)
    }
    return { transport, connection }
  })
