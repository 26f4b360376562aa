/**
 * The client sync engine: fetches the server's log page by page, ingests it idempotently,
 * applies it (fast-forward, or roll back to the common ancestor and replay everything after
 * it in global order), and uploads pending local actions, catching up and retrying when the
 * server says the upload is behind its head.
 *
 * Each fetched page is ingested, applied and acknowledged (the watermark advanced) in ONE
 * transaction: a failure leaves the database exactly as before (R-SYNC-2), and the watermark
 * never runs ahead of what is applied. Where each step lives: `SyncPlanner` (what to do with a
 * page), `internal/engine/applyPage` (ingest, fast-forward or rollback, the watermark),
 * `internal/engine/replay` (replay with checkpoints), `CorrectionPlanner` and
 * `internal/engine/corrections` (the divergence check, once a pull has the whole log),
 * `internal/engine/upload` (the pending batch), `internal/engine/quarantine` (taking an action
 * the server rejects for permission or validity out of the log, R-REC-3; see `Quarantine`).
 * This module only orchestrates them.
 *
 * @example
 * ```ts
 * const engine = yield* SyncEngine.SyncEngine
 * const report = yield* engine.requestSync
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ParseError } from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { ActionExecutor, type InvalidActionArgs, type NestedAction, type NondeterministicAction } from "./ActionExecutor.js"
import type { DuplicateActionId } from "./ActionIds.js"
import type { UnknownActionTag } from "./ActionRegistry.js"
import { ActionRegistry } from "./ActionRegistry.js"
import type * as Hlc from "./Hlc.js"
import { addReports, annotateReport, type EngineContext, initialState, zeroReport } from "./internal/engine/context.js"
import { applyPage, replayEverything } from "./internal/engine/applyPage.js"
import { quarantineAction } from "./internal/engine/quarantine.js"
import { readWatermark, uploadOnce } from "./internal/engine/upload.js"
import { filtering } from "./internal/sql/ingest.js"
import * as SyncProtocol from "./SyncProtocol.js"
import { SyncTransport, type TransportError } from "./SyncTransport.js"

/** Why a sync failed. Nothing of the failing step was written. */
export type SyncError =
  | SqlError
  | TransportError
  | SyncProtocol.UploadRejected
  | SyncProtocol.BehindHead
  | UnknownActionTag
  | InvalidActionArgs
  | NondeterministicAction
  | NestedAction
  | Hlc.ClockDriftError
  | DuplicateActionId
  | ParseError

/** What one sync did. */
export interface SyncReport {
  readonly fetched: number
  readonly uploaded: number
  readonly fastForwarded: number
  readonly reconciled: number
  readonly replayed: number
  /**
   * Correction records this sync created (R-SYNC-3): one per audience of the rows it corrects,
   * and one per audience into which it restates actions hidden there (a correction that may
   * set no row).
   */
  readonly corrections: number
  /**
   * Rows this sync set to the server's images because this replica may not correct them (they
   * are outside its audiences, their last action is another user's of "author" authority, or
   * this replica adopted them before; R-SYNC-3, R-SRV-3).
   */
  readonly adopted: number
  /**
   * Remote actions this replica cannot run (their tag is not in its registry, or their input
   * does not decode with the registered Schema: a newer app version, or a hostile client), so
   * their effects were taken from the server's patches instead of a replay (R-SRV-7).
   */
  readonly unrunnable: number
  /**
   * This replica's pending actions the server rejected for permission or validity during this
   * sync; they left the pending queue for the quarantine, their local effects undone (R-REC-3).
   */
  readonly quarantined: number
}

/** Options of the engine. */
export interface Options {
  /** Actions per fetch page (R-SYNC-9); 500 by default. */
  readonly pageSize?: number
  /** Upload attempts when the server answers `BehindHead`; 5 by default (R-SYNC-6). */
  readonly maxUploadAttempts?: number
  /** The first backoff between upload attempts, jittered and doubled each time; 50 ms by default. */
  readonly backoff?: Duration.DurationInput
}

/** The engine's shape. */
export interface SyncEngineShape {
  /** Fetches and applies everything new, then uploads everything pending. */
  readonly sync: Effect.Effect<SyncReport, SyncError>
  /**
   * `sync`, single-flight: concurrent requests share one run, and a burst of requests made
   * while a sync runs is served by one more run after it.
   */
  readonly requestSync: Effect.Effect<SyncReport, SyncError>
  /** Fetch and apply only. */
  readonly pull: Effect.Effect<SyncReport, SyncError>
  /**
   * Upload only (catching up first if the server asks). A rejection for permission or validity
   * that names one of this replica's pending actions (`Quarantine.reasons`) quarantines that
   * action, its local effects undone, and the upload goes on with the rest (R-REC-3); any other
   * rejection fails the push.
   */
  readonly push: Effect.Effect<SyncReport, SyncError>
  /**
   * Rolls back every applied action and replays the whole log held locally, in global order,
   * then checks for divergence, in one transaction: what a reconcile does from the empty
   * ancestor. Nothing is fetched or uploaded. For tests and tools that check that replay is
   * deterministic (a second replay must capture the same patches).
   */
  readonly replayAll: Effect.Effect<SyncReport, SyncError>
  /**
   * Applies a page the server pushed (a subscription's page, read from `since`) as `pull`
   * applies a fetched one, without fetching it again: when the replica's watermark is `since`,
   * the page is ingested and applied in one transaction, and the rest is pulled when it says
   * there is more. A page this replica already has does nothing; a page that does not start at
   * the watermark (a gap) is not applied and a pull runs instead. Serialized with `requestSync`
   * and `replayAll`.
   */
  readonly applyPushed: (since: number, page: SyncProtocol.FetchResponse) => Effect.Effect<SyncReport, SyncError>
}

