/**
 * The process's head signal: ONE `LISTEN` on the head channel, kept alive, turning each commit's
 * NOTIFY into a wake-up for every subscriber of the process.
 *
 * The signal is an event count with the latest head: every notification, every (re)established
 * LISTEN and every safety re-check bumps `version`. A subscriber notes the version BEFORE it
 * reads a page; after a page that left it caught up it waits for a version above the noted one
 * whose head is above its cursor. A commit the read did not see notifies after the read began,
 * so it always bumps the version past the noted one: no wake-up is lost, and a notification the
 * page already covered costs one empty read at most. Waiting on a NEW version (not merely a head
 * above the cursor) means a page that makes no progress is never re-read in a loop, whatever
 * the payload claimed (any role may NOTIFY any channel; the payload is a hint, the page is read
 * under the caller's identity).
 *
 * Keeping the LISTEN alive: `@effect/sql-pg`'s `listen` holds one dedicated connection (a
 * `pg.Client` outside the pool, shared by every `listen` of that `PgClient` and closed when the
 * last one ends) and swallows that connection's errors: a dropped connection goes silent, it
 * neither fails nor reconnects. So the session pings itself: a payload `ping:<token>:<n>` on
 * the head channel, sent through the pool, must come back on the LISTEN connection within the
 * ping timeout, else the session ends (UNLISTEN, the connection closed) and a new one starts.
 * Each session, once its first ping came back (its LISTEN is in place: Postgres delivers every
 * commit from then on), reads the head from the database and bumps the version, so subscribers
 * re-read from their cursors whatever was committed while nobody listened.
 *
 * A separate fiber re-reads the head every `recheckInterval` as a safety net (a wake-up lost
 * by a fault the ping cannot see); it is not how pages are delivered.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Page from "../page.js"
import * as Log from "../sql/log.js"

/** What the signal holds: how many wake-ups there were, and the latest head heard or read. @internal */
export interface SignalState {
  readonly version: number
  readonly head: number
}

/** The process's head signal. @internal */
export interface HeadSignal {
  /** The current version (note it before reading a page). */
  readonly version: Effect.Effect<number>
  /** Completes at the first state whose version is above `version` and whose head is above `cursor`. */
  readonly await: (version: number, cursor: number) => Effect.Effect<void>
  /** Whether a LISTEN session is established (its first ping came back). */
  readonly isListening: Effect.Effect<boolean>
  /** Completes once a LISTEN session is established. */
  readonly awaitListening: Effect.Effect<void>
  /** How many LISTEN sessions were established so far (1 after start, more after reconnects). */
  readonly sessions: Effect.Effect<number>
}

/** A subscriber waiting for a version above `version` whose head is above `cursor`. */
interface Waiter {
  readonly version: number
  readonly cursor: number
  readonly done: Deferred.Deferred<void>
}

/** How the signal listens. @internal */
export interface HeadSignalConfig {
  /** The driver's LISTEN (`PgClient.listen`, `PgliteClient.listen`). */
  readonly listen: (channel: string) => Stream.Stream<string, SqlError>
  /** The client that sends pings and reads the head. */
  readonly sql: SqlClient.SqlClient
  readonly pingInterval: Duration.Duration
  readonly pingTimeout: Duration.Duration
  readonly recheckInterval: Duration.Duration
}

/** The LISTEN connection stopped answering its pings. */
class ListenLost extends Data.TaggedError("ListenLost")<{ readonly message: string }> {}

const HEAD = /^\d{1,16}$/

/**
 * Starts the signal's fibers in the current scope: they stop, and the LISTEN ends, when it
 * closes. @internal
 */
