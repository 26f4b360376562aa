/**
 * The server's sync service, independent of any transport: validates and stores uploaded
 * actions, assigns their server sequence, materializes the canonical tables from their patches,
 * and serves the log in pages. It never runs app code (R-SRV-1): canonical tables change only
 * by applying the patches the authors' replicas captured.
 *
 * Methods take the caller's user id explicitly; the transport authenticates it.
 *
 * @example
 * ```ts
 * const ServerLive = SyncService.layer().pipe(Layer.provide(PgClient.layer({ url })))
 * const program = Effect.gen(function*() {
 *   const sync = yield* SyncService.SyncService
 *   const { accepted, head } = yield* sync.upload(userId, requestBody)
 *   const page = yield* sync.fetch(userId, { since: 0, limit: 100 })
 * })
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Hlc, SyncProtocol } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Log from "./internal/sql/log.js"
import { checkCounts, validate } from "./internal/validate.js"
import * as ServerSchema from "./ServerSchema.js"

/** A fetch request that does not decode; nothing was read. */
export class FetchRejected extends Schema.TaggedError<FetchRejected>()("FetchRejected", {
  detail: Schema.String
}) {
  override get message() {
    return `Fetch rejected (Malformed): ${this.detail}`
  }
}

/** Why an upload fails. */
export type UploadError = SyncProtocol.UploadRejected | SyncProtocol.BehindHead | SqlError

/** Options of the service. */
export interface Options {
  /**
   * How far an action's HLC wall time may be ahead of the server's `Clock`;
   * `Hlc.DEFAULT_MAX_DRIFT_MS` (5 minutes) by default (R-SYNC-8).
   */
  readonly maxDriftMs?: number
  /**
   * The audience keys a user may see (R-SRV-3). When given, a fetch returns only the actions
   * the caller wrote or that have a patch in one of its audiences (or a public patch, whose
   * audience key is null), each with only those patches; the head gate compares an upload's
   * basis with what the caller can see; and each stored action remembers its author's
   * audiences, so a fetch can tell a caller whether it sees everything the author saw.
   * Without it nothing is filtered: every user sees every action.
   *
   * @example
   * ```ts
   * SyncService.layer({
   *   audiences: (userId) =>
   *     Effect.map(sql<{ key: string }>`SELECT list_key AS key FROM members WHERE user_id = ${userId}`,
   *       (rows) => rows.map((r) => r.key))
   * })
   * ```
   */
  readonly audiences?: (userId: string) => Effect.Effect<ReadonlyArray<string>, SqlError>
}

/** The service's shape. */
export interface SyncServiceShape {
  /**
   * Validates an upload (Schema, size limits, author = caller, client, clock drift) and, in ONE
   * transaction, head-gates it, stores its new actions with consecutive sequences (in request
   * order), stores their patches and materializes them. Actions already stored are not stored
   * again: their sequence is returned (R-SYNC-5). Nothing is written on any failure.
   *
   * The head gate (R-SYNC-6) compares `basis` with the highest sequence of actions NOT
   * authored by the uploading client that the caller may see: a client need not re-fetch its
   * own actions, nor wait for actions it will never receive. An upload whose actions are all
   * stored already writes nothing, so it is not gated.
   */
  readonly upload: (
    callerUserId: string,
    request: unknown
  ) => Effect.Effect<SyncProtocol.UploadResponse, UploadError>
  /**
   * Actions after `since` that the caller may see, in server order, at most `limit`
   * (R-SYNC-9), with only the patches in the caller's audiences (R-SRV-3, see
   * `Options.audiences`). Runs with `reprise.user_id` set to the caller, for RLS policies.
   */
  readonly fetch: (
    callerUserId: string,
    request: unknown
  ) => Effect.Effect<SyncProtocol.FetchResponse, FetchRejected | SqlError>
  /**
   * `fetch`, answered as the JSON text of the encoded `SyncProtocol.FetchResponse`, built from
   * the stored JSON without decoding it: what a transport sends. The receiver decodes it with
   * the Schema, as it would any message.
   */
  readonly fetchEncoded: (
    callerUserId: string,
    request: unknown
  ) => Effect.Effect<string, FetchRejected | SqlError>
  /** The highest server sequence assigned. */
  readonly head: (callerUserId: string) => Effect.Effect<number, SqlError>
}

