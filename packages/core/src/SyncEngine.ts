/**
 * The client sync engine: fetches the server's log page by page, ingests it idempotently,
 * applies it (fast-forward, or roll back to the common ancestor and replay everything after
 * it in global order), and uploads pending local actions, catching up and retrying when the
 * server says the upload is behind its head.
 *
 * Each fetched page is ingested, applied and acknowledged (the watermark advanced) in ONE
 * transaction: a failure leaves the database exactly as before (R-SYNC-2), and the watermark
 * never runs ahead of what is applied.
 *
 * @example
 * ```ts
 * const engine = yield* SyncEngine.SyncEngine
 * const report = yield* engine.requestSync
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ParseError } from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Action from "./Action.js"
import { ActionExecutor, InvalidActionArgs, type NestedAction, type NondeterministicAction } from "./ActionExecutor.js"
import type { UnknownActionTag } from "./ActionRegistry.js"
import { ActionRegistry } from "./ActionRegistry.js"
import type * as Hlc from "./Hlc.js"
import { runDeterministic } from "./internal/determinism.js"
import { ADOPTION_TAG, adoption, correction, CORRECTION_TAG } from "./internal/correction.js"
import { adoptedAfter, differingActions, divergentRows, storeCorrectionPatches } from "./internal/sql/corrections.js"
import {
  beginReplay,
  finishReplay,
  settleReplay,
  ingestPage,
  loadForReplay,
  markUnappliedAfter,
  rollbackReplay,
  undoFailedReplay,
  undoAfter
} from "./internal/sql/engine.js"
import { directStatements, literal } from "./internal/sql/literal.js"
import * as SyncPlanner from "./SyncPlanner.js"
import * as SyncProtocol from "./SyncProtocol.js"
import { SyncTransport, type TransportError } from "./SyncTransport.js"

/** Why a sync failed. Nothing of the failing step was written. */
export type SyncError =
  | SqlError
  | TransportError
  | SyncProtocol.UploadRejected
  | SyncProtocol.BehindHead
  | UnknownActionTag
  | InvalidActionArgs
  | NondeterministicAction
  | NestedAction
  | Hlc.ClockDriftError
  | ParseError

/** What one sync did. */
export interface SyncReport {
  readonly fetched: number
  readonly uploaded: number
  readonly fastForwarded: number
  readonly reconciled: number
  readonly replayed: number
  /**
   * Correction records this sync created (R-SYNC-3): one per audience of the rows it corrects,
   * and one per audience into which it restates actions hidden there (a correction that may
   * set no row).
   */
  readonly corrections: number
  /**
   * Rows this sync set to the server's images because this replica may not correct them (they
   * are outside its audiences, their last action is another user's of "author" authority, or
   * this replica adopted them before; R-SYNC-3, R-SRV-3).
   */
  readonly adopted: number
}

/** Options of the engine. */
export interface Options {
  /** Actions per fetch page (R-SYNC-9); 500 by default. */
  readonly pageSize?: number
  /** Upload attempts when the server answers `BehindHead`; 5 by default (R-SYNC-6). */
  readonly maxUploadAttempts?: number
  /** The first backoff between upload attempts, jittered and doubled each time; 50 ms by default. */
  readonly backoff?: Duration.DurationInput
}

/** The engine's shape. */
export interface SyncEngineShape {
  /** Fetches and applies everything new, then uploads everything pending. */
  readonly sync: Effect.Effect<SyncReport, SyncError>
  /**
   * `sync`, single-flight: concurrent requests share one run, and a burst of requests made
   * while a sync runs is served by one more run after it.
   */
  readonly requestSync: Effect.Effect<SyncReport, SyncError>
  /** Fetch and apply only. */
  readonly pull: Effect.Effect<SyncReport, SyncError>
  /** Upload only (catching up first if the server asks). */
  readonly push: Effect.Effect<SyncReport, SyncError>
}

/** The client sync engine. */
export class SyncEngine extends Context.Tag("@reprise/core/SyncEngine")<SyncEngine, SyncEngineShape>() {}