export const make = (config: HeadSignalConfig): Effect.Effect<HeadSignal, never, Scope.Scope> =>
  Effect.gen(function*() {
    // The state and its waiters are plain: `await` is on the path of every page a commit wakes,
    // and a stream of a SubscriptionRef's changes (a PubSub subscription, filtered, per wait)
    // costs milliseconds of scheduler hops per wake-up where resolving a Deferred costs
    // microseconds. Every change goes through `publish`, which wakes the waiters it satisfies.
    let state: SignalState = { version: 0, head: 0 }
    const waiters = new Set<Waiter>()
    const publish = (next: SignalState) => {
      state = next
      for (const waiter of waiters) {
        if (next.version > waiter.version && next.head > waiter.cursor) {
          waiters.delete(waiter)
          Deferred.unsafeDone(waiter.done, Exit.void)
        }
      }
    }
    const listening = yield* SubscriptionRef.make(false)
    const sessions = yield* Ref.make(0)
    const token = `${(yield* Random.nextIntBetween(0, 2 ** 30)).toString(36)}${(yield* Random.nextIntBetween(0, 2 ** 30)).toString(36)}`
    const pingPrefix = `ping:${token}:`

    // A notification's head replaces the latest (commits notify in commit order); a head read
    // from the database only raises it, since a read can finish after a later notification.
    const heard = (head: number) => Effect.sync(() => publish({ version: state.version + 1, head }))
    const read = (head: number) =>
      Effect.sync(() => publish({ version: state.version + 1, head: Math.max(state.head, head) }))
    // Statements run uninterruptibly: `@effect/sql-pg` cancels an interrupted statement with a
    // `pg_cancel_backend` that can land on the pooled connection's NEXT statement, another
    // request's (see `toTheEnd` in SyncService.ts). The first ping races its answer, so an
    // interruptible ping would do exactly that at every start.
    const readHead = Effect.flatMap(Effect.uninterruptible(Page.readHead(config.sql)), read)

    const session = Effect.gen(function*() {
      const pings = yield* SubscriptionRef.make(0)
      let sent = 0
      const onPayload = (payload: string): Effect.Effect<void> => {
        if (HEAD.test(payload)) return Effect.withSpan(heard(Number(payload)), "Realtime.notified")
        if (payload.startsWith(pingPrefix)) {
          const n = Number(payload.slice(pingPrefix.length))
          return SubscriptionRef.update(pings, (last) => Math.max(last, n))
        }
        return Effect.void
      }
      const listener = yield* Effect.forkScoped(Stream.runForEach(config.listen(Log.headChannel), onPayload))
      const ping = Effect.uninterruptible(
        Effect.suspend(() => Effect.asVoid(config.sql`SELECT pg_notify(${Log.headChannel}, ${pingPrefix + ++sent})`))
      )
      const answered = (n: number) => Stream.runDrain(Stream.take(Stream.filter(pings.changes, (last) => last >= n), 1))
      const lost = (message: string) => new ListenLost({ message })

      // LISTEN is issued asynchronously: ping until one comes back.
      yield* Effect.raceFirst(
        answered(1),
        Effect.forever(Effect.zipRight(ping, Effect.sleep("50 millis")))
      ).pipe(
        Effect.timeoutFail({ duration: config.pingTimeout, onTimeout: () => lost("no ping came back after LISTEN") })
      )
      yield* readHead
      yield* Ref.update(sessions, (n) => n + 1)
      yield* SubscriptionRef.set(listening, true)

      const alive = Effect.gen(function*() {
        yield* Effect.sleep(config.pingInterval)
        yield* ping
        yield* answered(sent).pipe(
          Effect.timeoutFail({
            duration: config.pingTimeout,
            onTimeout: () => lost(`ping ${sent} did not come back within ${Duration.format(config.pingTimeout)}`)
          })
        )
      }).pipe(Effect.forever)
      const ended = Effect.zipRight(listener.await, Effect.fail(lost("the LISTEN stream ended")))
      return yield* Effect.raceFirst(alive, ended)
    }).pipe(
      Effect.scoped,
      Effect.ensuring(SubscriptionRef.set(listening, false)),
      Effect.catchAllCause((cause) =>
        Effect.logWarning("Realtime: the LISTEN session ended; starting a new one", cause)
      )
    )

    yield* session.pipe(
      // Back off while sessions keep failing (at most 5 s apart); a session that lasted a
      // minute starts the backoff over.
      Effect.repeat(Schedule.exponential("100 millis", 2).pipe(
        Schedule.union(Schedule.spaced("5 seconds")),
        Schedule.resetAfter("1 minute")
      )),
      Effect.interruptible,
      Effect.forkScoped
    )
    yield* readHead.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("Realtime: the safety re-check could not read the head", cause)),
      Effect.delay(config.recheckInterval),
      Effect.forever,
      Effect.interruptible,
      Effect.forkScoped
    )

    const signal: HeadSignal = {
      version: Effect.sync(() => state.version),
      await: (version, cursor) =>
        Effect.flatMap(Deferred.make<void>(), (done) =>
          Effect.suspend(() => {
            if (state.version > version && state.head > cursor) return Effect.void
            const waiter: Waiter = { version, cursor, done }
            waiters.add(waiter)
            // An interrupted wait (the subscription closed) leaves no waiter behind.
            return Effect.ensuring(Deferred.await(done), Effect.sync(() => waiters.delete(waiter)))
          })),
      isListening: SubscriptionRef.get(listening),
      awaitListening: Stream.runDrain(Stream.take(Stream.filter(listening.changes, (on) => on), 1)),
      sessions: Ref.get(sessions)
    }
    return signal
  })
