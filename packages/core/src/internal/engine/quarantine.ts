/**
 * The quarantine's engine side (R-REC-3): which rejections quarantine an action, taking a
 * rejected action out of the log with its local effects undone, and putting a quarantined one
 * back at its HLC place. Both reuse the engine's rollback and replay, in ONE transaction each:
 * roll back to the action's ancestor, move the action out (or back in), replay what was rolled
 * back in global order, and run the divergence check over the replayed actions, so the replica
 * holds exactly what the log without (or with) the action computes and the server learns of
 * any row whose replay now differs from what it holds (a correction, R-SYNC-3). Pending
 * corrections ordered after the action were computed on the other state: they are dropped and
 * their rows checked again, so none goes up stale.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SyncProtocol from "../../SyncProtocol.js"
import type { SyncReport } from "../../SyncEngine.js"
import { filtering } from "../sql/ingest.js"
import {
  appliedBefore,
  dropCorrectionsAfter,
  moveToQuarantine,
  recomputeCorrection,
  recordPosition,
  restoreQuarantined
} from "../sql/quarantine.js"
import { rollBackAfter } from "../sql/rollback.js"
import { applyReceived } from "./applyPage.js"
import { type EngineContext, zeroReport } from "./context.js"
import { checkDivergence } from "./corrections.js"

/** Why the server rejected an upload. @internal */
export type Reason = SyncProtocol.UploadRejected["reason"]

/**
 * The rejections that quarantine the action they name: the action itself is not acceptable
 * (its author may not write what it writes, it is too large or malformed, it writes a table the
 * server does not track, or its id is taken by different content). The others are about the
 * client or the moment, not the action: `WrongAuthor` and `WrongClient` mean a misconfigured
 * client (quarantining would take every action it has), `ClockDrift` passes once the clocks
 * agree; they stay errors of the sync.
 *
 * @internal
 */
export const quarantinableReasons: ReadonlySet<Reason> = new Set<Reason>([
  "Forbidden",
  "TooLarge",
  "Malformed",
  "UntrackedTable",
  "Conflict"
])

const Filtering = Schema.Array(Schema.Struct({ filtered: Schema.Boolean }))
const Position = Schema.Array(Schema.Struct({ id: Schema.String, hlc: Schema.String, synced: Schema.Boolean }))
const Entry = Schema.Array(Schema.Struct({ id: Schema.String, hlc: Schema.String }))
const Ids = Schema.Array(Schema.Struct({ id: Schema.String }))
const Restated = Schema.Array(Schema.Struct({ restates: Schema.parseJson(Schema.Array(Schema.String)) }))
const Recomputed = Schema.Array(
  Schema.Struct({ n: Schema.Number, restates: Schema.parseJson(Schema.Array(Schema.String)) })
)

const isFiltered = (ctx: EngineContext) =>
  Effect.map(Effect.flatMap(filtering(ctx.sql), Schema.decodeUnknown(Filtering)), ([row]) => row?.filtered ?? false)

/**
 * After the action at `position` left (or re-entered) the log: drops the pending corrections
 * after it (made on the other state; their rows and restated actions are checked again),
 * replays every received-but-unapplied action at its place, and checks the replayed ones (and
 * whatever earlier pages left marked), inside the caller's transaction.
 */
const replayAndCheck = (ctx: EngineContext, position: { readonly hlc: string; readonly id: string }) =>
  Effect.gen(function*() {
    const filtered = yield* isFiltered(ctx)
    const [dropped] = yield* Effect.flatMap(dropCorrectionsAfter(ctx.sql, position), Schema.decodeUnknown(Restated))
    const { replayed, report } = yield* applyReceived(ctx, filtered, false)
    const checked = yield* checkDivergence(ctx, filtered, [...replayed, ...(dropped?.restates ?? [])], true)
    return { ...report, ...checked }
  })

/**
 * Quarantines the pending action `id` that the server rejected (`rejection`), in one
 * transaction: rolls back every applied action from it on, moves it into the quarantine with
 * the rejection's reason and detail and the time, replays the rest, and checks them. Returns
 * what it did (`quarantined` is 0 when the action is no longer pending).
 *
 * @internal
 */
export const quarantineAction = (ctx: EngineContext, id: string, rejection: SyncProtocol.UploadRejected) =>
  ctx.sql.withTransaction(Effect.gen(function*() {
    const { sql } = ctx
    const [position] = yield* Effect.flatMap(recordPosition(sql, id), Schema.decodeUnknown(Position))
    if (position === undefined || position.synced) return zeroReport
    const [ancestor] = yield* Effect.flatMap(appliedBefore(sql, position), Schema.decodeUnknown(Entry))
    yield* rollBackAfter(sql, ancestor ?? null)
    const at = yield* Clock.currentTimeMillis
    const moved = yield* Effect.flatMap(
      moveToQuarantine(sql, id, rejection.reason, rejection.detail, at),
      Schema.decodeUnknown(Ids)
    )
    const report: SyncReport = yield* replayAndCheck(ctx, position)
    return { ...report, quarantined: moved.length, reconciled: 0, fastForwarded: 0 }
  })).pipe(
    Effect.tap(() =>
      Effect.logWarning(`SyncEngine: quarantined action ${id}, which the server rejected: ${rejection.message}`)
    ),
    Effect.withSpan("SyncEngine.quarantine", {
      attributes: { "reprise.action.id": id, "reprise.quarantine.reason": rejection.reason },
      captureStackTrace: false
    })
  )

/**
 * Puts the quarantined action `id` back into the log as pending, at its HLC place, and applies
 * it (rolling back and replaying the actions after it), then checks the replayed ones, in one
 * transaction. A quarantined correction is recomputed instead: its rows are checked again, and
 * a fresh correction is recorded if the current state still needs one. Returns false when `id`
 * is not quarantined (nothing changed).
 *
 * @internal
 */
export const restoreAction = (ctx: EngineContext, id: string) =>
  ctx.sql.withTransaction(Effect.gen(function*() {
    const [correction] = yield* Effect.flatMap(recomputeCorrection(ctx.sql, id), Schema.decodeUnknown(Recomputed))
    if (correction !== undefined && correction.n > 0) {
      yield* checkDivergence(ctx, yield* isFiltered(ctx), correction.restates, true)
      return true
    }
    const [restored] = yield* Effect.flatMap(restoreQuarantined(ctx.sql, id), Schema.decodeUnknown(Entry))
    if (restored === undefined) return false
    yield* replayAndCheck(ctx, restored)
    return true
  })).pipe(Effect.withSpan("Quarantine.retry", { attributes: { "reprise.action.id": id }, captureStackTrace: false }))
