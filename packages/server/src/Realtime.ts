/**
 * Realtime push (R-SRV-5): a subscription streams, to its caller, the pages of the log it may
 * see from a cursor on, as they are committed, and it works across server processes.
 *
 * How it works:
 * - A commit that moves the head NOTIFYs the head channel (inside the upload's transaction, so
 *   listeners hear it only once it is committed). Each process holds ONE LISTEN connection;
 *   what it hears wakes every subscriber of that process (the process's head signal). Several
 *   stateless processes behind any load balancer on one Postgres all hear every commit.
 * - A subscriber reads through `SyncServer.fetch` under its own identity, so what it receives
 *   is exactly what `fetch` would return to it, page for page: catch-up pages after `since`
 *   first, then, once caught up, one page per wake-up. Each page starts at the previous page's
 *   `next`, so nothing is skipped and nothing repeats. A client applies each page as it
 *   arrives, without fetching it again (`SyncEngine.applyPushed(since, page)`, the cursor each
 *   page starts at given by `RpcTransport.withSince`); its engine pulls when a page does not
 *   start at its watermark.
 * - No timer on the path: a commit's NOTIFY wakes the subscribers at once, each reads its page
 *   and it is sent as soon as it is read (no batching window, no debounce).
 * - Pull-based: the next page is read only when the consumer has taken the previous one. A
 *   slow consumer gets fuller pages (each of at most the request's `limit` actions) later,
 *   never a queue that grows. Over `@effect/rpc`, the server pulls the next page once the
 *   client has acknowledged the previous one, which its client does when the page fits in the
 *   call's stream buffer (`streamBufferSize`, 16 pages by default): the read-ahead over the
 *   network is bounded by that buffer.
 * - Which pages are sent: the first page always (even empty: it tells the subscriber the head
 *   and that the subscription is live), then every page that has actions OR moves `next` or
 *   `head`. A client must learn the new cursor even when every new action is outside its
 *   audiences: its uploads are head-gated on what it can see (R-SYNC-6), and the cursor spares
 *   it re-scanning. Pages that bring nothing new are not sent.
 * - No heartbeat elements: an empty page would carry nothing a client can use, and keeping a
 *   connection alive is the transport's job (`@effect/rpc`'s socket protocol pings every 10 s).
 * - Missed NOTIFY safety: the LISTEN connection pings itself; when a ping does not come back
 *   (the connection dropped), a new LISTEN connection is opened, the head is re-read and every
 *   subscriber re-reads from its cursor. A re-check of the head every `recheckInterval`
 *   (30 s) is a safety net only: normal delivery never waits for it.
 * - Limits: at most `maxSubscriptionsPerUser` open subscriptions per user (`LimitExceeded`
 *   with `limit: "subscriptionsPerUser"`); a subscription's slot is freed when its stream ends.
 * - Shutdown: when the layer's scope closes, every subscription stream ends (a client
 *   resubscribes from its last `next`, on this process or another).
 *
 * @example
 * ```ts
 * // On Postgres (the server's PgClient holds the LISTEN connection):
 * const RealtimeLive = Realtime.layer().pipe(Layer.provide(SyncService.layer()), Layer.provideMerge(PgClient.layer({ url })))
 * const program = Effect.gen(function*() {
 *   const realtime = yield* Realtime.Realtime
 *   yield* Stream.runForEach(realtime.subscribe(caller, { since: 0, limit: 100 }), (page) => apply(page))
 * })
 * ```
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { type SyncProtocol, type SyncRpc, SyncServer } from "@reprise/core"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as HeadSignal from "./internal/realtime/headSignal.js"
import * as Subscription from "./internal/realtime/subscription.js"

/** Options of the realtime service. */
export interface Options {
  /** How many subscriptions one user may hold open at once (10 by default). */
  readonly maxSubscriptionsPerUser?: number
  /**
   * How often the head is re-read from the database as a safety net (30 s by default). It is
   * not the delivery mechanism: NOTIFY wakes subscribers as soon as a commit lands.
   */
  readonly recheckInterval?: Duration.DurationInput
  /** How often the LISTEN connection pings itself to prove it is alive (10 s by default). */
  readonly pingInterval?: Duration.DurationInput
  /** How long a ping may take to come back before the LISTEN connection is replaced (5 s by default). */
  readonly pingTimeout?: Duration.DurationInput
}