/** The client sync engine. */
export class SyncEngine extends Context.Tag("@reprise/core/SyncEngine")<SyncEngine, SyncEngineShape>() {}

/** Builds the engine (needs the executor, the registry, `SqlClient` and a transport). */
export const make = (
  options: Options = {}
): Effect.Effect<SyncEngineShape, never, SqlClient.SqlClient | ActionRegistry | ActionExecutor | SyncTransport> =>
  Effect.gen(function*() {
    const ctx: EngineContext = {
      sql: yield* SqlClient.SqlClient,
      registry: yield* ActionRegistry,
      executor: yield* ActionExecutor
    }
    const transport = yield* SyncTransport
    const pageSize = Math.min(options.pageSize ?? 500, SyncProtocol.Limits.maxFetchLimit)
    const maxAttempts = options.maxUploadAttempts ?? 5
    const backoff = options.backoff ?? Duration.millis(50)
    const state = yield* Ref.make(initialState)

    const pull: Effect.Effect<SyncReport, SyncError> = Effect.gen(function*() {
      let total = zeroReport
      for (;;) {
        const since = yield* readWatermark(ctx)
        const page = yield* transport.fetch({ since, limit: pageSize })
        const last = !page.hasMore || page.next <= since
        const applied = yield* applyPage(ctx, yield* Ref.get(state), page, last)
        yield* Ref.set(state, applied.state)
        total = addReports(total, applied.report)
        if (last) return total
      }
    }).pipe(Effect.tap(annotateReport), Effect.withSpan("SyncEngine.pull", { captureStackTrace: false }))

    // A rejection naming one of the batch's actions for a reason of its own quarantines that
    // action (its effects undone, the rest replayed) and the push goes on with the rest (R-REC-3).
    const push: Effect.Effect<SyncReport, SyncError> = Effect.gen(function*() {
      let uploaded = 0
      let done = zeroReport
      for (;;) {
        const attempt = uploadOnce(ctx, transport).pipe(
          Effect.tapErrorTag("BehindHead", () => Effect.tap(pull, (report) => { done = addReports(done, report) }))
        )
        const outcome = yield* attempt.pipe(
          Effect.retry({
            while: (error) => error._tag === "BehindHead",
            schedule: Schedule.exponential(backoff).pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(maxAttempts - 1)))
          })
        )
        if (outcome._tag === "Rejected") {
          const quarantined = yield* quarantineAction(ctx, outcome.actionId, outcome.rejection)
          // Not pending any more (another fiber got to it): the rejection stands as the error.
          if (quarantined.quarantined === 0) return yield* outcome.rejection
          done = addReports(done, quarantined)
          continue
        }
        if (outcome.count === 0) return { ...done, uploaded }
        uploaded += outcome.count
      }
    }).pipe(Effect.tap(annotateReport), Effect.withSpan("SyncEngine.push", { captureStackTrace: false }))

    const sync = Effect.gen(function*() {
      const pulled = yield* pull
      const pushed = yield* push
      return addReports(pulled, pushed)
    }).pipe(Effect.tap(annotateReport), Effect.withSpan("SyncEngine.sync", { captureStackTrace: false }))

    // Single flight: a run started after a request serves it; requests made during a run are
    // all served by the next one.
    const lock = yield* Effect.makeSemaphore(1)
    const requested = yield* Ref.make(0)
    const completed = yield* Ref.make(0)
    const requestSync = Effect.gen(function*() {
      const ticket = yield* Ref.updateAndGet(requested, (n) => n + 1)
      return yield* lock.withPermits(1)(Effect.gen(function*() {
        if ((yield* Ref.get(completed)) >= ticket) return zeroReport
        const covers = yield* Ref.get(requested)
        const report = yield* sync
        yield* Ref.set(completed, covers)
        return report
      }))
    })

    const replayAll = lock.withPermits(1)(Effect.gen(function*() {
      const [row] = yield* Effect.flatMap(filtering(ctx.sql), Schema.decodeUnknown(FilteringRows))
      const report = yield* replayEverything(ctx, row?.filtered ?? false)
      yield* Ref.update(state, (s) => ({ ...s, checkDue: false }))
      return report
    })).pipe(Effect.tap(annotateReport))

    const applyPushed = (since: number, page: SyncProtocol.FetchResponse) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const watermark = yield* readWatermark(ctx)
        if (watermark >= page.next) return zeroReport
        if (watermark !== since) return yield* pull
        const last = !page.hasMore
        const applied = yield* applyPage(ctx, yield* Ref.get(state), page, last)
        yield* Ref.set(state, applied.state)
        return last ? applied.report : addReports(applied.report, yield* pull)
      })).pipe(Effect.tap(annotateReport), Effect.withSpan("SyncEngine.applyPushed", { captureStackTrace: false }))

    return { sync, requestSync, pull, push, replayAll, applyPushed }
  })

const FilteringRows = Schema.Array(Schema.Struct({ filtered: Schema.Boolean }))

/** The engine as a layer. */
export const layer = (
  options: Options = {}
): Layer.Layer<SyncEngine, never, SqlClient.SqlClient | ActionRegistry | ActionExecutor | SyncTransport> =>
  Layer.effect(SyncEngine, make(options))
