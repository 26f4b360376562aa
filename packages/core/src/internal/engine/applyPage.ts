/**
 * Applying a fetched page: ingest it idempotently, plan (`SyncPlanner`), fast-forward or roll
 * back to the common ancestor and replay, run the divergence check once the page is the pull's
 * last, and advance the watermark, all in ONE transaction: a failure leaves the database exactly
 * as before (R-SYNC-2), and the watermark never runs ahead of what is applied.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { SyncReport } from "../../SyncEngine.js"
import * as SyncPlanner from "../../SyncPlanner.js"
import * as SyncProtocol from "../../SyncProtocol.js"
import { advanceWatermark, appliedAround, ingest, storeAudiences, unappliedEntries } from "../sql/ingest.js"
import { rollBackAfter } from "../sql/rollback.js"
import { type EngineContext, type EngineState, zeroReport } from "./context.js"
import { checkDivergence } from "./corrections.js"
import { replay } from "./replay.js"

const EntryRows = Schema.Array(Schema.Struct({ id: Schema.String, hlc: Schema.String }))

/**
 * Plans and applies every received-but-unapplied action (inside the caller's transaction);
 * returns what it did and the kind of plan, for the page's span.
 *
 * @internal
 */
export const applyReceived = (ctx: EngineContext, filtered: boolean) =>
  Effect.gen(function*() {
    const { sql } = ctx
    const incoming = yield* Effect.flatMap(unappliedEntries(sql), Schema.decodeUnknown(EntryRows))
    const earliest = incoming[0]
    if (earliest === undefined) return { plan: "NothingToDo" as const, report: zeroReport }
    const applied = yield* Effect.flatMap(appliedAround(sql, earliest), Schema.decodeUnknown(EntryRows))
    const plan = SyncPlanner.plan([...applied].sort(SyncPlanner.order), incoming)
    switch (plan._tag) {
      case "NothingToDo":
        return { plan: plan._tag, report: zeroReport }
      case "FastForward": {
        yield* replay(ctx, plan.apply, filtered)
        return { plan: plan._tag, report: { ...zeroReport, fastForwarded: plan.apply.length, replayed: plan.apply.length } }
      }
      case "Reconcile": {
        yield* rollBackAfter(sql, plan.ancestor)
        yield* replay(ctx, plan.replay, filtered)
        return { plan: plan._tag, report: { ...zeroReport, reconciled: 1, replayed: plan.replay.length } }
      }
    }
  })

/**
 * Whether this replica's replay of a fetched record stands: the record is this user's (from
 * any of its devices), a correction (it only restates rows: replicas receive the actions it
 * restates and compute them), or an action of "replica" authority (an unknown tag fails at
 * replay). An action of "author" authority stands on its author's devices only, unless the
 * server filters nothing: then every replica sees what the author saw (§7 of DESIGN.md).
 */
const authoritative = (ctx: EngineContext, action: SyncProtocol.RemoteAction, filtered: boolean) =>
  !filtered || (action.userId !== null && action.userId === ctx.executor.userId) || action.kind !== "action"
    ? Effect.succeed(true)
    : Effect.match(ctx.registry.get(action.tag), {
      onFailure: () => true,
      onSuccess: (definition) => definition.authority === "replica"
    })

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
    // Before applying: the check after replay adopts rows outside them.
    if (audiences !== state.storedAudiences) yield* storeAudiences(sql, audiences)
    for (const action of page.actions) yield* executor.observe(action.hlc)
    if (page.actions.length > 0) {
      const entries = []
      for (const action of page.actions) {
        entries.push({ ...SyncProtocol.encodeRemoteAction(action), authoritative: yield* authoritative(ctx, action, filtered) })
      }
      yield* ingest(sql, JSON.stringify(entries))
    }
    const { plan, report } = yield* applyReceived(ctx, filtered)
    const due = state.checkDue || report.replayed > 0
    const checked = last && due ? yield* checkDivergence(ctx, filtered) : { corrections: 0, adopted: 0 }
    yield* advanceWatermark(sql, page.next)
    const next: EngineState = { storedAudiences: audiences, checkDue: due && !last }
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
    const { report } = yield* applyReceived(ctx, filtered)
    const checked = yield* checkDivergence(ctx, filtered)
    return { ...report, ...checked }
  })).pipe(Effect.withSpan("SyncEngine.replayAll", { captureStackTrace: false }))
