/**
 * What a client holds, through the API (R-CLI-5): its pending, synced and quarantined actions
 * (tag, args, HLC, server sequence, whether a correction), its cursor (the server sequence up
 * to which it has fetched and applied the log) and how its last sync went, so an app's tests
 * and devtools never query `reprise.*` tables themselves.
 *
 * `layer` also watches the engine: the `SyncEngine` it provides is the one given to it with
 * each sync's outcome (report or error) remembered for `lastSync`.
 *
 * @example
 * ```ts
 * const inspect = yield* Inspect.Inspect
 * const [first] = yield* inspect.pending
 * console.log(first?.tag, first?.args, yield* inspect.cursor)
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { ActionExecutor, Quarantine, SyncEngine } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as InspectSql from "./internal/inspect.js"

/** One recorded action (or correction, or adoption) as the client holds it. */
export interface ActionInfo {
  readonly id: string
  readonly tag: string
  /** The args as given (their encoded, JSON form). */
  readonly args: unknown
  /** The time the action saw (`Clock`), frozen at its first execution, in epoch ms. */
  readonly timestamp: number
  /** Its hybrid logical clock timestamp (the global replay order). */
  readonly hlc: string
  /**
   * `action` (an app's action), `correction` (the record of rows a replay changed, R-SYNC-3) or
   * `adoption` (local rows set to the server's images).
   */
  readonly kind: "action" | "correction" | "adoption"
  /** Whether it is a correction. */
  readonly correction: boolean
  /** Its place in the server's log; null until the server has it. */
  readonly serverSeq: number | null
  readonly synced: boolean
  /** False for a received action not applied to this replica's tables yet. */
  readonly applied: boolean
  /** The replica that executed it. */
  readonly clientId: string
  /** The user it was executed for. */
  readonly userId: string | null
  /** Whether this replica executed it. */
  readonly own: boolean
}

/** How the last sync went. */
export type LastSync =
  | {
    readonly _tag: "Success"
    /** When it ended, epoch ms. */
    readonly at: number
    readonly durationMs: number
    readonly report: SyncEngine.SyncReport
  }
  | {
    readonly _tag: "Failure"
    readonly at: number
    readonly durationMs: number
    /** Its typed error; nothing of the failing step was written (R-SYNC-2). */
    readonly error: SyncEngine.SyncError
  }

/** Counts for a status line. */
export interface Counts {
  /** This replica's actions the server does not have yet. */
  readonly pending: number
  /** This replica's actions the server rejected, waiting in the quarantine (R-REC-3). */
  readonly quarantined: number
}

/** The inspector's shape. */
export interface InspectShape {
  /** This replica's actions (and corrections) the server does not have yet, in upload order. */
  readonly pending: Effect.Effect<ReadonlyArray<ActionInfo>, SqlError>
  /**
   * Actions the server holds, in its order: those after server sequence `since` (0 by
   * default), at most `limit` (1,000 by default).
   */
  readonly synced: (
    options?: { readonly since?: number; readonly limit?: number }
  ) => Effect.Effect<ReadonlyArray<ActionInfo>, SqlError>
  /**
   * This replica's actions the server rejected for permission or validity (R-REC-3), with the
   * reason and the server's detail, in global order; no longer pending, their effects undone.
   * `Quarantine.Quarantine` discards or retries them.
   */
  readonly quarantined: Effect.Effect<ReadonlyArray<Quarantine.QuarantinedAction>, SqlError>
  /** One action by id, if this replica has it in its log (a quarantined one is in `quarantined`). */
  readonly action: (id: string) => Effect.Effect<Option.Option<ActionInfo>, SqlError>
  /** The cursor: everything up to this server sequence has been fetched and applied. */
  readonly cursor: Effect.Effect<number, SqlError>
  /** How the last sync of this process went; none before the first. */
  readonly lastSync: Effect.Effect<Option.Option<LastSync>>
  readonly counts: Effect.Effect<Counts, SqlError>
}

