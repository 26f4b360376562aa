/**
 * Uploading: the batch of this client's pending actions goes to the server, head-gated against
 * the watermark (R-SYNC-6); what the server accepts is marked synced, its patches become the
 * actions' known patches, and the watermark skips the replica's own actions when nothing else
 * sits between. A rejection that names an action of the batch for a reason of its own
 * (`quarantinableReasons`) is returned to the engine, which quarantines that action (R-REC-3);
 * any other rejection fails the upload.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SyncProtocol from "../../SyncProtocol.js"
import type { SyncTransportShape } from "../../SyncTransport.js"
import { watermark } from "../sql/ingest.js"
import { acknowledge, pendingActions, skipOwnUpload } from "../sql/upload.js"
import type { EngineContext } from "./context.js"
import { quarantinableReasons } from "./quarantine.js"

const PendingRows = Schema.Array(Schema.Struct({
  id: Schema.String,
  tag: Schema.String,
  args: Schema.Unknown,
  client_id: Schema.String,
  user_id: Schema.NullOr(Schema.String),
  hlc: Schema.String,
  kind: SyncProtocol.Kind,
  patches: Schema.Array(Schema.Struct({
    seq: Schema.Number,
    schema: Schema.String,
    table: Schema.String,
    rowId: Schema.String,
    op: Schema.String,
    forward: Schema.NullOr(Schema.String),
    reverse: Schema.NullOr(Schema.String),
    audienceKey: Schema.NullOr(Schema.String)
  }))
}))
const decodeWireActions = Schema.decodeUnknown(Schema.Array(SyncProtocol.ActionWire))
const WatermarkRows = Schema.Array(Schema.Struct({ seq: Schema.NumberFromString }))

/** The watermark: everything up to this server sequence is fetched and applied. @internal */
export const readWatermark = (ctx: EngineContext) =>
  Effect.map(Effect.flatMap(watermark(ctx.sql), Schema.decodeUnknown(WatermarkRows)), ([row]) => row?.seq ?? 0)

/**
 * What one upload did: `Uploaded` (how many, 0 when nothing is pending), or `Rejected`: the
 * server refused the batch because of its action `actionId` (as this replica spells the id),
 * for a reason that quarantines it; nothing of the batch was stored. @internal
 */
export type UploadOutcome =
  | { readonly _tag: "Uploaded"; readonly count: number }
  | { readonly _tag: "Rejected"; readonly actionId: string; readonly rejection: SyncProtocol.UploadRejected }

/**
 * The action of `ids` (the batch) a rejection quarantines, if any: the server named it, and
 * the reason is the action's own. @internal
 */
export const quarantineTarget = (
  rejection: SyncProtocol.UploadRejected,
  ids: ReadonlyArray<string>
): string | undefined => {
  if (rejection.actionId === null || !quarantinableReasons.has(rejection.reason)) return undefined
  const named = rejection.actionId.toLowerCase()
  return ids.find((id) => id.toLowerCase() === named)
}

/**
 * Uploads one batch of pending actions (at most `SyncProtocol.Limits.maxActionsPerUpload`);
 * returns how many, or the action to quarantine when the server rejected the batch because of
 * it. Fails with `BehindHead` when the server has actions this replica has not applied, and
 * with any rejection that quarantines nothing.
 *
 * @internal
 */
export const uploadOnce = (ctx: EngineContext, transport: SyncTransportShape) =>
  Effect.gen(function*() {
    const { executor, sql } = ctx
    const rows = yield* Effect.flatMap(
      pendingActions(sql, executor.clientId, SyncProtocol.Limits.maxActionsPerUpload),
      Schema.decodeUnknown(PendingRows)
    )
    if (rows.length === 0) {
      const nothing: UploadOutcome = { _tag: "Uploaded", count: 0 }
      return nothing
    }
    const actions = yield* decodeWireActions(rows.map((row) => ({
      id: row.id,
      tag: row.tag,
      args: row.args,
      clientId: row.client_id,
      userId: row.user_id,
      hlc: row.hlc,
      kind: row.kind,
      patches: row.patches
    })))
    const basis = yield* readWatermark(ctx)
    const answer = yield* transport.upload({ clientId: actions[0]!.clientId, basis, actions }).pipe(
      Effect.map((response) => ({ response })),
      Effect.catchTag("UploadRejected", (rejection) => {
        const actionId = quarantineTarget(rejection, rows.map((row) => row.id))
        return actionId === undefined ? Effect.fail(rejection) : Effect.succeed({ actionId, rejection })
      })
    )
    if (!("response" in answer)) {
      const rejected: UploadOutcome = { _tag: "Rejected", actionId: answer.actionId, rejection: answer.rejection }
      return rejected
    }
    const { response } = answer
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* acknowledge(sql, JSON.stringify(response.accepted))
      const highest = Math.max(...response.accepted.map((a) => a.serverSeq))
      if (response.head === highest) yield* skipOwnUpload(sql, basis, highest)
    }))
    const uploaded: UploadOutcome = { _tag: "Uploaded", count: rows.length }
    return uploaded
  }).pipe(
    Effect.tap((outcome) =>
      outcome._tag === "Uploaded"
        ? Effect.annotateCurrentSpan("reprise.sync.uploaded", outcome.count)
        : Effect.annotateCurrentSpan("reprise.sync.rejected", outcome.actionId)
    ),
    Effect.withSpan("SyncEngine.upload", { captureStackTrace: false })
  )
