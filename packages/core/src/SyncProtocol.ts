/**
 * The sync wire protocol: what clients upload and fetch, as Schemas, independent of any
 * transport (in-process, HTTP, WebSocket). Every boundary decodes with these.
 *
 * Patch values travel as JSON text (`Patch.RowJson`), exactly as Postgres captured them, so
 * bigints and long numerics are never rounded by a JavaScript parse on the way.
 */
import * as Schema from "effect/Schema"
import * as Hlc from "./Hlc.js"
import * as JsonLimits from "./internal/jsonLimits.js"
import * as Patch from "./Patch.js"

/**
 * Upper bounds every request is checked against (R-SYNC-9, R-SRV-7), on the server before
 * anything reaches its database. The Schemas below apply those a Schema can check cheaply
 * (lengths, ranges, patterns); the server checks the rest (JSON depth and size) before it
 * stores an upload.
 *
 * Honest replicas stay within them for any app whose rows and args do: an app whose single
 * row image (an INSERT's full row, an UPDATE's changed columns, a DELETE's old row, as JSON)
 * or args could exceed `maxRowImageChars` / `maxArgsChars` keeps large values out of synced
 * rows (a blob store, with the reference synced) or splits them over several rows.
 */
export const Limits = {
  /** Actions in one upload. */
  maxActionsPerUpload: 500,
  /** Patches carried by one action. */
  maxPatchesPerAction: 10_000,
  /** Encoded size of one action's args (`{ input, timestamp }`), in characters of JSON. */
  maxArgsChars: 256 * 1024,
  /** Actions in one fetch page. */
  maxFetchLimit: 1000,
  /**
   * Nesting of JSON values (args, row images): containers inside containers, the outermost
   * being level 1 (a row image's column values are at level 2). Deeper input is refused
   * before it is parsed further, so it can neither overflow a stack nor reach Postgres.
   */
  maxJsonDepth: 64,
  /** Size of one patch row image (`forward` or `reverse`), in characters of JSON. */
  maxRowImageChars: 256 * 1024,
  /** A user id: the caller's (from its token) and an action's author. */
  maxUserIdChars: 256,
  /** A patch's audience key (and a correction's audience). */
  maxAudienceKeyChars: 256,
  /** A schema or table name: a Postgres identifier, at most 63 bytes of UTF-8. */
  maxIdentifierBytes: 63,
  /** A patch's row id (the row's key as text). */
  maxRowIdChars: 1024,
  /** An action tag. */
  maxTagChars: 200,
  /** A patch's sequence within its action: 1 up to this (Postgres `integer`). */
  maxPatchSeq: 2_147_483_647,
  /** A server sequence (`basis`, `since`): 0 up to this, exact in JavaScript and in Postgres `bigint`. */
  maxServerSeq: Number.MAX_SAFE_INTEGER
} as const

/**
 * Text of at most `max` characters that Postgres can store as `text` (no U+0000, no unpaired
 * surrogate); `limit` names the `Limits` entry in the message.
 */
const boundedText = (max: number, limit: keyof typeof Limits) =>
  Schema.String.pipe(
    Schema.filter(
      (s) =>
        s.length > max
          ? `it is ${s.length} characters long; the limit is ${max} (SyncProtocol.Limits.${limit})`
          : textProblem(s),
      { jsonSchema: { maxLength: max } }
    )
  )

/**
 * Why `text` cannot be stored as Postgres text (it holds U+0000 or an unpaired UTF-16
 * surrogate), or undefined. Linear; the field Schemas below and the server's checks use it.
 */
export const textProblem = (text: string): string | undefined => JsonLimits.textProblem(text)

/**
 * Why `name` is not a Postgres identifier of 1 to `Limits.maxIdentifierBytes` bytes of UTF-8
 * (storable as text), or undefined.
 */
export const identifierProblem = (name: string): string | undefined =>
  JsonLimits.identifierProblem(name, Limits.maxIdentifierBytes)

/** A user id: at most `Limits.maxUserIdChars`, storable as Postgres text. */
export const UserId = boundedText(Limits.maxUserIdChars, "maxUserIdChars")

/** An audience key: at most `Limits.maxAudienceKeyChars`, storable as Postgres text. */
export const AudienceKey = boundedText(Limits.maxAudienceKeyChars, "maxAudienceKeyChars")

/** A patch's row id: at most `Limits.maxRowIdChars`, storable as Postgres text. */
export const RowId = boundedText(Limits.maxRowIdChars, "maxRowIdChars")