/** Inspection of the client's action log and sync state. */
export class Inspect extends Context.Tag("@reprise/client/Inspect")<Inspect, InspectShape>() {}

/**
 * Provides `Inspect`, and the `SyncEngine` it is given with each sync's outcome remembered for
 * `lastSync` (this layer's `SyncEngine` replaces the one it needs).
 */
export const layer: Layer.Layer<
  Inspect | SyncEngine.SyncEngine,
  never,
  SqlClient.SqlClient | ActionExecutor.ActionExecutor | SyncEngine.SyncEngine | Quarantine.Quarantine
> = Layer.effectContext(Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const executor = yield* ActionExecutor.ActionExecutor
  const engine = yield* SyncEngine.SyncEngine
  const quarantine = yield* Quarantine.Quarantine
  const last = yield* Ref.make(Option.none<LastSync>())
  const clientId = executor.clientId

  const toInfo = (row: typeof InspectSql.RecordRow.Type): ActionInfo => {
    const recorded = isRecordArgs(row.args) ? row.args : {}
    return {
      id: row.id,
      tag: row.tag,
      args: recorded.input,
      timestamp: typeof recorded.timestamp === "number" ? recorded.timestamp : 0,
      hlc: row.hlc,
      kind: row.kind,
      correction: row.kind === "correction",
      serverSeq: row.server_seq,
      synced: row.synced,
      applied: row.applied,
      clientId: row.client_id,
      userId: row.user_id,
      own: row.client_id === clientId
    }
  }
  const decode = (rows: ReadonlyArray<unknown>) =>
    Effect.map(Effect.orDie(Schema.decodeUnknown(InspectSql.RecordRows)(rows)), (decoded) => decoded.map(toInfo))

  const inspect: InspectShape = {
    pending: Effect.flatMap(InspectSql.pending(sql, clientId), decode),
    synced: (options) =>
      Effect.flatMap(InspectSql.synced(sql, options?.since ?? 0, options?.limit ?? 1000), decode),
    action: (id) => Effect.map(Effect.flatMap(InspectSql.byId(sql, id), decode), (rows) => Option.fromNullable(rows[0])),
    cursor: Effect.map(InspectSql.cursor(sql), ([row]) => Number(row?.seq ?? 0)),
    lastSync: Ref.get(last),
    quarantined: quarantine.list,
    counts: Effect.map(
      Effect.zip(InspectSql.pendingCount(sql, clientId), InspectSql.quarantinedCount(sql)),
      ([[pending], [quarantined]]) => ({ pending: pending?.n ?? 0, quarantined: quarantined?.n ?? 0 })
    )
  }

  const remember = <A extends SyncEngine.SyncReport>(
    run: Effect.Effect<A, SyncEngine.SyncError>
  ): Effect.Effect<A, SyncEngine.SyncError> =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      const exit = yield* Effect.exit(run)
      const at = yield* Clock.currentTimeMillis
      const durationMs = at - start
      if (Exit.isSuccess(exit)) {
        yield* Ref.set(last, Option.some<LastSync>({ _tag: "Success", at, durationMs, report: exit.value }))
      } else {
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) {
          yield* Ref.set(last, Option.some<LastSync>({ _tag: "Failure", at, durationMs, error: failure.value }))
        }
      }
      return yield* exit
    })

  const watched: SyncEngine.SyncEngineShape = {
    sync: remember(engine.sync),
    requestSync: remember(engine.requestSync),
    pull: remember(engine.pull),
    push: remember(engine.push),
    replayAll: engine.replayAll,
    applyPushed: (since, page) => remember(engine.applyPushed(since, page))
  }
  return Context.make(Inspect, inspect).pipe(Context.add(SyncEngine.SyncEngine, watched))
}))

const isRecordArgs = (u: unknown): u is { readonly input?: unknown; readonly timestamp?: unknown } =>
  typeof u === "object" && u !== null && !Array.isArray(u)
