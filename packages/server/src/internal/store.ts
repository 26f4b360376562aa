/**
 * Storing a validated upload, in ONE transaction under the caller's identity (`session.ts`):
 * the client binding (a client id belongs to the first user that uploads under it: another
 * user's upload under it is `WrongClient`), then, in one call to `reprise_server.store_upload`
 * (`sql/upload.ts`): sequencing lock, idempotency check against stored actions, head gate, the
 * tracked-table check, the audience check (a patch labeled with an audience the caller is not in is
 * `Forbidden`), storing the new actions and their patches, moving the head and materializing
 * them under their author's identity, where the app tables' policies and the real audience keys
 * are checked (`Forbidden`). Nothing is written on any failure.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Hlc, SqlArray, SyncProtocol } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
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

const Seq = Schema.Number.pipe(Schema.int(), Schema.nonNegative())
const Stored = Schema.Array(Schema.Struct({ id: Schema.String, server_seq: Seq }))
const Audiences = Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
const Outcome = Schema.Union(
  Schema.Struct({ status: Schema.Literal("ok"), head: Seq, seqs: Stored }),
  Schema.Struct({ status: Schema.Literal("conflict"), id: Schema.String }),
  Schema.Struct({ status: Schema.Literal("behind"), visible: Seq }),
  Schema.Struct({ status: Schema.Literal("untracked"), schema: Schema.String, table: Schema.String, present: Schema.Boolean }),
  Schema.Struct({ status: Schema.Literal("forged"), id: Schema.String, audiences: Audiences }),
  Schema.Struct({ status: Schema.Literal("misplaced"), id: Schema.String, audiences: Audiences }),
  Schema.Struct({ status: Schema.Literal("wrong_client") })
)
type Outcome = typeof Outcome.Type
const decodeOutcome = Schema.decodeUnknown(Schema.Array(Schema.Struct({ outcome: Schema.parseJson(Outcome) })))
const decodeProcedure = Schema.decodeUnknown(Schema.Array(Schema.Struct({ p_outcome: Schema.parseJson(Outcome) })))

type StoreError = SyncProtocol.UploadRejected | SyncProtocol.BehindHead | SqlError

/**
 * Stores `upload` (see the module's doc); returns the sequences, in request order, and the head.
 *
 * Outside a transaction (the service's own calls) the whole upload is ONE round trip,
 * `CALL reprise_server.upload(...)` (`sql/upload.ts`), which commits or rolls back inside the
 * database, so the sequencing lock is never held across a round trip to this process. Inside a
 * caller's transaction (a procedure cannot end it) it is the same work in statements of that
 * transaction: the caller's settings, the client binding with the caller's audiences, then
 * `reprise_server.store_upload`, which takes the lock.
 * @internal
 */
export const store = (sql: SqlClient.SqlClient, upload: Upload): Effect.Effect<SyncProtocol.UploadResponse, StoreError> =>
  Effect.flatMap(
    Effect.serviceOption(SqlClient.TransactionConnection),
    (outer) => Option.isSome(outer) ? storeInTransaction(sql, upload) : storeByProcedure(sql, upload)
  )

/** The request's actions as the JSON array the database reads (args and row images as JSON strings). */
const payloadOf = (upload: Upload): string =>
  `[${upload.request.actions.map((action, i) => encodeAction(action, upload.args[i]!, i)).join(",")}]`

/** The (schema, table) pairs the request's patches write, as a JSON array of `{ s, t }`. */
const pairsOf = (actions: ReadonlyArray<SyncProtocol.ActionWire>): string => {
  const pairs = new Map<string, { s: string; t: string }>()
  for (const action of actions) {
    for (const p of action.patches) pairs.set(JSON.stringify([p.schema, p.table]), { s: p.schema, t: p.table })
  }
  return JSON.stringify([...pairs.values()])
}

