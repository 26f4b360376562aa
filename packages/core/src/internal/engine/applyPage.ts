/**
 * Applying a fetched page: ingest it idempotently, plan (`SyncPlanner`), fast-forward or roll
 * back to the common ancestor and replay, run the divergence check once the page is the pull's
 * last, and advance the watermark, all in ONE transaction: a failure leaves the database exactly
 * as before (R-SYNC-2), and the watermark never runs ahead of what is applied.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { SyncReport } from "../../SyncEngine.js"
import * as SyncPlanner from "../../SyncPlanner.js"
import * as SyncProtocol from "../../SyncProtocol.js"
import { receivedEntries, takeIn } from "../sql/ingest.js"
import { rollBackAfter } from "../sql/rollback.js"
import { type EngineContext, type EngineState, zeroReport } from "./context.js"
import { checkDivergence } from "./corrections.js"
import { RecordRow, replay, stands } from "./replay.js"

const EntryRows = Schema.Array(Schema.Struct({ incoming: Schema.Boolean, id: Schema.String, hlc: Schema.String }))
const IncomingRecords = Schema.Array(RecordRow)

/** What applying the received actions did. @internal */
export interface Applied {
  readonly plan: SyncPlanner.Plan["_tag"]
  readonly report: SyncReport
  /** The ids of the actions replayed and due for the divergence check (not the unrunnable ones). */
  readonly replayed: ReadonlyArray<string>
  /** Whether the replay found every one of `replayed` writing exactly its known patches (see `replay`). */
  readonly agreed: boolean | undefined
}

const nothingDone: Applied = { plan: "NothingToDo", report: zeroReport, replayed: [], agreed: true }

/**
 * Plans and applies every received-but-unapplied action (inside the caller's transaction);
 * returns what it did, for the report, the page's span and the divergence check. `mark`: leave
 * the replayed actions marked for a later check (see `replay`). `entries`: the statement that
 * gives the planner's entries (`takeIn`'s rows; by default `receivedEntries`).
 *
 * @internal
 */
export const applyReceived = (
  ctx: EngineContext,
  filtered: boolean,
  mark: boolean,
  entries: Effect.Effect<ReadonlyArray<unknown>, SqlError> = receivedEntries(ctx.sql)
) =>
  Effect.gen(function*() {
    const { sql } = ctx
    const raw = yield* entries
    const rows = yield* Schema.decodeUnknown(EntryRows)(raw)
    const incoming: Array<SyncPlanner.Entry> = []
    const applied: Array<SyncPlanner.Entry> = []
    for (const { hlc, id, incoming: isIncoming } of rows) (isIncoming ? incoming : applied).push({ id, hlc })
    if (incoming.length === 0) return nothingDone
    // The unapplied records as replay loads them: a fast-forward replays exactly these.
    const loaded = yield* Schema.decodeUnknown(IncomingRecords)(raw.filter((_, i) => rows[i]!.incoming))
    const preloaded = new Map(loaded.map((record) => [record.id, record]))
    const plan = SyncPlanner.plan(applied.sort(SyncPlanner.order), incoming.sort(SyncPlanner.order))
    switch (plan._tag) {
      case "NothingToDo":
        return nothingDone
      case "FastForward": {
        const { agreed, unrunnable } = yield* replay(ctx, plan.apply, filtered, mark, preloaded)
        const report = {
          ...zeroReport,
          fastForwarded: plan.apply.length,
          replayed: plan.apply.length,
          unrunnable: unrunnable.length
        }
        const applied: Applied = { plan: plan._tag, report, replayed: checkable(plan.apply, unrunnable), agreed }
        return applied
      }
      case "Reconcile": {
        yield* rollBackAfter(sql, plan.ancestor)
        const { agreed, unrunnable } = yield* replay(ctx, plan.replay, filtered, mark, preloaded)
        const report = { ...zeroReport, reconciled: 1, replayed: plan.replay.length, unrunnable: unrunnable.length }
        const reconciled: Applied = { plan: plan._tag, report, replayed: checkable(plan.replay, unrunnable), agreed }
        return reconciled
      }
    }
  })