const RecordRows = Schema.Array(Schema.Struct({
  id: Schema.String,
  tag: Schema.String,
  args: Schema.Struct({ input: Schema.Unknown, timestamp: Schema.Number }),
  authoritative: Schema.Boolean
}))
const EntryRows = Schema.Array(Schema.Struct({ id: Schema.String, hlc: Schema.String }))
const PendingRow = Schema.Struct({
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
})
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
  /** The replayed actions whose replay wrote the row otherwise than their known patches. */
  actions: Schema.parseJson(Schema.Array(Schema.String)),
  /** The row's audience key (null: public). */
  audience: Schema.NullOr(Schema.String)
}))
const DifferingActions = Schema.Array(Schema.Struct({
  id: Schema.String,
  audience: Schema.NullOr(Schema.String),
  hidden: Schema.Boolean
}))
const decodeWireActions = Schema.decodeUnknown(Schema.Array(SyncProtocol.ActionWire))

/** Records loaded per statement while replaying. */
const replayBatch = 1000
/** Replayed actions between two savepoints at most (what an aborting failure re-runs). */
const checkpointEvery = 200

/** Puts a sync report's counts on the current span, as `reprise.sync.<count>` attributes. */
const annotateReport = (report: SyncReport): Effect.Effect<void> =>
  Effect.annotateCurrentSpan(Object.fromEntries(Object.entries(report).map(([key, value]) => [`reprise.sync.${key}`, value])))

/** A Postgres uuid[] literal's text for the entries' ids. */
const uuidArray = (entries: ReadonlyArray<SyncPlanner.Entry>): string => `{${entries.map((e) => e.id).join(",")}}`

const zeroReport: SyncReport = {
  fetched: 0,
  uploaded: 0,
  fastForwarded: 0,
  reconciled: 0,
  replayed: 0,
  corrections: 0,
  adopted: 0
}
const add = (a: SyncReport, b: SyncReport): SyncReport => ({
  fetched: a.fetched + b.fetched,
  uploaded: a.uploaded + b.uploaded,
  fastForwarded: a.fastForwarded + b.fastForwarded,
  reconciled: a.reconciled + b.reconciled,
  replayed: a.replayed + b.replayed,
  corrections: a.corrections + b.corrections,
  adopted: a.adopted + b.adopted
})

