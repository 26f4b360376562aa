/**
 * The sync wire protocol: what clients upload and fetch, as Schemas, independent of any
 * transport (in-process, HTTP, WebSocket). Every boundary decodes with these.
 *
 * Patch values travel as JSON text (`Patch.RowJson`), exactly as Postgres captured them, so
 * bigints and long numerics are never rounded by a JavaScript parse on the way.
 */
import * as Schema from "effect/Schema"
import * as Hlc from "./Hlc.js"
import * as Patch from "./Patch.js"

/** Upper bounds every upload is checked against (R-SYNC-9). */
export const Limits = {
  /** Actions in one upload. */
  maxActionsPerUpload: 500,
  /** Patches carried by one action. */
  maxPatchesPerAction: 10_000,
  /** Encoded size of one action's args, in characters of JSON. */
  maxArgsChars: 256 * 1024,
  /** Actions in one fetch page. */
  maxFetchLimit: 1000
} as const

/** An action tag as recorded: 1–200 of `A-Z a-z 0-9 _ . : -`. */
export const Tag = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.:-]{1,200}$/))

/** One row change, as uploaded and fetched. */
export const PatchWire = Schema.Struct({
  seq: Schema.Int.pipe(Schema.positive()),
  schema: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(63 * 4)),
  table: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(63 * 4)),
  rowId: Schema.String.pipe(Schema.maxLength(1024)),
  op: Patch.Operation,
  forward: Schema.NullOr(Patch.RowJson),
  reverse: Schema.NullOr(Patch.RowJson),
  audienceKey: Schema.NullOr(Schema.String)
})
export type PatchWire = typeof PatchWire.Type

/**
 * The kind of a record: an action to replay, or a correction (R-SYNC-3), which carries the rows
 * it sets (its patches, for the server), the actions it restates and its audience; replaying it
 * changes nothing on a replica.
 */
export const Kind = Schema.Literal("action", "correction")

/** An action (or correction) as a client uploads it. */
export const ActionWire = Schema.Struct({
  id: Schema.UUID,
  tag: Tag,
  /** `{ input, timestamp }`: the encoded args and the captured time. */
  args: Schema.Unknown,
  clientId: Hlc.NodeId,
  userId: Schema.NullOr(Schema.String),
  hlc: Hlc.HlcFromString,
  kind: Kind,
  patches: Schema.Array(PatchWire).pipe(Schema.maxItems(Limits.maxPatchesPerAction))
})
export type ActionWire = typeof ActionWire.Type

/**
 * An action as the server hands it out: with the sequence it assigned, and only the patches the
 * caller may see (R-SRV-3).
 */
export const RemoteAction = Schema.Struct({
  ...ActionWire.fields,
  serverSeq: Schema.Int.pipe(Schema.positive()),
  /**
   * Whether the caller sees everything the action's author could see (every audience of the
   * author is one of the caller's, or the caller is the author, or nothing is filtered), for
   * transports and apps that want to show it; the engine decides whose result stands from the
   * action's declared authority (DESIGN.md §11).
   */
  fullView: Schema.Boolean
})
export type RemoteAction = typeof RemoteAction.Type

/**
 * The encoded (wire) form of a decoded `ActionWire`: exactly what `Schema.encode(ActionWire)`
 * returns for it (same fields, same order), built without checking again what decoding checked.
 * For paths that move whole pages of actions, where the Schema's encode costs more than the
 * rest of the encoding; the protocol tests keep the two equal.
 */
export const encodeActionWire = (action: ActionWire): typeof ActionWire.Encoded => ({
  id: action.id,
  tag: action.tag,
  args: action.args,
  clientId: action.clientId,
  userId: action.userId,
  hlc: Hlc.encode(action.hlc),
  kind: action.kind,
  patches: action.patches.map((p) => ({
    seq: p.seq,
    schema: p.schema,
    table: p.table,
    rowId: p.rowId,
    op: p.op,
    forward: p.forward,
    reverse: p.reverse,
    audienceKey: p.audienceKey
  }))
})