/**
 * The replayed actions the divergence check looks at: not those this replica could not run (it
 * computed nothing there, so it never corrects them; the check adopts the server's image of a
 * row they wrote last).
 */
const checkable = (entries: ReadonlyArray<SyncPlanner.Entry>, unrunnable: ReadonlyArray<string>) => {
  if (unrunnable.length === 0) return entries.map((e) => e.id)
  const skip = new Set(unrunnable)
  return entries.flatMap((e) => skip.has(e.id) ? [] : [e.id])
}

/**
 * Whether this replica's replay of a fetched record stands (`stands`); ingest's first answer,
 * from the tag alone: replay decides again with the record's args decoded (an action whose
 * input the registered Schema refuses does not stand either).
 */
const authoritative = (ctx: EngineContext, action: SyncProtocol.RemoteAction, filtered: boolean) =>
  action.kind !== "action"
    ? Effect.succeed(true)
    : Effect.map(
      Effect.option(ctx.registry.get(action.tag)),
      (definition) => stands(ctx.executor.userId, action, Option.getOrUndefined(definition), filtered)
    )

/**
 * Ingests one page, applies it and advances the watermark, in one transaction; when `last` (the
 * pull has the whole log), also runs the divergence check, so how the log was paged cannot
 * change what this replica corrects (R-SYNC-10). Returns the report and the engine's next state.
 *
 * @internal
 */
export const applyPage = (
  ctx: EngineContext,
  state: EngineState,
  page: SyncProtocol.FetchResponse,
  last: boolean
) =>
  ctx.sql.withTransaction(Effect.gen(function*() {
    const { executor, sql } = ctx
    const filtered = page.audiences !== null
    const audiences = JSON.stringify(page.audiences)
    for (const action of page.actions) yield* executor.observe(action.hlc)
    const entries = []
    for (const action of page.actions) {
      entries.push({ ...SyncProtocol.encodeRemoteAction(action), authoritative: yield* authoritative(ctx, action, filtered) })
    }
    // One statement ingests the page, stores the audiences when they changed (before applying:
    // the check after replay adopts rows outside them), advances the watermark (inside this
    // transaction, as good as last) and gives the planner its entries.
    const takenIn = takeIn(sql, JSON.stringify(entries), page.next, audiences !== state.storedAudiences ? audiences : undefined)
    // Only a page before the pull's last leaves its replayed actions marked for the check; the
    // last page checks its own directly, and takes what is marked (or queued by a rollback).
    const { agreed, plan, replayed, report } = yield* applyReceived(ctx, filtered, !last, takenIn)
    const marked = state.checkDue || plan === "Reconcile"
    const checked = last
      ? yield* checkDivergence(ctx, filtered, replayed, marked, agreed)
      : { corrections: 0, adopted: 0 }
    const next: EngineState = { storedAudiences: audiences, checkDue: !last && (marked || replayed.length > 0) }
    const total: SyncReport = { ...report, ...checked, fetched: page.actions.length }
    return { plan, report: total, state: next }
  })).pipe(
    // Outside the transaction, the current span is the page's own.
    Effect.tap(({ plan }) => Effect.annotateCurrentSpan("reprise.sync.plan", plan)),
    Effect.withSpan("SyncEngine.applyPage", {
      attributes: { "reprise.sync.fetched": page.actions.length, "reprise.sync.next": page.next, "reprise.sync.last": last },
      captureStackTrace: false
    })
  )

/**
 * Rolls back every applied action and replays the whole received log in global order, then
 * runs the divergence check, in one transaction: a reconcile from the empty ancestor.
 *
 * @internal
 */
export const replayEverything = (ctx: EngineContext, filtered: boolean) =>
  ctx.sql.withTransaction(Effect.gen(function*() {
    yield* rollBackAfter(ctx.sql, null)
    const { agreed, replayed, report } = yield* applyReceived(ctx, filtered, false)
    const checked = yield* checkDivergence(ctx, filtered, replayed, true, agreed)
    return { ...report, ...checked }
  })).pipe(Effect.withSpan("SyncEngine.replayAll", { captureStackTrace: false }))
