/**
 * The sync loop: keeps a replica in sync with the server without the app asking. It syncs
 *
 * - soon after local actions (`nudge`; a burst of nudges is served by one sync),
 * - when the server pushes a page (applied with `SyncEngine.applyPushed`, then an upload if
 *   anything is pending),
 * - whenever the connection comes (back) online,
 * - and every `interval` as a fallback.
 *
 * Never two at once: every sync goes through the engine's single-flight `requestSync` (pushed
 * pages through `applyPushed`, which the engine serializes with it). A failed sync is kept for
 * the status (`lastError`) and retried after a jittered backoff while the connection is online;
 * nothing is attempted while it is not (a local action stays pending in the database, and the
 * sync that follows the reconnect uploads it). Errors never stop the loop.
 *
 * @example
 * ```ts
 * const loop = yield* SyncLoop.SyncLoop
 * yield* loop.nudge                 // after writing local actions (Client.run does it)
 * const report = yield* loop.syncNow // or wait for a sync and see what it did
 * ```
 */
import { SyncEngine } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Connection, type Push } from "./Connection.js"
import { Inspect } from "./Inspect.js"
import * as Backoff from "./internal/transport/backoff.js"

/** Options of the loop. */
export interface Options {
  /** The fallback: a sync at least this often while online; 30 s by default. */
  readonly interval?: Duration.DurationInput
  /** How long after a nudge the sync starts, so a burst of local actions is uploaded together; 10 ms by default. */
  readonly debounce?: Duration.DurationInput
  /** The waits before retrying a failed sync: from 1 s, doubling, at most 60 s by default. */
  readonly retryBackoff?: Backoff.BackoffOptions
}

/** What the loop knows of its syncs, for the status. */
export interface LoopState {
  /** Epoch ms of the last successful sync (or applied push); null before the first. */
  readonly lastSyncAt: number | null
  /** The last sync's error; null once a sync succeeds. */
  readonly lastError: SyncEngine.SyncError | null
  /** The highest server head this replica has been told of. */
  readonly knownHead: number
  /** The cursor after the last sync: everything up to it is applied. */
  readonly cursor: number
  /** Bumped on each nudge (local actions were written: the pending count may have changed). */
  readonly revision: number
}

/** The loop's shape. */
export interface SyncLoopShape {
  /** Tells the loop local actions were written: one sync follows soon after, for a burst of them. */
  readonly nudge: Effect.Effect<void>
  /** Runs a sync now (or joins the one running) and returns its report. */
  readonly syncNow: Effect.Effect<SyncEngine.SyncReport, SyncEngine.SyncError>
  /** The loop's state, now. */
  readonly state: Effect.Effect<LoopState>
  /** The loop's state, then every change. */
  readonly changes: Stream.Stream<LoopState>
}

/** The sync loop. */
export class SyncLoop extends Context.Tag("@reprise/client/SyncLoop")<SyncLoop, SyncLoopShape>() {}

/** Starts the loop in the scope (it stops with it). */
export const make = (
  options: Options = {}
): Effect.Effect<SyncLoopShape, never, SyncEngine.SyncEngine | Connection | Inspect | Scope.Scope> =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    const connection = yield* Connection
    const inspect = yield* Inspect
    const interval = Duration.decode(options.interval ?? "30 seconds")
    const debounce = Duration.decode(options.debounce ?? "10 millis")
    const retry = yield* Effect.orDie(Effect.try(() => Backoff.resolve({ initial: "1 second", max: "60 seconds", ...options.retryBackoff })))
    const state = yield* SubscriptionRef.make<LoopState>({ lastSyncAt: null, lastError: null, knownHead: 0, cursor: 0, revision: 0 })
    const wakes = yield* Queue.dropping<void>(1)
    const wake = Effect.asVoid(Queue.offer(wakes, undefined))

    /** Records how a sync (or an applied push) ended, and passes the new cursor on to the connection. */
    const record = <A>(exit: Exit.Exit<A, SyncEngine.SyncError>, head: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const cursor = yield* Effect.orElseSucceed(inspect.cursor, () => -1)
        if (cursor >= 0) yield* connection.setCursor(cursor)
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        yield* SubscriptionRef.update(state, (s) => ({
          ...s,
          cursor: cursor >= 0 ? Math.max(s.cursor, cursor) : s.cursor,
          knownHead: Math.max(s.knownHead, head, Exit.isSuccess(exit) && cursor >= 0 ? cursor : 0),
          lastSyncAt: Exit.isSuccess(exit) ? now : s.lastSyncAt,
          lastError: Exit.isSuccess(exit) ? null : Option.getOrElse(failure, () => s.lastError)
        }))
      })

    const syncNow = Effect.flatMap(Effect.exit(engine.requestSync), (exit) => Effect.zipRight(record(exit, 0), exit))

    const applyPush = (push: Push) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(engine.applyPushed(push.since, push.page))
        yield* record(exit, push.page.head)
        if (Exit.isFailure(exit)) return yield* wake
        const counts = yield* Effect.either(inspect.counts)
        if (counts._tag === "Left" || counts.right.pending > 0) yield* wake
      })

    const worker = Effect.gen(function*() {
      let attempt = 0
      let retryAfter: Option.Option<Duration.Duration> = Option.none()
      for (;;) {
        const waitForWake = Queue.take(wakes)
        yield* Option.match(retryAfter, {
          onNone: () => waitForWake,
          onSome: (d) => Effect.raceFirst(waitForWake, Effect.sleep(d))
        })
        yield* Effect.sleep(debounce)
        yield* Queue.takeAll(wakes)
        retryAfter = Option.none()
        if ((yield* connection.state) !== "online") continue
        const exit = yield* Effect.exit(syncNow)
        if (Exit.isSuccess(exit)) {
          attempt = 0
        } else {
          retryAfter = Option.some(yield* Backoff.delay(retry, attempt))
          attempt += 1
        }
      }
    })

    yield* Effect.forkScoped(worker)
    yield* Effect.forkScoped(Stream.runForEach(connection.changes, (s) => (s === "online" ? wake : Effect.void)))
    yield* Effect.forkScoped(Stream.runForEach(connection.pushes, applyPush))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(interval), wake)))
    yield* wake

    return {
      nudge: Effect.zipRight(SubscriptionRef.update(state, (s) => ({ ...s, revision: s.revision + 1 })), wake),
      syncNow,
      state: SubscriptionRef.get(state),
      changes: state.changes
    }
  })

/** The loop as a layer, over the engine, the connection and the inspector in context. */
export const layer = (
  options: Options = {}
): Layer.Layer<SyncLoop, never, SyncEngine.SyncEngine | Connection | Inspect> => Layer.scoped(SyncLoop, make(options))
