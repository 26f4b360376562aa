/**
 * Storing a validated upload, in ONE transaction under the caller's identity (`session.ts`):
 * the client binding (a client id belongs to the first user that uploads under it: another
 * user's upload under it is `WrongClient`), sequencing lock, idempotency check against stored actions, head gate, the tracked-table
 * check, the audience check (a patch labeled with an audience the caller is not in is
 * `Forbidden`), storing the new actions and their patches, moving the head and materializing
 * them under their author's identity, where the app tables' policies and the real audience keys
 * are checked (`Forbidden`). Nothing is written on any failure.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Hlc, SqlArray, SyncProtocol } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { causeMessage, sqlState } from "./failure.js"
import * as Session from "./session.js"
import * as Log from "./sql/log.js"
import { misplacedCorrection } from "./validate.js"

/** What `store` needs: the request, its actions' encoded args (from `validate`), the caller. @internal */
export interface Upload {
  readonly callerUserId: string
  readonly request: SyncProtocol.UploadRequest
  /** The JSON text of each action's args, in request order. */
  readonly args: ReadonlyArray<string>
  /** The caller and how the service meets the database. */
  readonly caller: Session.Caller
  readonly mode: Session.Mode
  /** The caller's in-code audiences, resolved before the transaction (`Session.prepare`). */
  readonly prepared: Session.Prepared
}

const Seq = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())
const decodeHeads = Schema.decodeUnknown(Schema.Array(Schema.Struct({ head: Seq, visible: Seq })))
const decodeIds = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.String })))
const decodeCompared = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ id: Schema.String, server_seq: Seq, same: Schema.Boolean }))
)
const decodeStored = Schema.decodeUnknown(Schema.Array(Schema.Struct({ id: Schema.String, server_seq: Seq })))
const decodeBound = Schema.decodeUnknown(Schema.Array(Schema.Struct({ bound: Schema.Boolean })))
const decodeUntracked = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ schema: Schema.String, table: Schema.String, present: Schema.Boolean }))
)