/** The audience keys the actions claim (`c`: a correction's input.audience, else a patch label), nulls left out. */
const claimedKeys = (actions: ReadonlyArray<SyncProtocol.ActionWire>): string => {
  const keys: Array<{ id: string; c: boolean; key: string }> = []
  for (const action of actions) {
    if (action.kind === "correction") {
      const args: unknown = action.args
      const input = typeof args === "object" && args !== null && "input" in args ? args.input : undefined
      if (typeof input === "object" && input !== null && "audience" in input) {
        const audience = input.audience
        // Any non-null value that is not one of the caller's keys is misplaced: a non-string
        // one too (validation refuses those before; this keeps the check total).
        if (audience !== null) keys.push({ id: action.id, c: true, key: typeof audience === "string" ? audience : JSON.stringify(audience) })
      }
    }
    for (const p of action.patches) if (p.audienceKey !== null) keys.push({ id: action.id, c: false, key: p.audienceKey })
  }
  return JSON.stringify(keys)
}

// Data and integrity errors and RLS refusals raised while storing and materializing: the
// upload's patches do not fit the canonical tables, or the author may not write them.
const mapStoreError = <A, R>(effect: Effect.Effect<A, SqlError, R>) =>
  Effect.catchIf(effect, isDataError, (error) =>
    isRlsRefusal(error) ? refused(error) : new SyncProtocol.UploadRejected({
      reason: "Malformed",
      actionId: null,
      detail: `the patches cannot be applied to the canonical tables: ${causeMessage(error)}`
    }))

const visibilityOf = (upload: Upload): { readonly visibility: string; readonly given: string | null } =>
  upload.prepared === null
    ? { visibility: "everyone", given: null }
    : upload.prepared === undefined
    ? { visibility: "database", given: null }
    : { visibility: "given", given: SqlArray.text(upload.prepared) }

/** The upload in one `CALL reprise_server.upload(...)`, which ends its own transaction. */
const storeByProcedure = (sql: SqlClient.SqlClient, upload: Upload) =>
  Effect.gen(function*() {
    const { request } = upload
    const { given, visibility } = visibilityOf(upload)
    const rows = yield* mapStoreError(sql`CALL reprise_server.upload(${upload.caller.userId},
      ${JSON.stringify(upload.caller.claims ?? { sub: upload.caller.userId })}, ${visibility}, ${given}::text[],
      ${upload.mode.role}, ${request.clientId}, ${payloadOf(upload)}, ${SqlArray.text(request.actions.map((a) => a.id))}::uuid[],
      ${request.basis}::bigint, ${pairsOf(request.actions)}::jsonb, ${claimedKeys(request.actions)}::jsonb, NULL)`)
    const [row] = yield* Effect.orDie(decodeProcedure(rows))
    if (row === undefined) return yield* Effect.die({ _tag: "UploadOutcomeMissing" })
    return yield* settle(request, row.p_outcome)
  })

/** The upload as statements of the caller's transaction (see `store`). */
const storeInTransaction = (sql: SqlClient.SqlClient, upload: Upload) =>
  sql.withTransaction(Effect.gen(function*() {
    const { callerUserId, request } = upload
    // The binding comes before the sequencing lock: a first upload racing another for the same
    // client id waits for that transaction only, and holds no lock while it waits.
    const started = yield* Session.beginUpload(sql, upload.mode, upload.caller, upload.prepared, request.clientId)
    if (!started.bound) return yield* wrongClient(request.clientId)
    const callerAudiences = started.audiences
    const misplaced = callerAudiences === null ? undefined : misplacedCorrection(request.actions, callerAudiences)
    if (misplaced !== undefined) return yield* misplaced
    const forged = callerAudiences === null ? [] : foreignAudience(request.actions, callerAudiences)
    const rows = yield* mapStoreError(Log.storeUpload(sql, {
      payload: payloadOf(upload),
      ids: SqlArray.text(request.actions.map((a) => a.id)),
      clientId: request.clientId,
      basis: request.basis,
      userId: callerUserId,
      audiences: callerAudiences === null ? null : SqlArray.text(callerAudiences),
      pairs: pairsOf(request.actions),
      forged: SqlArray.text(forged.map((f) => f.actionId ?? ""))
    }))
    const [row] = yield* Effect.orDie(decodeOutcome(rows))
    if (row === undefined) return yield* Effect.die({ _tag: "UploadOutcomeMissing" })
    const outcome = row.outcome
    return yield* settle(
      request,
      outcome.status === "forged" ? { ...outcome, audiences: callerAudiences } : outcome
    )
  }))