/** The server's sync service. */
export class SyncService extends Context.Tag("@reprise/server/SyncService")<SyncService, SyncServiceShape>() {}

const decodeUpload = Schema.decodeUnknown(SyncProtocol.UploadRequest, { errors: "all", onExcessProperty: "ignore" })
const decodeFetch = Schema.decodeUnknown(SyncProtocol.FetchRequest, { errors: "all" })
const Seq = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())
const decodeHeads = Schema.decodeUnknown(Schema.Array(Schema.Struct({ head: Seq, visible: Seq })))
const decodeHead = Schema.decodeUnknown(Schema.Array(Schema.Struct({ head: Seq })))
const decodeIds = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.String })))
const decodeCompared = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ id: Schema.String, server_seq: Seq, same: Schema.Boolean }))
)
const decodeStored = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.String, server_seq: Seq })))
const decodeUntracked = Schema.decodeUnknown(Schema.Array(Schema.Struct({ schema: Schema.String, table: Schema.String })))
const decodePage = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ action: Schema.parseJson(SyncProtocol.RemoteAction) }))
)
const PageRows = Schema.Array(Schema.Struct({ action: Schema.String, extra: Schema.Boolean }))
const LastSeq = Schema.Struct({ serverSeq: Schema.Int })

/**
 * A correction names the audience it is for, and the server shows it (with the actions it
 * restates) there: a user may only send one to an audience of theirs, or to everyone (null).
 */
const misplacedCorrection = (
  actions: ReadonlyArray<SyncProtocol.ActionWire>,
  audiences: ReadonlyArray<string>
): SyncProtocol.UploadRejected | undefined => {
  for (const action of actions) {
    if (action.kind !== "correction") continue
    const input: unknown = (action.args as { readonly input?: unknown } | null)?.input
    if (typeof input !== "object" || input === null || !("audience" in input)) continue
    const audience = (input as { readonly audience: unknown }).audience
    if (audience === null || (typeof audience === "string" && audiences.includes(audience))) continue
    return new SyncProtocol.UploadRejected({
      reason: "Malformed",
      actionId: action.id,
      detail: `the correction is for audience ${JSON.stringify(audience)}, which is not one of the uploader's ` +
        `(${audiences.map((a) => JSON.stringify(a)).join(", ") || "none"}); a correction is for one of them, or null ` +
        `for public rows`
    })
  }
  return undefined
}

/**
 * Builds the service: installs the server schema if needed (`ServerSchema.install`).
 */
