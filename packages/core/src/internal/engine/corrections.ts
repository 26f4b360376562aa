/**
 * The divergence check (R-SYNC-3): once a pull has the whole log, where the server's rows (the
 * fold of the known patches) differ from this replica's, records a correction setting them to
 * this replica's images, for the rows it may correct, and adopts the server's images for the
 * others. The decision is `CorrectionPlanner.plan`'s; this module loads its inputs and records
 * its output.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as CorrectionPlanner from "../../CorrectionPlanner.js"
import * as SqlArray from "../../SqlArray.js"
import { adoption, correction } from "../correction.js"
import { differingActions, divergentRows, storeCorrectionPatches, takeUnchecked } from "../sql/corrections.js"
import type { EngineContext } from "./context.js"

const PatchOp = Schema.Literal("INSERT", "UPDATE", "DELETE")
const DivergentRows = Schema.Array(Schema.Struct({
  schema: Schema.String,
  table: Schema.String,
  rowId: Schema.String,
  image: Schema.NullOr(Schema.String),
  correct: Schema.Boolean,
  op: PatchOp,
  forward: Schema.NullOr(Schema.String),
  reverse: Schema.NullOr(Schema.String),
  adoptOp: PatchOp,
  adoptForward: Schema.NullOr(Schema.String),
  actions: Schema.parseJson(Schema.Array(Schema.String)),
  audience: Schema.NullOr(Schema.String)
}))
const DifferingActions = Schema.Array(Schema.Struct({
  id: Schema.String,
  audience: Schema.NullOr(Schema.String),
  hidden: Schema.Boolean
}))
const Due = Schema.Array(Schema.Struct({ ids: Schema.parseJson(Schema.Array(Schema.String)), rows: Schema.String }))

/** What a check recorded. @internal */
export interface Checked {
  readonly corrections: number
  readonly adopted: number
}

/**
 * Checks `replayed` (the actions this transaction replayed) and, when `takeMarked`, the work
 * earlier transactions left (see `takeUnchecked`: actions replayed by earlier pages, rows of
 * adoptions a rollback undid), inside the caller's transaction, and records the planned
 * corrections and adoption. `filtered`: whether the server filters the log by audience.
 * `agreed`: the replay found that none of `replayed` wrote anything else than its known
 * patches (`finishReplay`'s probe, the question `divergentRows` starts from); then, when no
 * other work is due, no row can differ and the check sends nothing more.
 *
 * @internal
 */
export const checkDivergence = (
  ctx: EngineContext,
  filtered: boolean,
  replayed: ReadonlyArray<string>,
  takeMarked: boolean,
  agreed?: boolean
) =>
  Effect.gen(function*() {
    const { executor, sql } = ctx
    const marked = takeMarked ? (yield* Effect.flatMap(takeUnchecked(sql), Schema.decodeUnknown(Due)))[0] : undefined
    const ids = [...new Set([...replayed, ...(marked?.ids ?? [])])]
    const queuedRows = marked?.rows ?? "[]"
    if (ids.length === 0 && queuedRows === "[]") return { corrections: 0, adopted: 0 }
    // Only the replayed actions are to look at, and their replays agreed with the server's.
    if (agreed === true && ids.length === replayed.length && queuedRows === "[]") return { corrections: 0, adopted: 0 }
    const idsLiteral = SqlArray.text(ids)
    const rows = yield* Effect.flatMap(divergentRows(sql, idsLiteral, queuedRows), Schema.decodeUnknown(DivergentRows))
    const differing = CorrectionPlanner.needsDifferingActions(rows, filtered)
      ? yield* Effect.flatMap(differingActions(sql, idsLiteral), Schema.decodeUnknown(DifferingActions))
      : []
    const plan = CorrectionPlanner.plan(rows, differing)
    for (const planned of plan.corrections) {
      // On this replica the rows already hold these images: the correction changes nothing
      // here. Its patches for the server, from the server's images to these, are recorded as
      // its known patches and uploaded from there.
      const id = yield* executor.execute(correction, {
        rows: planned.rows.map(({ image, rowId, schema, table }) => ({ image, rowId, schema, table })),
        restates: planned.restates,
        audience: planned.audience
      })
      if (planned.rows.length > 0) {
        yield* storeCorrectionPatches(sql, id, JSON.stringify(planned.rows.map((row, i) => ({ ...row, seq: i + 1 }))))
      }
    }
    if (plan.adoptions.length > 0) yield* executor.execute(adoption, { rows: plan.adoptions })
    return { corrections: plan.corrections.length, adopted: plan.adoptions.length }
  }).pipe(
    // The executor checks only app actions against the protocol's limits, never these built-ins.
    Effect.catchTag("ActionTooLarge", (error) => Effect.die(error)),
    Effect.withSpan("SyncEngine.check", { captureStackTrace: false })
  )