/** The answer to the upload, or its typed rejection, from the database's outcome. */
const settle = (
  request: SyncProtocol.UploadRequest,
  outcome: Outcome
): Effect.Effect<SyncProtocol.UploadResponse, SyncProtocol.UploadRejected | SyncProtocol.BehindHead> =>
  Effect.gen(function*() {
    switch (outcome.status) {
      case "wrong_client":
        return yield* wrongClient(request.clientId)
      case "misplaced": {
        const rejection = misplacedCorrection(request.actions, outcome.audiences ?? [])
        return yield* (rejection ?? Effect.die({ _tag: "MisplacedCorrectionMissing", id: outcome.id }))
      }
      case "conflict":
        return yield* new SyncProtocol.UploadRejected({
          reason: "Conflict",
          actionId: outcome.id,
          detail: "an action with this id is already stored with a different content (record or patches)"
        })
      case "behind":
        return yield* new SyncProtocol.BehindHead({ basis: request.basis, head: outcome.visible })
      case "untracked": {
        const culprit = request.actions.find((a) =>
          a.patches.some((p) => p.schema === outcome.schema && p.table === outcome.table)
        )
        yield* Effect.logWarning(
          `SyncService: refused an upload writing to ${outcome.schema}.${outcome.table}, which ` +
            (outcome.present ? "exists on this database but is not tracked" : "does not exist on this database")
        )
        return yield* untrackedTable(outcome.schema, outcome.table, culprit?.id ?? null)
      }
      case "forged": {
        const rejection = foreignAudience(request.actions, outcome.audiences ?? [])
          .find((f) => f.actionId?.toLowerCase() === outcome.id)
        return yield* (rejection ?? Effect.die({ _tag: "ForgedActionMissing", id: outcome.id }))
      }
      case "ok": {
        const seqs = new Map(outcome.seqs.map((s) => [s.id, s.server_seq]))
        const accepted = request.actions.map((a) => ({ id: a.id, serverSeq: seqs.get(a.id.toLowerCase()) ?? 0 }))
        if (accepted.some((a) => a.serverSeq === 0)) {
          return yield* Effect.die({ _tag: "SequenceMissing", accepted })
        }
        return { accepted, head: outcome.head }
      }
    }
  })

/** Another user owns the client id: the upload is refused, nothing is written. */
const wrongClient = (clientId: string) =>
  new SyncProtocol.UploadRejected({
    reason: "WrongClient",
    actionId: null,
    detail: `client ${JSON.stringify(clientId)} belongs to another user: a client id is bound to the first user ` +
      `that uploads under it. A replica used by another user needs a client id of its own (open a fresh ` +
      `replica for this user); nothing of the upload was stored`
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
 * For each action with a patch labeled with an audience the uploader is not in, the rejection
 * naming its first such patch: a user writes only rows of its own audiences, or public ones
 * (null). `store_upload` reports the first of them among the actions it would store.
 */
const foreignAudience = (
  actions: ReadonlyArray<SyncProtocol.ActionWire>,
  audiences: ReadonlyArray<string>
): ReadonlyArray<SyncProtocol.UploadRejected> => {
  const rejections: Array<SyncProtocol.UploadRejected> = []
  for (const action of actions) {
    const p = action.patches.find((p) => p.audienceKey !== null && !audiences.includes(p.audienceKey))
    if (p === undefined) continue
    rejections.push(
      new SyncProtocol.UploadRejected({
        reason: "Forbidden",
        actionId: action.id,
        detail: `${p.op} of row ${JSON.stringify(p.rowId)} of ${JSON.stringify(`${p.schema}.${p.table}`)} is labeled ` +
          `with audience ${JSON.stringify(p.audienceKey)}, which is not one of the uploader's ` +
          `(${audiences.map((a) => JSON.stringify(a)).join(", ") || "none"}); a user writes only rows of its own ` +
          `audiences or public ones; nothing of the upload was stored`
      })
    )
  }
  return rejections
}