/** Stores `upload` (see the module's doc); returns the sequences, in request order, and the head. @internal */
export const store = (
  sql: SqlClient.SqlClient,
  upload: Upload
): Effect.Effect<SyncProtocol.UploadResponse, SyncProtocol.UploadRejected | SyncProtocol.BehindHead | SqlError> =>
  sql.withTransaction(Effect.gen(function*() {
    const { callerUserId, request } = upload
    const callerAudiences = yield* Session.begin(sql, upload.mode, upload.caller, upload.prepared)
    const misplaced = callerAudiences === null ? undefined : misplacedCorrection(request.actions, callerAudiences)
    if (misplaced !== undefined) return yield* misplaced
    const entries = request.actions.map((action, i) => ({ action, json: encodeAction(action, upload.args[i]!, i) }))
    const audiences = callerAudiences === null ? null : SqlArray.text(callerAudiences)
    // The idempotency check compares with what is stored, whoever may see it.
    const bookkeeping = <A, E>(effect: Effect.Effect<A, E>) =>
      callerAudiences === null ? effect : Session.asSystem(sql, effect)
    // Outside the sequencing lock: a first upload racing another for the same client id waits
    // for that transaction only, and no lock is held while it waits.
    yield* checkClient(sql, request.clientId, callerUserId)
    yield* Log.lockSequence(sql)
    const ids = request.actions.map((a) => a.id)
    const present = new Set(
      (yield* Effect.orDie(decodeIds(yield* bookkeeping(Log.storedIds(sql, SqlArray.text(ids)))))).map((r) => r.id)
    )
    const seqs = new Map<string, number>()
    if (present.size > 0) {
      const existing = entries.filter((e) => present.has(e.action.id.toLowerCase()))
      const compared = yield* Effect.orDie(
        decodeCompared(yield* bookkeeping(Log.compareStored(sql, jsonArray(existing))))
      )
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
      yield* checkTracked(sql, fresh.map((e) => e.action))
      if (callerAudiences !== null) {
        const forged = foreignAudience(fresh.map((e) => e.action), callerAudiences)
        if (forged !== undefined) return yield* forged
      }
      const stored = yield* Effect.orDie(decodeStored(
        yield* Effect.catchIf(Log.storeActions(sql, jsonArray(fresh), String(head), audiences), isRlsRefusal, refused)
      ))
      for (const row of stored) seqs.set(row.id, row.server_seq)
      head += stored.length
      yield* Log.setHead(sql, String(head))
      yield* Log.notifyHead(sql, String(head))
      yield* Effect.catchIf(
        Log.materialize(sql, SqlArray.text(fresh.map((e) => e.action.id))),
        isDataError,
        (error) =>
          isRlsRefusal(error) ? refused(error) : new SyncProtocol.UploadRejected({
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

/**
 * Binds the upload's client id to the caller, or refuses the upload as `WrongClient` when the
 * client id belongs to another user (the first user to upload under a client id owns it).
 */
const checkClient = (sql: SqlClient.SqlClient, clientId: string, userId: string) =>
  Effect.gen(function*() {
    const [row] = yield* Effect.orDie(decodeBound(yield* Log.bindClient(sql, clientId, userId)))
    if (row?.bound === true) return
    return yield* new SyncProtocol.UploadRejected({
      reason: "WrongClient",
      actionId: null,
      detail: `client ${JSON.stringify(clientId)} belongs to another user: a client id is bound to the first user ` +
        `that uploads under it. A replica used by another user needs a client id of its own (open a fresh ` +
        `replica for this user); nothing of the upload was stored`
    })
  })

/**
 * Refuses the upload when a patch writes to a table the server's database does not have as a
 * tracked table: the server lacks the app's setup (or the client sends patches for a table the
 * app does not sync). The caller learns which table and what setup it needs; the server's log
 * says whether the table exists at all.
 */
const checkTracked = (sql: SqlClient.SqlClient, actions: ReadonlyArray<SyncProtocol.ActionWire>) =>
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
    yield* Effect.logWarning(
      `SyncService: refused an upload writing to ${untracked.schema}.${untracked.table}, which ` +
        (untracked.present ? "exists on this database but is not tracked" : "does not exist on this database")
    )
    return yield* untrackedTable(untracked.schema, untracked.table, culprit?.id ?? null)
  })

/** The rejection naming the table a patch writes to and the setup the server's database lacks. @internal */
export const untrackedTable = (schema: string, table: string, actionId: string | null): SyncProtocol.UploadRejected => {
  const spec = schema === "public" ? JSON.stringify(table) : `{ schema: ${JSON.stringify(schema)}, name: ${JSON.stringify(table)} }`
  return new SyncProtocol.UploadRejected({
    reason: "UntrackedTable",
    actionId,
    detail: `a patch writes to ${JSON.stringify(`${schema}.${table}`)}, which the server's database does not have as ` +
      `a tracked table. The server's database needs the app's tables, created as on the clients, each with tracking ` +
      `installed: create the table there and run Tracking.install([${spec}]) on that database (after ` +
      `ServerSchema.install or SyncService.layer). If the app has no such table, the client sends patches it must not`
  })
}

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

// Data and integrity errors (SQLSTATE classes 22 and 23), a column the table lacks (42703) and
// Reprise's own apply errors (RP...) raised while applying patches mean the upload's patches do
// not fit the canonical tables; a row-level security refusal means the author may not write them.
const isDataError = (error: SqlError): boolean => {
  const code = sqlState(error.cause)
  return (code !== undefined && /^(22|23|RP|42703$)/.test(code)) || isRlsRefusal(error)
}

/**
 * The author's policies refused a write (materialization's RP010), a claimed audience key is not
 * the row's (RP011), or Postgres refused a row under a row-level security policy (42501 with
 * that message; other 42501s are the server's own missing privileges, a `ServerFailure`).
 */
const isRlsRefusal = (error: SqlError): boolean => {
  const code = sqlState(error.cause)
  return code === "RP010" || code === "RP011" ||
    (code === "42501" && /row-level security/.test(causeMessage(error)))
}

const refused = (error: SqlError): SyncProtocol.UploadRejected => {
  const cause: unknown = error.cause
  const detail = typeof cause === "object" && cause !== null && "detail" in cause && typeof cause.detail === "string"
    ? cause.detail
    : ""
  return new SyncProtocol.UploadRejected({
    reason: "Forbidden",
    actionId: /^[0-9a-f-]{36}$/i.test(detail) ? detail : null,
    detail: `${causeMessage(error)}; nothing of the upload was stored`
  })
}

/**
 * The first patch labeled with an audience the uploader is not in: a user writes only rows of
 * its own audiences, or public ones (null).
 */
const foreignAudience = (
  actions: ReadonlyArray<SyncProtocol.ActionWire>,
  audiences: ReadonlyArray<string>
): SyncProtocol.UploadRejected | undefined => {
  for (const action of actions) {
    for (const p of action.patches) {
      if (p.audienceKey === null || audiences.includes(p.audienceKey)) continue
      return new SyncProtocol.UploadRejected({
        reason: "Forbidden",
        actionId: action.id,
        detail: `${p.op} of row ${JSON.stringify(p.rowId)} of ${JSON.stringify(`${p.schema}.${p.table}`)} is labeled ` +
          `with audience ${JSON.stringify(p.audienceKey)}, which is not one of the uploader's ` +
          `(${audiences.map((a) => JSON.stringify(a)).join(", ") || "none"}); a user writes only rows of its own ` +
          `audiences or public ones; nothing of the upload was stored`
      })
    }
  }
  return undefined
}
