/**
 * One subscription: pages of the log after a cursor, read on demand, waiting on the process's
 * head signal once caught up; and the per-user subscription slots.
 *
 * @internal
 */
import { SyncRpc, type SyncProtocol, type SyncServer } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { HeadSignal } from "./headSignal.js"

/** Reads one page from `since` (the server's fetch, under the subscriber's identity). @internal */
export type ReadPage = (since: number) => Effect.Effect<SyncProtocol.FetchResponse, SyncServer.FetchError>

interface State {
  readonly cursor: number
  /** The last page emitted, or undefined before the first. */
  readonly last: SyncProtocol.FetchResponse | undefined
  /** The signal's version noted just before the last page was read. */
  readonly noted: number
}

/**
 * The pages after `since`: the first page always (the subscriber learns the head and that it
 * is subscribed), then each page that has actions or moves the cursor or the head. A page is
 * read only when the consumer pulls: a slow consumer is served pages as it takes them, nothing
 * is read ahead and nothing queues. Between pulls, a caught-up subscriber waits on `signal` for
 * a wake-up newer than its last read whose head is above its cursor. @internal
 */
export const pages = (
  signal: HeadSignal,
  read: ReadPage,
  since: number
): Stream.Stream<SyncProtocol.FetchResponse, SyncServer.FetchError> =>
  Stream.unfoldEffect<State, SyncProtocol.FetchResponse, SyncServer.FetchError, never>(
    { cursor: since, last: undefined, noted: 0 },
    (state) => Effect.map(nextPage(signal, read, state), Option.some)
  )

const nextPage = (
  signal: HeadSignal,
  read: ReadPage,
  state: State
): Effect.Effect<readonly [SyncProtocol.FetchResponse, State], SyncServer.FetchError> =>
  Effect.gen(function*() {
    let { cursor, noted } = state
    let seen = state.last
    // A caught-up subscriber waits for news before reading again; one with more to read does not.
    let wait = seen !== undefined && !seen.hasMore
    for (;;) {
      if (wait) yield* signal.await(noted, cursor)
      // Noted before the read: a commit the read does not see notifies after this point.
      noted = yield* signal.version
      const page = yield* read(cursor)
      const moved = seen === undefined || page.actions.length > 0 || page.next !== seen.next || page.head !== seen.head
      cursor = page.next
      if (moved) return [page, { cursor, last: page, noted }] as const
      // Nothing new for this caller (a page without actions has no more): wait again.
      seen = page
      wait = true
    }
  })

/** Per-user subscription slots. @internal */
export interface Slots {
  /** Takes one of `userId`'s slots until the scope closes, or fails when all are taken. */
  readonly take: (userId: string) => Effect.Effect<void, SyncRpc.LimitExceeded, Scope.Scope>
  /** How many subscriptions `userId` has open. */
  readonly open: (userId: string) => Effect.Effect<number>
}

/** Slots for at most `max` concurrent subscriptions per user. @internal */
export const makeSlots = (max: number): Slots => {
  const counts = new Map<string, number>()
  const release = (userId: string) =>
    Effect.sync(() => {
      const n = (counts.get(userId) ?? 1) - 1
      if (n <= 0) counts.delete(userId)
      else counts.set(userId, n)
    })
  return {
    take: (userId) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const n = counts.get(userId) ?? 0
          if (n >= max) {
            return Effect.fail(
              new SyncRpc.LimitExceeded({
                limit: "subscriptionsPerUser",
                max,
                detail: `this user already has ${n} open subscriptions; close one (or use one subscription per ` +
                  `client) before subscribing again`
              })
            )
          }
          counts.set(userId, n + 1)
          return Effect.void
        }),
        () => release(userId)
      ),
    open: (userId) => Effect.sync(() => counts.get(userId) ?? 0)
  }
}