/** The realtime service's shape. */
export interface RealtimeShape {
  /**
   * The pages `caller` may see after `request.since`, each of at most `request.limit` actions,
   * as `fetch` returns them, then new pages as commits land, until the stream is closed or the
   * service shuts down. Fails with `FetchRejected` for a request out of the protocol's range,
   * `ServerFailure` when the database fails (resubscribe from the last `next`), and
   * `LimitExceeded` when the caller already holds `maxSubscriptionsPerUser` subscriptions.
   */
  readonly subscribe: (
    caller: SyncRpc.CallerShape,
    request: SyncProtocol.FetchRequest
  ) => Stream.Stream<SyncProtocol.FetchResponse, SyncServer.FetchError | SyncRpc.LimitExceeded>
  /** Whether this process currently holds a working LISTEN connection (for health checks). */
  readonly isListening: Effect.Effect<boolean>
  /** Completes once this process holds a working LISTEN connection. */
  readonly awaitListening: Effect.Effect<void>
}

/** The realtime service (one per server process). */
export class Realtime extends Context.Tag("@reprise/server/Realtime")<Realtime, RealtimeShape>() {}

/** A driver's LISTEN: the payloads notified on `channel` (`PgClient.listen`, `PgliteClient.listen`). */
export type Listen = (channel: string) => Stream.Stream<string, SqlError>

/**
 * Builds the service with `listen` as its LISTEN: its fibers (the LISTEN session and the safety
 * re-check) run until the scope closes, and then every subscription stream ends.
 */
export const make = (
  listen: Listen,
  options: Options = {}
): Effect.Effect<RealtimeShape, never, Scope.Scope | SqlClient.SqlClient | SyncServer.SyncServer> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const server = yield* SyncServer.SyncServer
    const max = options.maxSubscriptionsPerUser ?? 10
    if (!Number.isSafeInteger(max) || max < 1) {
      return yield* Effect.dieMessage(`Realtime: maxSubscriptionsPerUser must be a positive integer, got ${max}`)
    }
    const signal = yield* HeadSignal.make({
      listen,
      sql,
      pingInterval: Duration.decode(options.pingInterval ?? "10 seconds"),
      pingTimeout: Duration.decode(options.pingTimeout ?? "5 seconds"),
      recheckInterval: Duration.decode(options.recheckInterval ?? "30 seconds")
    })
    // Added after the signal's fibers, this finalizer runs before they stop: subscriptions end first.
    const shutdown = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(shutdown, undefined))
    const slots = Subscription.makeSlots(max)

    const subscribe = (
      caller: SyncRpc.CallerShape,
      request: SyncProtocol.FetchRequest
    ): Stream.Stream<SyncProtocol.FetchResponse, SyncServer.FetchError | SyncRpc.LimitExceeded> =>
      Stream.unwrapScoped(Effect.gen(function*() {
        yield* slots.take(caller.userId)
        const read: Subscription.ReadPage = (since) =>
          server.fetch(caller.userId, { since, limit: request.limit }, caller.claims)
        return Subscription.pages(signal, read, request.since)
      })).pipe(Stream.interruptWhenDeferred(shutdown))

    const shape: RealtimeShape = {
      subscribe,
      isListening: signal.isListening,
      awaitListening: signal.awaitListening
    }
    return shape
  })

/**
 * The service on Postgres: the server's `PgClient` holds the process's LISTEN connection (one
 * dedicated connection outside its pool) and sends the pings through its pool.
 *
 * `PgClient` shares that one connection among all its `listen` streams and replaces it only
 * when the last of them ends; so that a dropped connection can be replaced, nothing else in the
 * process should hold a `listen` stream of the same `PgClient` open for good.
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Realtime, never, PgClient.PgClient | SyncServer.SyncServer> =>
  Layer.scoped(
    Realtime,
    Effect.flatMap(PgClient.PgClient, (pg) => make(pg.listen, options).pipe(Effect.provideService(SqlClient.SqlClient, pg)))
  )

/**
 * The service on any driver that can LISTEN, given its `listen` (for an in-process server on
 * PGlite: `PgliteClient.listen`, which listens on PGlite's single session).
 *
 * @example
 * ```ts
 * const RealtimeLive = Layer.unwrapEffect(
 *   Effect.map(PgliteClient.PgliteClient, (client) => Realtime.layerWithListen(client.listen))
 * )
 * ```
 */
export const layerWithListen = (
  listen: Listen,
  options: Options = {}
): Layer.Layer<Realtime, never, SqlClient.SqlClient | SyncServer.SyncServer> => Layer.scoped(Realtime, make(listen, options))
