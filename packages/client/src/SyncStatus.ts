/**
 * The sync status as a stream (R-CLI-1): the connection (online, connecting, offline), how many
 * local actions wait for the server and how many it rejected (quarantined), when the last
 * sync succeeded, whether the replica is caught up, and the last error, typed. What an app
 * shows in its status bar, and what its tests wait on.
 *
 * @example
 * ```ts
 * const status = yield* SyncStatus.Status
 * yield* Stream.runForEach(status.changes, (s) =>
 *   Effect.log(`${s.connection}: ${s.pending} pending${s.caughtUp ? ", up to date" : ""}`))
 * ```
 */
import type { SyncEngine } from "@reprise/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Connection, type ConnectionState } from "./Connection.js"
import * as Inspect from "./Inspect.js"
import { type LoopState, SyncLoop } from "./SyncLoop.js"

/** One reading of the status. */
export interface SyncStatus {
  readonly connection: ConnectionState
  /** This replica's actions the server does not have yet. */
  readonly pending: number
  /** This replica's actions the server rejected, waiting for the app (discard or retry). */
  readonly quarantined: number
  /** Epoch ms of the last successful sync; null before the first. */
  readonly lastSyncAt: number | null
  /**
   * Online, nothing pending, the last sync succeeded and reached the highest head the server
   * has told this replica of.
   */
  readonly caughtUp: boolean
  /** The last sync's typed error; cleared by the next success. */
  readonly lastError: SyncEngine.SyncError | null
}

/** The status service's shape. */
export interface StatusShape {
  /** The status now (read afresh). */
  readonly current: Effect.Effect<SyncStatus>
  /** The status, then every change. */
  readonly changes: Stream.Stream<SyncStatus>
}

/** The sync status. */
export class Status extends Context.Tag("@reprise/client/SyncStatus/Status")<Status, StatusShape>() {}

/** Whether two readings say the same (errors compared by identity). */
const same = (a: SyncStatus, b: SyncStatus): boolean =>
  a.connection === b.connection && a.pending === b.pending && a.quarantined === b.quarantined &&
  a.lastSyncAt === b.lastSyncAt && a.caughtUp === b.caughtUp && Equal.equals(a.lastError, b.lastError)

/**
 * The status of the loop and connection in context, the counts read from `Inspect` whenever
 * either changes (and after every nudge, when local actions were written).
 */
export const layer: Layer.Layer<Status, never, SyncLoop | Connection | Inspect.Inspect> = Layer.scoped(
  Status,
  Effect.gen(function*() {
    const loop = yield* SyncLoop
    const connection = yield* Connection
    const inspect = yield* Inspect.Inspect

    const read = (loopState: LoopState, state: ConnectionState) =>
      Effect.map(
        Effect.orElseSucceed(inspect.counts, (): Inspect.Counts => ({ pending: -1, quarantined: -1 })),
        (counts): SyncStatus => ({
          connection: state,
          pending: Math.max(counts.pending, 0),
          quarantined: Math.max(counts.quarantined, 0),
          lastSyncAt: loopState.lastSyncAt,
          lastError: loopState.lastError,
          caughtUp: state === "online" && counts.pending === 0 && loopState.lastError === null &&
            loopState.lastSyncAt !== null && loopState.cursor >= loopState.knownHead
        })
      )
    const current = Effect.flatMap(Effect.zip(loop.state, connection.state), ([l, c]) => read(l, c))
    const ref = yield* SubscriptionRef.make(yield* current)
    const refresh = Effect.flatMap(current, (next) =>
      SubscriptionRef.update(ref, (previous) => (same(previous, next) ? previous : next)))
    yield* Effect.forkScoped(
      Stream.runForEach(Stream.merge(loop.changes, connection.changes), () => refresh)
    )
    return {
      current,
      changes: Stream.changesWith(ref.changes, same)
    }
  })
)