/** A schema or table name: a Postgres identifier of 1 to `Limits.maxIdentifierBytes` bytes. */
export const Identifier = Schema.String.pipe(
  Schema.filter((s) => identifierProblem(s), { jsonSchema: { minLength: 1, maxLength: Limits.maxIdentifierBytes } })
)

/** An action tag as recorded: 1–200 of `A-Z a-z 0-9 _ . : -`. */
export const Tag = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.:-]{1,200}$/))

/** The tag of the built-in correction (R-SYNC-3): the only tag of records of kind `correction`. */
export const CorrectionTag = "reprise.correction.v1"

/** The tag of the built-in adoption: local to a replica, never uploaded. */
export const AdoptionTag = "reprise.adoption.v1"

/**
 * Why `text` is not a row image the server accepts (one JSON object of at most
 * `Limits.maxRowImageChars` characters, nested at most `Limits.maxJsonDepth` levels, holding
 * nothing Postgres `jsonb` refuses), or undefined. `tooLarge`: a limit was exceeded. One
 * left-to-right pass with a bounded stack: linear, and no input overflows the call stack.
 */
export const rowImageProblem = (text: string): { readonly tooLarge: boolean; readonly detail: string } | undefined =>
  JsonLimits.scanObjectText(text, Limits.maxJsonDepth, Limits.maxRowImageChars)

/**
 * Why `value` (an action's `args.input`, as parsed) is not JSON the server accepts (nested at
 * most `Limits.maxJsonDepth` levels, about `Limits.maxArgsChars` characters at most, nothing
 * Postgres `jsonb` refuses), or undefined. Walked with an explicit stack, stopping at the first
 * problem or once it is known to be too large.
 */
export const jsonValueProblem = (value: unknown): { readonly tooLarge: boolean; readonly detail: string } | undefined =>
  JsonLimits.walkValue(value, Limits.maxJsonDepth, Limits.maxArgsChars)

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Why `args` is not the record an action's args are (`{ input, timestamp }`: `input` the
 * encoded args, absent when they encode to nothing; `timestamp` the time captured when the
 * action ran, an integer from 0 to `Hlc.MAX_WALL_MS`; nothing else), or undefined. Only the
 * shape: `jsonValueProblem` checks the input's depth and size.
 */
export const argsShapeProblem = (args: unknown): string | undefined => {
  if (!isRecord(args)) {
    return `they are ${args === null ? "null" : Array.isArray(args) ? "an array" : `a ${typeof args}`}; an action's args are the record { input, timestamp }`
  }
  for (const key of Object.keys(args)) {
    if (key !== "input" && key !== "timestamp") {
      return `they have the field ${JSON.stringify(key.slice(0, 40))}; an action's args are the record { input, timestamp } and nothing else`
    }
  }
  const timestamp = args["timestamp"]
  if (typeof timestamp !== "number" || !Number.isInteger(timestamp) || timestamp < 0 || timestamp > Hlc.MAX_WALL_MS) {
    return `their timestamp is ${typeof timestamp === "number" ? timestamp : `a ${typeof timestamp}`}; it is the time the ` +
      `action ran, an integer number of ms from 0 to ${Hlc.MAX_WALL_MS}`
  }
  return undefined
}

/**
 * An action's args as recorded and sent: the record `{ input, timestamp }` (see
 * `argsShapeProblem`). Its type stays `unknown`: the app's own Schema decodes the input when a
 * replica replays the action.
 */
export const ActionArgs = Schema.Unknown.pipe(
  Schema.filter((args) => argsShapeProblem(args), {
    arbitrary: () => (fc) =>
      fc.record({ input: fc.jsonValue({ maxDepth: 3 }), timestamp: fc.integer({ min: 0, max: Hlc.MAX_WALL_MS }) })
  })
)

/**
 * The input of a correction (the built-in action tagged `CorrectionTag`, R-SYNC-3), as the
 * engine records it and as replicas and the server decode it: the rows it sets, the actions it
 * restates and its audience.
 */