/** `encodeActionWire` for a `RemoteAction`: what `Schema.encode(RemoteAction)` returns for it. */
export const encodeRemoteAction = (action: RemoteAction): typeof RemoteAction.Encoded => ({
  ...encodeActionWire(action),
  serverSeq: action.serverSeq,
  fullView: action.fullView
})

/** An upload: the client's pending actions, and the last server sequence it has applied. */
export const UploadRequest = Schema.Struct({
  clientId: Hlc.NodeId,
  /** The client has fetched and applied every visible action up to this sequence. */
  basis: Schema.Int.pipe(Schema.nonNegative()),
  actions: Schema.Array(ActionWire).pipe(Schema.minItems(1), Schema.maxItems(Limits.maxActionsPerUpload))
})
export type UploadRequest = typeof UploadRequest.Type

/** The sequences the server assigned (or had already assigned, for re-uploads). */
export const UploadResponse = Schema.Struct({
  accepted: Schema.Array(Schema.Struct({ id: Schema.UUID, serverSeq: Schema.Int.pipe(Schema.positive()) })),
  head: Schema.Int.pipe(Schema.nonNegative())
})
export type UploadResponse = typeof UploadResponse.Type

/** A fetch: actions after `since`, at most `limit`. */
export const FetchRequest = Schema.Struct({
  since: Schema.Int.pipe(Schema.nonNegative()),
  limit: Schema.Int.pipe(Schema.between(1, Limits.maxFetchLimit))
})
export type FetchRequest = typeof FetchRequest.Type

/** One page of actions in server order; `hasMore` asks for the next page from `next`. */
export const FetchResponse = Schema.Struct({
  actions: Schema.Array(RemoteAction),
  /**
   * The cursor to fetch from next: the last sequence in this page when there is more, else the
   * head the page was read at (actions the caller may not see are skipped, not re-scanned).
   */
  next: Schema.Int.pipe(Schema.nonNegative()),
  head: Schema.Int.pipe(Schema.nonNegative()),
  hasMore: Schema.Boolean,
  /**
   * The audience keys the caller may see, or null when the server filters nothing (R-SRV-3).
   * Rows whose audience key is null are public: everyone sees them.
   */
  audiences: Schema.NullOr(Schema.Array(Schema.String))
})
export type FetchResponse = typeof FetchResponse.Type

/**
 * The upload was refused because the client has not yet applied everything it can see on the
 * server (R-SYNC-6): fetch from `basis`, reconcile, and upload again.
 */
export class BehindHead extends Schema.TaggedError<BehindHead>()("BehindHead", {
  basis: Schema.Int,
  head: Schema.Int
}) {
  override get message() {
    return `Upload refused: this client has applied up to server sequence ${this.basis} but the server's head ` +
      `is ${this.head}. Fetch from ${this.basis}, reconcile, then upload again.`
  }
}

/**
 * The upload is invalid (too large, wrong author, malformed, ...); nothing of it was stored.
 * `UntrackedTable`: a patch writes to a table the server's database does not have as a tracked
 * table; either the server lacks the app's setup (its tables and `Tracking.install`), or the
 * client sends patches for a table the app does not sync.
 */
export class UploadRejected extends Schema.TaggedError<UploadRejected>()("UploadRejected", {
  reason: Schema.Literal("TooLarge", "WrongAuthor", "WrongClient", "ClockDrift", "Malformed", "Conflict", "UntrackedTable", "Forbidden"),
  actionId: Schema.NullOr(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    return `Upload rejected (${this.reason})${this.actionId === null ? "" : ` at action ${this.actionId}`}: ${this.detail}`
  }
}

/**
 * A fetch request that is not the protocol's (it does not decode, or its values are out of
 * range, such as a `limit` above `Limits.maxFetchLimit`); nothing was read.
 */
export class FetchRejected extends Schema.TaggedError<FetchRejected>()("FetchRejected", {
  detail: Schema.String
}) {
  override get message() {
    return `Fetch rejected (Malformed): ${this.detail}`
  }
}