export const make = (
  options: Options = {}
): Effect.Effect<SyncServiceShape, ServerSchema.InstallError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* ServerSchema.install()
    const maxDriftMs = options.maxDriftMs ?? Hlc.DEFAULT_MAX_DRIFT_MS
    const resolveAudiences = options.audiences
    /** The caller's audiences: a sorted, deduplicated list, or null when nothing is filtered. */
    const audiencesOf = (userId: string): Effect.Effect<ReadonlyArray<string> | null, SqlError> =>
      resolveAudiences === undefined
        ? Effect.succeed(null)
        : Effect.map(resolveAudiences(userId), (keys) => [...new Set(keys)].sort())
    const arrayLiteral = (keys: ReadonlyArray<string> | null) => keys === null ? null : Log.textArray(keys)

    const readHead = Effect.flatMap(Log.head(sql), (rows) =>
      Effect.map(Effect.orDie(decodeHead(rows)), ([row]) => row?.head ?? 0))

    const upload = Effect.fn("SyncService.upload")(function*(callerUserId: string, input: unknown) {
      const tooLarge = checkCounts(input)
      if (tooLarge !== undefined) return yield* tooLarge
      const request = yield* Effect.mapError(
        decodeUpload(input),
        (error) => new SyncProtocol.UploadRejected({ reason: "Malformed", actionId: null, detail: error.message })
      )
      const checked = validate(request, { callerUserId, nowMs: yield* Clock.currentTimeMillis, maxDriftMs })
      if (checked instanceof SyncProtocol.UploadRejected) return yield* checked
      const entries = request.actions.map((action, i) => ({ action, json: encodeAction(action, checked[i]!, i) }))
      const callerAudiences = yield* audiencesOf(callerUserId)
      const misplaced = callerAudiences === null ? undefined : misplacedCorrection(request.actions, callerAudiences)
      if (misplaced !== undefined) return yield* misplaced
      const audiences = arrayLiteral(callerAudiences)
      return yield* sql.withTransaction(Effect.gen(function*() {
        yield* Log.lockSequence(sql)
        const ids = request.actions.map((a) => a.id)
        const present = new Set(
          (yield* Effect.orDie(decodeIds(yield* Log.storedIds(sql, Log.textArray(ids))))).map((r) => r.id)
        )
        const seqs = new Map<string, number>()
        if (present.size > 0) {
          const existing = entries.filter((e) => present.has(e.action.id.toLowerCase()))
          const compared = yield* Effect.orDie(decodeCompared(yield* Log.compareStored(sql, jsonArray(existing))))
          for (const row of compared) {
            if (!row.same) {
              return yield* new SyncProtocol.UploadRejected({
                reason: "Conflict",
                actionId: row.id,
                detail: "an action with this id is already stored with a different content (record or patches)"
              })
            }
            seqs.set(row.id, row.server_seq)
          }
        }
        const fresh = entries.filter((e) => !present.has(e.action.id.toLowerCase()))
        const [heads] = yield* Effect.orDie(
          decodeHeads(yield* Log.heads(sql, request.clientId, request.basis, callerUserId, audiences))
        )
        let head = heads?.head ?? 0
        if (fresh.length > 0) {
          const visible = heads?.visible ?? 0
          if (visible > request.basis) return yield* new SyncProtocol.BehindHead({ basis: request.basis, head: visible })
          yield* checkTracked(fresh.map((e) => e.action))
          const stored = yield* Effect.orDie(decodeStored(yield* Log.storeActions(sql, jsonArray(fresh), String(head), audiences)))
          for (const row of stored) seqs.set(row.id, row.server_seq)
          head += stored.length
          yield* Log.setHead(sql, String(head))
          yield* Effect.catchIf(
            Log.materialize(sql, Log.textArray(fresh.map((e) => e.action.id))),
            isDataError,
            (error) =>
              new SyncProtocol.UploadRejected({
                reason: "Malformed",
                actionId: null,
                detail: `the patches cannot be applied to the canonical tables: ${causeMessage(error)}`
              })
          )
        }
        const accepted = request.actions.map((a) => ({ id: a.id, serverSeq: seqs.get(a.id.toLowerCase()) ?? 0 }))
        if (accepted.some((a) => a.serverSeq === 0)) {
          return yield* Effect.die({ _tag: "SequenceMissing", accepted })
        }
        return { accepted, head }
      }))
    })

    const checkTracked = (actions: ReadonlyArray<SyncProtocol.ActionWire>) =>
      Effect.gen(function*() {
        const pairs = new Map<string, { s: string; t: string }>()
        for (const action of actions) {
          for (const p of action.patches) pairs.set(JSON.stringify([p.schema, p.table]), { s: p.schema, t: p.table })
        }
        if (pairs.size === 0) return
        const [untracked] = yield* Effect.orDie(
          decodeUntracked(yield* Log.untrackedTables(sql, JSON.stringify([...pairs.values()])))
        )
        if (untracked === undefined) return
        const culprit = actions.find((a) => a.patches.some((p) => p.schema === untracked.schema && p.table === untracked.table))
        return yield* new SyncProtocol.UploadRejected({
          reason: "Malformed",
          actionId: culprit?.id ?? null,
          detail: `a patch writes to ${JSON.stringify(`${untracked.schema}.${untracked.table}`)}, which is not a ` +
            `tracked table on the server`
        })
      })

    /** One page as the stored JSON text of each action (encoded `RemoteAction`s). */
    const fetchPage = (callerUserId: string, input: unknown) =>
      Effect.gen(function*() {
        const request = yield* Effect.mapError(decodeFetch(input), (error) => new FetchRejected({ detail: error.message }))
        const audiences = yield* audiencesOf(callerUserId)
        return yield* sql.withTransaction(Effect.gen(function*() {
          yield* Log.setUser(sql, callerUserId)
          // The head first, then the page up to it: every sequence up to the head is committed
          // (R-SYNC-7), so when the page is the last one the cursor may move to the head, past
          // actions the caller may not see.
          const head = yield* readHead
          const rows = yield* Effect.orDie(Schema.decodeUnknown(PageRows)(
            yield* Log.fetchPage(sql, {
              since: request.since,
              head,
              limit: request.limit + 1,
              userId: callerUserId,
              audiences: arrayLiteral(audiences)
            })
          ))
          // The page proper (limit + 1 read, to know whether there is more), then the actions
          // its corrections restate.
          const main = rows.filter((row) => !row.extra)
          const hasMore = main.length > request.limit
          const page = main.slice(0, request.limit)
          // The cursor: the page's last sequence when there is more, else the head.
          const last = page[page.length - 1]
          const next = hasMore && last !== undefined
            ? (yield* Effect.orDie(Schema.decodeUnknown(Schema.parseJson(LastSeq))(last.action))).serverSeq
            : Math.max(head, request.since)
          return { page: [...page, ...rows.filter((row) => row.extra)], next, hasMore, head, audiences }
        }))
      })

    const fetch = Effect.fn("SyncService.fetch")(function*(callerUserId: string, input: unknown) {
      const { audiences, hasMore, head, next, page } = yield* fetchPage(callerUserId, input)
      const actions = (yield* Effect.orDie(decodePage(page))).map((row) => row.action)
      return { actions, next, head: Math.max(head, next), hasMore, audiences }
    })

    const fetchEncoded = Effect.fn("SyncService.fetchEncoded")(function*(callerUserId: string, input: unknown) {
      const { audiences, hasMore, head, next, page } = yield* fetchPage(callerUserId, input)
      return `{"actions":[${page.map((row) => row.action).join(",")}],"next":${next},"head":${Math.max(head, next)},` +
        `"hasMore":${hasMore},"audiences":${JSON.stringify(audiences)}}`
    })

    const head = Effect.fn("SyncService.head")(function*(_callerUserId: string) {
      return yield* readHead
    })

    return { upload, fetch, fetchEncoded, head }
  })

/**
 * The service as a layer; building it installs the server schema if needed.
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SyncService, ServerSchema.InstallError, SqlClient.SqlClient> => Layer.effect(SyncService, make(options))

/** One action of the request as the JSON the log statements read (args and row images as JSON strings). */
const encodeAction = (action: SyncProtocol.ActionWire, args: string, ord: number): string =>
  JSON.stringify({
    ord,
    id: action.id,
    tag: action.tag,
    args,
    client_id: action.clientId,
    user_id: action.userId,
    hlc: Hlc.encode(action.hlc),
    kind: action.kind,
    patches: action.patches
  })

const jsonArray = (entries: ReadonlyArray<{ readonly json: string }>): string => `[${entries.map((e) => e.json).join(",")}]`

// Data and integrity errors (SQLSTATE classes 22 and 23) and Reprise's own apply errors (RP...)
// raised while applying patches mean the upload's patches do not fit the canonical tables.
const isDataError = (error: SqlError): boolean => {
  const code = codeOf(error.cause)
  return code !== undefined && /^(22|23|RP)/.test(code)
}

const codeOf = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

const causeMessage = (error: SqlError): string =>
  error.cause instanceof Error ? error.cause.message : error.message