export const CorrectionInput = Schema.Struct({
  rows: Schema.Array(Schema.Struct({
    schema: Schema.String,
    table: Schema.String,
    rowId: Schema.String,
    /** The row's JSON text as to_jsonb rendered it, or null when the row must not exist. */
    image: Schema.NullOr(Schema.String)
  })),
  /**
   * The actions whose replay wrote these rows otherwise than their authors: the server hands
   * them out with the correction to every user who receives it, so a replica that sees a
   * corrected row also replays what changed it.
   */
  restates: Schema.optionalWith(Schema.Array(Schema.UUID), { default: () => [] }),
  /**
   * The audience key of its rows (null: public): the server shows the correction, and the
   * actions it restates, to the users of this audience, even when it sets no row (a
   * correction that only restates actions hidden from the audience). Absent in corrections
   * made before it existed; their patches say where they are seen.
   */
  audience: Schema.optional(Schema.NullOr(AudienceKey))
})

const overLength = (value: unknown, max: number, what: string, limit: keyof typeof Limits): string | undefined =>
  typeof value === "string" && value.length > max
    ? `${what} is ${value.length} characters long; the limit is ${max} (SyncProtocol.Limits.${limit})`
    : undefined

/**
 * The first count or string length of an upload over `Limits`, raw (before decoding: a
 * transport's precheck, so an oversized body is answered `TooLarge` and never walked in full by
 * the decoder) or decoded (the fields have the same names): actions per upload, patches per
 * action, and the lengths of the author, tag, schema, table, row id, audience key and row
 * images. Reads only lengths: linear in the number of patches, whatever the strings hold.
 * `actionId`: the action at fault, when known.
 */
export const uploadSizeProblem = (
  request: unknown
): { readonly actionId: string | null; readonly detail: string } | undefined => {
  if (!isRecord(request) || !Array.isArray(request["actions"])) return undefined
  const actions: ReadonlyArray<unknown> = request["actions"]
  if (actions.length > Limits.maxActionsPerUpload) {
    return {
      actionId: null,
      detail: `${actions.length} actions in one upload; the limit is ${Limits.maxActionsPerUpload} ` +
        `(SyncProtocol.Limits.maxActionsPerUpload). Upload in batches.`
    }
  }
  for (const action of actions) {
    if (!isRecord(action)) continue
    const actionId = typeof action["id"] === "string" && action["id"].length <= 36 ? action["id"] : null
    const own = overLength(action["userId"], Limits.maxUserIdChars, "the action's author user id", "maxUserIdChars") ??
      overLength(action["tag"], Limits.maxTagChars, "the action's tag", "maxTagChars")
    if (own !== undefined) return { actionId, detail: own }
    const patches = action["patches"]
    if (!Array.isArray(patches)) continue
    if (patches.length > Limits.maxPatchesPerAction) {
      return {
        actionId,
        detail: `the action carries ${patches.length} patches; the limit is ${Limits.maxPatchesPerAction} ` +
          `(SyncProtocol.Limits.maxPatchesPerAction)`
      }
    }
    for (let i = 0; i < patches.length; i++) {
      const patch: unknown = patches[i]
      if (!isRecord(patch)) continue
      const at = `patch #${i + 1}'s`
      const problem = overLength(patch["schema"], Limits.maxIdentifierBytes, `${at} schema`, "maxIdentifierBytes") ??
        overLength(patch["table"], Limits.maxIdentifierBytes, `${at} table`, "maxIdentifierBytes") ??
        overLength(patch["rowId"], Limits.maxRowIdChars, `${at} rowId`, "maxRowIdChars") ??
        overLength(patch["audienceKey"], Limits.maxAudienceKeyChars, `${at} audienceKey`, "maxAudienceKeyChars") ??
        overLength(patch["forward"], Limits.maxRowImageChars, `${at} forward row image`, "maxRowImageChars") ??
        overLength(patch["reverse"], Limits.maxRowImageChars, `${at} reverse row image`, "maxRowImageChars")
      if (problem !== undefined) return { actionId, detail: problem }
    }
  }
  return undefined
}

/** One row change, as uploaded and fetched. */
export const PatchWire = Schema.Struct({
  seq: Schema.Int.pipe(Schema.between(1, Limits.maxPatchSeq)),
  schema: Identifier,
  table: Identifier,
  rowId: RowId,
  op: Patch.Operation,
  forward: Schema.NullOr(Patch.RowJson),
  reverse: Schema.NullOr(Patch.RowJson),
  audienceKey: Schema.NullOr(AudienceKey)
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
  /** `{ input, timestamp }`: the encoded args and the captured time (`ActionArgs`). */
  args: ActionArgs,
  clientId: Hlc.NodeId,
  userId: Schema.NullOr(UserId),
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
  basis: Schema.Int.pipe(Schema.between(0, Limits.maxServerSeq)),
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
  since: Schema.Int.pipe(Schema.between(0, Limits.maxServerSeq)),
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