/** Builds the engine (needs the executor, the registry, `SqlClient` and a transport). */
export const make = (
  options: Options = {}
): Effect.Effect<SyncEngineShape, never, SqlClient.SqlClient | ActionRegistry | ActionExecutor | SyncTransport> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const registry = yield* ActionRegistry
    const executor = yield* ActionExecutor
    const transport = yield* SyncTransport
    const pageSize = Math.min(options.pageSize ?? 500, SyncProtocol.Limits.maxFetchLimit)
    const maxAttempts = options.maxUploadAttempts ?? 5
    const backoff = options.backoff ?? Duration.millis(50)

    const watermark = Effect.map(
      sql<{ seq: string }>`SELECT last_server_seq::text AS seq FROM reprise.client_state`,
      ([row]) => Number(row?.seq ?? 0)
    )

    /**
     * Re-runs recorded actions, in order, on the current state, replacing their recorded
     * patches (inside the caller's transaction). An action's own failure is its outcome in this
     * history (its rules said no): it has no effect while the others go on. Defects (bugs) and
     * interruption abort the whole sync, as do unknown tags and undecodable args.
     *
     * Actions do not each get a savepoint (one costs about as much as a small action): the state
     * is saved in one savepoint per `checkpointEvery` actions and per loaded batch. A failed
     * action's writes are undone from the patches its run captured. Only when its failure left
     * the transaction aborted (an SQL error) does the engine roll back to the savepoint, re-run
     * the actions since it (deterministic: they do the same again), and run the failed one
     * alone in a savepoint of its own, which then rolls back.
     *
     * Per action, one parameterless statement (point the capture triggers at the action, with a
     * checkpoint when one is due) goes to the transaction's connection ahead of the action's
     * own statements, in the same exchange as its first one where the driver queues (PGlite);
     * records are loaded, old patches deleted and the actions marked
     * applied in a few statements per batch.
     */
    const replayAll = (entries: ReadonlyArray<SyncPlanner.Entry>) =>
      Effect.gen(function*() {
        if (entries.length === 0) return
        // Always inside the page's transaction; its connection skips the statement machinery.
        // Pointing the capture at each action is queued: it rides ahead of the action's first
        // statement where the driver can queue it (one exchange fewer per replayed action).
        const { exec, queue } = yield* directStatements(sql)
        let open = false
        for (let start = 0; start < entries.length; start += replayBatch) {
          const batch = entries.slice(start, start + replayBatch)
          const records = new Map((yield* Effect.flatMap(
            sql.unsafe(loadForReplay, [uuidArray(batch)]),
            Schema.decodeUnknown(RecordRows)
          )).map((record) => [record.id, record]))
          // The savepoint holds the state before batch[checkpoint] (taken after the load above,
          // so rolling back to it keeps the old patches deleted). `due`: take one before the next.
          let checkpoint = 0
          let due = true
          // Actions whose failure aborted the transaction: run alone in a savepoint of their own.
          const isolated = new Set<number>()
          for (let i = 0; i < batch.length; i++) {
            const id = batch[i]!.id
            const record = records.get(id)
            if (record === undefined) return yield* Effect.dieMessage(`SyncEngine: no record for action ${id}`)
            // An adoption is not replayed: `finishReplay` drops it, and the check after this
            // replay adopts again from the new state.
            if (record.tag === ADOPTION_TAG) continue
            const action: Action.Any = record.tag === CORRECTION_TAG ? correction : yield* registry.get(record.tag)
            const args = yield* Effect.mapError(
              Schema.decodeUnknown(action.args)(record.args.input),
              (error) => new InvalidActionArgs({ tag: record.tag, issue: error.message })
            )
            const alone = isolated.has(i)
            if (due || alone || i - checkpoint >= checkpointEvery) {
              yield* queue(beginReplay(literal(id), open ? "renew" : "open"))
              open = true
              checkpoint = i
              due = false
            } else {
              yield* queue(beginReplay(literal(id), "none"))
            }
            const ran = yield* (runDeterministic(sql, action, args, id, record.args.timestamp) as Effect.Effect<unknown, unknown>).pipe(
              Effect.as(true),
              Effect.catchAll(() => Effect.succeed(false))
            )
            let resume = false
            if (!ran && alone) {
              // Everything it did, its capture settings included, goes.
              yield* exec(rollbackReplay)
              resume = true
              due = true
            } else if (!ran) {
              const undone = yield* Effect.as(exec(undoFailedReplay(literal(id))), true).pipe(
                Effect.catchAll(() => Effect.succeed(false))
              )
              if (!undone) {
                // The transaction is aborted: back to the checkpoint; the actions since it run
                // again, then this one alone.
                yield* exec(rollbackReplay)
                isolated.add(i)
                i = checkpoint - 1
                continue
              }
            }
            // Private data (R-SYNC-3 with R-SRV-3): where the author's result stands (it saw rows
            // this replica cannot), its rows are set to the server's; rows written outside this
            // replica's audiences are removed.
            if (!record.authoritative || filtered) yield* exec(settleReplay(literal(id), !record.authoritative, resume))
          }
        }
        yield* exec(finishReplay(literal(uuidArray(entries)), open))
      }).pipe(Effect.withSpan("SyncEngine.replay", {
        attributes: { "reprise.sync.actions": entries.length },
        captureStackTrace: false
      }))

    /**
     * Plans and applies every received-but-unapplied action (inside the caller's transaction);
     * returns what it did and the kind of plan, for the page's span.
     */
    const applyReceived = Effect.gen(function*() {
      const incoming = yield* Effect.flatMap(
        sql`SELECT id::text AS id, hlc FROM reprise.action_records WHERE NOT applied ORDER BY hlc, id`,
        Schema.decodeUnknown(EntryRows)
      )
      const earliest = incoming[0]
      if (earliest === undefined) return { plan: "NothingToDo" as const, report: zeroReport }
      const applied = yield* Effect.flatMap(
        sql`
          (SELECT id::text AS id, hlc FROM reprise.action_records
           WHERE applied AND (hlc, id) < (${earliest.hlc}::text COLLATE "C", ${earliest.id}::uuid)
           ORDER BY hlc DESC, id DESC LIMIT 1)
          UNION ALL
          (SELECT id::text AS id, hlc FROM reprise.action_records
           WHERE applied AND (hlc, id) > (${earliest.hlc}::text COLLATE "C", ${earliest.id}::uuid)
           ORDER BY hlc, id)`,
        Schema.decodeUnknown(EntryRows)
      )
      const plan = SyncPlanner.plan([...applied].sort(SyncPlanner.order), incoming)
      switch (plan._tag) {
        case "NothingToDo":
          return { plan: plan._tag, report: zeroReport }
        case "FastForward": {
          yield* replayAll(plan.apply)
          const checked = yield* correct(plan.apply, [])
          const report = { ...zeroReport, ...checked, fastForwarded: plan.apply.length, replayed: plan.apply.length }
          return { plan: plan._tag, report }
        }
        case "Reconcile": {
          const hlc = plan.ancestor?.hlc ?? null
          const id = plan.ancestor?.id ?? null
          // Adopted rows are checked again after the replay even if no replayed action touches
          // them: the rollback undoes their adoption.
          const undoneAdoptions = yield* sql.unsafe(adoptedAfter, [hlc, id])
          yield* sql.unsafe(undoAfter, [hlc, id])
          yield* sql.unsafe(markUnappliedAfter, [hlc, id])
          yield* replayAll(plan.replay)
          const checked = yield* correct(plan.replay, undoneAdoptions)
          return { plan: plan._tag, report: { ...zeroReport, ...checked, reconciled: 1, replayed: plan.replay.length } }
        }
      }
    })

    /**
     * After replaying synced actions: where the server's rows (the fold of the known patches)
     * differ from this replica's, records a correction setting them to this replica's images,
     * for the rows it may correct; the others it adopts (sets to the server's images).
     */
    const correct = (replayed: ReadonlyArray<SyncPlanner.Entry>, alsoCheck: ReadonlyArray<unknown>) =>
      Effect.gen(function*() {
        const rows = yield* Effect.flatMap(
          sql.unsafe(divergentRows, [uuidArray(replayed), JSON.stringify(alsoCheck)]),
          Schema.decodeUnknown(DivergentRows)
        )
        const corrected = rows.filter((row) => row.correct)
        const adopted = rows.filter((row) => !row.correct)
        const rowAudiences = new Set(corrected.map((row) => row.audience))
        // The replayed actions whose replay differs from what the server knows, per audience
        // (see differingActions). Nothing is hidden when nothing is filtered.
        const differing = !filtered && rowAudiences.size === 0 ? [] : yield* Effect.flatMap(
          sql.unsafe(differingActions, [uuidArray(replayed)]),
          Schema.decodeUnknown(DifferingActions)
        )
        // One correction per audience of the corrected rows, restating the replayed actions that
        // wrote its rows and every action that differs in that audience; and one per audience
        // where a hidden action wrote, restating it, even if no row there is corrected. Whoever
        // sees a correction receives and replays what it restates; split by audience, no user
        // receives an action for another audience's sake.
        const restated = differing.filter((action) => action.hidden || rowAudiences.has(action.audience))
        const audiences = [...new Set([...rowAudiences, ...restated.map((action) => action.audience)])]
          .sort((a, b) => a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1)
        for (const audience of audiences) {
          const rows = corrected.filter((row) => row.audience === audience)
          const restates = new Set(rows.flatMap((row) => row.actions))
          for (const action of restated) if (action.audience === audience) restates.add(action.id)
          // On this replica the rows already hold these images: the correction changes nothing
          // here. Its patches for the server, from the server's images to these, are recorded
          // as its known patches and uploaded from there.
          const id = yield* executor.execute(correction, {
            rows: rows.map(({ image, rowId, schema, table }) => ({ image, rowId, schema, table })),
            restates: [...restates].sort(),
            audience
          })
          if (rows.length > 0) {
            yield* sql.unsafe(storeCorrectionPatches, [id, JSON.stringify(rows.map((row, i) => ({ ...row, seq: i + 1 })))])
          }
        }
        if (adopted.length > 0) {
          yield* executor.execute(adoption, {
            rows: adopted.map(({ adoptForward, adoptOp, rowId, schema, table }) => ({
              schema,
              table,
              rowId,
              op: adoptOp,
              forward: adoptForward
            }))
          })
        }
        return { corrections: audiences.length, adopted: adopted.length }
      })

    /**
     * Whether this replica's replay of a fetched record stands: the record is this user's (from
     * any of its devices), a correction (it only restates rows: replicas receive the actions it
     * restates and compute them), or an action of "replica" authority (an unknown tag fails at
     * replay). An action of "author" authority stands on its author's devices only, unless the
     * server filters nothing: then every replica sees what the author saw (§7 of DESIGN.md).
     */
    const authoritative = (action: SyncProtocol.RemoteAction) =>
      !filtered || (action.userId !== null && action.userId === executor.userId) || action.kind !== "action"
        ? Effect.succeed(true)
        : Effect.match(registry.get(action.tag), {
          onFailure: () => true,
          onSuccess: (definition) => definition.authority === "replica"
        })

    // The audiences the server last said this replica may see, as stored (JSON; undefined
    // until a page is applied in this process), and whether the server filters at all.
    let storedAudiences: string | undefined
    let filtered = false

    /** Ingests one page, applies it and advances the watermark, in one transaction. */
    const applyPage = (page: SyncProtocol.FetchResponse) =>
      sql.withTransaction(Effect.gen(function*() {
        const audiences = JSON.stringify(page.audiences)
        filtered = page.audiences !== null
        if (audiences !== storedAudiences) {
          // Before applying: the check after replay adopts rows outside them.
          yield* sql`
            UPDATE reprise.client_state SET audiences = CASE WHEN ${audiences}::jsonb = 'null'::jsonb THEN NULL
              ELSE ARRAY(SELECT jsonb_array_elements_text(${audiences}::jsonb)) END`
        }
        for (const action of page.actions) yield* executor.observe(action.hlc)
        if (page.actions.length > 0) {
          const entries = []
          for (const action of page.actions) {
            entries.push({ ...SyncProtocol.encodeRemoteAction(action), authoritative: yield* authoritative(action) })
          }
          yield* sql.unsafe(ingestPage, [JSON.stringify(entries)])
        }
        const { plan, report } = yield* applyReceived
        yield* sql`UPDATE reprise.client_state SET last_server_seq = ${page.next} WHERE last_server_seq < ${page.next}`
        return { plan, report: { ...report, fetched: page.actions.length } }
      })).pipe(
        Effect.flatMap(({ plan, report }) => {
          storedAudiences = JSON.stringify(page.audiences)
          // Outside the transaction, the current span is the page's own.
          return Effect.as(Effect.annotateCurrentSpan("reprise.sync.plan", plan), report)
        }),
        Effect.withSpan("SyncEngine.applyPage", {
          attributes: { "reprise.sync.fetched": page.actions.length, "reprise.sync.next": page.next },
          captureStackTrace: false
        })
      )

    const pull: Effect.Effect<SyncReport, SyncError> = Effect.gen(function*() {
      let total = zeroReport
      for (;;) {
        const since = yield* watermark
        const page = yield* transport.fetch({ since, limit: pageSize })
        total = add(total, yield* applyPage(page))
        if (!page.hasMore || page.next <= since) return total
      }
    }).pipe(Effect.tap(annotateReport), Effect.withSpan("SyncEngine.pull", { captureStackTrace: false }))

    const pendingBatch = Effect.flatMap(
      sql`
        SELECT r.id::text AS id, r.tag, r.args, r.client_id, r.user_id, r.hlc, r.kind,
          coalesce((SELECT jsonb_agg(jsonb_build_object(
            'seq', p.seq, 'schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id, 'op', p.op,
            'forward', p.forward::text, 'reverse', p.reverse::text, 'audienceKey', p.audience_key) ORDER BY p.seq)
            FROM (
              SELECT * FROM reprise.action_patches a WHERE a.action_id = r.id AND r.kind = 'action'
              UNION ALL
              SELECT * FROM reprise.known_patches k WHERE k.action_id = r.id AND r.kind = 'correction'
            ) AS p), '[]'::jsonb) AS patches
        FROM reprise.action_records r
        WHERE NOT r.synced AND r.client_id = ${executor.clientId}
        ORDER BY r.hlc, r.id
        LIMIT ${SyncProtocol.Limits.maxActionsPerUpload}`,
      Schema.decodeUnknown(Schema.Array(PendingRow))
    )

    const uploadOnce = Effect.gen(function*() {
      const rows = yield* pendingBatch
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
      const basis = yield* watermark
      const response = yield* transport.upload({ clientId: actions[0]!.clientId, basis, actions })
      const accepted = JSON.stringify(response.accepted)
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`
          UPDATE reprise.action_records r SET synced = true, server_seq = x."serverSeq"
          FROM jsonb_to_recordset(${accepted}::jsonb) AS x(id uuid, "serverSeq" bigint)
          WHERE r.id = x.id`
        // What the server now holds for these actions: the patches just uploaded.
        yield* sql`
          INSERT INTO reprise.known_patches
          SELECT p.* FROM reprise.action_patches p
          JOIN jsonb_to_recordset(${accepted}::jsonb) AS x(id uuid, "serverSeq" bigint) ON x.id = p.action_id
          ON CONFLICT (action_id, seq) DO NOTHING`
        // Nothing else can sit between the basis and our sequences (the upload was head-gated),
        // so when the server's head is ours, the watermark can skip re-fetching our own actions.
        const highest = Math.max(...response.accepted.map((a) => a.serverSeq))
        if (response.head === highest) {
          yield* sql`UPDATE reprise.client_state SET last_server_seq = ${highest} WHERE last_server_seq = ${basis}`
        }
      }))
      return rows.length
    }).pipe(
      Effect.tap((n) => Effect.annotateCurrentSpan("reprise.sync.uploaded", n)),
      Effect.withSpan("SyncEngine.upload", { captureStackTrace: false })
    )

    const push: Effect.Effect<SyncReport, SyncError> = Effect.gen(function*() {
      let uploaded = 0
      let caughtUp = zeroReport
      for (;;) {
        const attempt = uploadOnce.pipe(
          Effect.tapErrorTag("BehindHead", () => Effect.tap(pull, (report) => { caughtUp = add(caughtUp, report) }))
        )
        const n = yield* attempt.pipe(
          Effect.retry({
            while: (error) => error._tag === "BehindHead",
            schedule: Schedule.exponential(backoff).pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(maxAttempts - 1)))
          })
        )
        if (n === 0) return { ...caughtUp, uploaded }
        uploaded += n
      }
    }).pipe(Effect.tap(annotateReport), Effect.withSpan("SyncEngine.push", { captureStackTrace: false }))

    const sync = Effect.gen(function*() {
      const pulled = yield* pull
      const pushed = yield* push
      return add(pulled, pushed)
    }).pipe(Effect.tap(annotateReport), Effect.withSpan("SyncEngine.sync", { captureStackTrace: false }))

    // Single flight: a run started after a request serves it; requests made during a run are
    // all served by the next one.
    const lock = yield* Effect.makeSemaphore(1)
    const requested = yield* Ref.make(0)
    const completed = yield* Ref.make(0)
    const requestSync = Effect.gen(function*() {
      const ticket = yield* Ref.updateAndGet(requested, (n) => n + 1)
      return yield* lock.withPermits(1)(Effect.gen(function*() {
        if ((yield* Ref.get(completed)) >= ticket) return zeroReport
        const covers = yield* Ref.get(requested)
        const report = yield* sync
        yield* Ref.set(completed, covers)
        return report
      }))
    })

    return { sync, requestSync, pull, push }
  })

/** The engine as a layer. */
export const layer = (
  options: Options = {}
): Layer.Layer<SyncEngine, never, SqlClient.SqlClient | ActionRegistry | ActionExecutor | SyncTransport> =>
  Layer.effect(SyncEngine, make(options))
