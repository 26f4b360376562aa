/**
 * Uploading: the batch of this client's pending actions goes to the server, head-gated against
 * the watermark (R-SYNC-6); what the server accepts is marked synced, its patches become the
 * actions' known patches, and the watermark skips the replica's own actions when nothing else
 * sits between.
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
 * Uploads one batch of pending actions (at most `SyncProtocol.Limits.maxActionsPerUpload`);
 * returns how many, 0 when nothing is pending. Fails with `BehindHead` when the server has
 * actions this replica has not applied.
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
    if (rows.length === 0) return 0
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
    const response = yield* transport.upload({ clientId: actions[0]!.clientId, basis, actions })
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* acknowledge(sql, JSON.stringify(response.accepted))
      const highest = Math.max(...response.accepted.map((a) => a.serverSeq))
      if (response.head === highest) yield* skipOwnUpload(sql, basis, highest)
    }))
    return rows.length
  }).pipe(
    Effect.tap((n) => Effect.annotateCurrentSpan("reprise.sync.uploaded", n)),
    Effect.withSpan("SyncEngine.upload", { captureStackTrace: false })
  )
