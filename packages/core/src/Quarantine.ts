/**
 * The quarantine (R-REC-3): this replica's actions the server rejected for permission or
 * validity. When an upload is rejected for one of `reasons` and the rejection names one of the
 * batch's actions, `SyncEngine` takes that action out of the pending queue into the quarantine,
 * with the reason, the server's detail and the time, undoes its local effects (in one
 * transaction: roll back to before it, replay the later actions without it), and goes on
 * uploading the rest; `SyncReport.quarantined` counts them. A quarantined action is never
 * uploaded, replayed nor counted as pending, and never dropped: it stays here until the app
 * discards it or retries it. Remote apply (pull) works meanwhile.
 *
 * Rejections for other reasons are not about one action: `WrongAuthor` and `WrongClient` mean
 * the client is misconfigured (its user or client id), `ClockDrift` passes once the clocks
 * agree, and a rejection naming no action cannot tell which one is at fault; these fail the
 * sync with the `UploadRejected` as before.
 *
 * @example
 * ```ts
 * const quarantine = yield* Quarantine.Quarantine
 * for (const action of yield* quarantine.list) {
 *   if (action.reason === "Forbidden") yield* quarantine.discard(action.id)
 *   else yield* quarantine.retry(action.id) // uploaded again by the next sync
 * }
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { ActionExecutor } from "./ActionExecutor.js"
import { ActionRegistry } from "./ActionRegistry.js"
import type { EngineContext } from "./internal/engine/context.js"
import { quarantinableReasons, restoreAction } from "./internal/engine/quarantine.js"
import { countQuarantined, discardQuarantined, listQuarantined } from "./internal/sql/quarantine.js"
import type { SyncError } from "./SyncEngine.js"
import type * as SyncProtocol from "./SyncProtocol.js"

/** Why the server rejected a quarantined action (`SyncProtocol.UploadRejected`'s reason). */
export type Reason = SyncProtocol.UploadRejected["reason"]

/**
 * The rejection reasons that quarantine the action they name: `Forbidden` (its author may not
 * write what it writes), `TooLarge`, `Malformed`, `UntrackedTable` (it writes a table the
 * server's database does not track) and `Conflict` (its id is stored with different content).
 */
export const reasons: ReadonlySet<Reason> = quarantinableReasons

/** A quarantined action. */
export interface QuarantinedAction {
  /** The action's id (its record's, and the id `ActionExecutor.execute` returned). */
  readonly id: string
  readonly tag: string
  /** The action's input, as its args Schema encodes it. */
  readonly args: unknown
  /** Its HLC, encoded: its place in the global order, kept for a retry. */
  readonly hlc: string
  /** `"action"`, or `"correction"` for a correction record the replica made (R-SYNC-3). */
  readonly kind: "action" | "correction"
  readonly reason: Reason
  /** The server's account of the rejection. */
  readonly detail: string
  /** When it was quarantined, epoch milliseconds (the engine's `Clock`). */
  readonly at: number
}

/** The action is not in the quarantine (never was, or was discarded or retried already). */
export class NotQuarantined extends Schema.TaggedError<NotQuarantined>()("NotQuarantined", {
  actionId: Schema.String
}) {
  override get message() {
    return `Action ${this.actionId} is not quarantined (it never was, or it was discarded or retried already); ` +
      `Quarantine.list says which are.`
  }
}

/** The quarantine's shape. */
export interface QuarantineShape {
  /** The quarantined actions, in global (HLC) order. */
  readonly list: Effect.Effect<ReadonlyArray<QuarantinedAction>, SqlError>
  /** How many actions are quarantined (for a status display: cheaper than `list`). */
  readonly count: Effect.Effect<number, SqlError>
  /** Deletes a quarantined action for good (its effects are already undone). */
  readonly discard: (id: string) => Effect.Effect<void, SqlError | NotQuarantined>
  /**
   * Puts a quarantined action back in the pending queue at its HLC place and applies it again
   * locally (in one transaction: the actions after it are rolled back and replayed after it,
   * then checked for divergence), so the next sync uploads it. Retry once the cause is fixed
   * (the user got the permission, the server tracks the table, ...): a second rejection
   * quarantines it again. With private data, sync once after the user got an audience and
   * before retrying an action writing in it: until a sync tells the replica its new audiences,
   * replay removes rows outside the old ones (R-SRV-3). It fails, changing nothing, when the replay cannot run (an unknown
   * tag, args that no longer decode, a database error). A quarantined correction is not put
   * back as it was (it was computed on an older state): its rows are checked again and a fresh
   * correction is recorded if the replica still differs from the server there (R-SYNC-3).
   */
  readonly retry: (id: string) => Effect.Effect<void, SyncError | NotQuarantined>
}

/** The quarantine of this replica. */
export class Quarantine extends Context.Tag("@reprise/core/Quarantine")<Quarantine, QuarantineShape>() {}

const Rows = Schema.Array(Schema.Struct({
  id: Schema.String,
  tag: Schema.String,
  args: Schema.Struct({ input: Schema.Unknown }),
  hlc: Schema.String,
  kind: Schema.Literal("action", "correction"),
  reason: Schema.Literal("TooLarge", "WrongAuthor", "WrongClient", "ClockDrift", "Malformed", "Conflict", "UntrackedTable", "Forbidden"),
  detail: Schema.String,
  at: Schema.NumberFromString
}))
const Ids = Schema.Array(Schema.Struct({ id: Schema.String }))
const Count = Schema.Array(Schema.Struct({ n: Schema.Number }))

/** Builds the quarantine over the replica's database, registry and executor. */
export const make: Effect.Effect<QuarantineShape, never, SqlClient.SqlClient | ActionRegistry | ActionExecutor> = Effect
  .gen(function*() {
    const ctx: EngineContext = {
      sql: yield* SqlClient.SqlClient,
      registry: yield* ActionRegistry,
      executor: yield* ActionExecutor
    }
    const { sql } = ctx

    const list = Effect.flatMap(listQuarantined(sql), (rows) => Effect.orDie(Schema.decodeUnknown(Rows)(rows))).pipe(
      Effect.map((rows) => rows.map((row): QuarantinedAction => ({ ...row, args: row.args.input }))),
      Effect.withSpan("Quarantine.list", { captureStackTrace: false })
    )

    const count = Effect.flatMap(countQuarantined(sql), (rows) => Effect.orDie(Schema.decodeUnknown(Count)(rows))).pipe(
      Effect.map(([row]) => row?.n ?? 0)
    )

    const discard = (id: string) =>
      Effect.gen(function*() {
        if (!UUID.test(id)) return yield* new NotQuarantined({ actionId: id })
        const deleted = yield* Effect.flatMap(discardQuarantined(sql, id), (rows) => Effect.orDie(Schema.decodeUnknown(Ids)(rows)))
        if (deleted.length === 0) return yield* new NotQuarantined({ actionId: id })
      }).pipe(
        Effect.withSpan("Quarantine.discard", { attributes: { "reprise.action.id": id }, captureStackTrace: false })
      )

    const retry = (id: string) =>
      Effect.gen(function*() {
        if (!UUID.test(id) || !(yield* restoreAction(ctx, id))) return yield* new NotQuarantined({ actionId: id })
      })

    return { list, count, discard, retry }
  })

/** The quarantine as a layer. */
export const layer: Layer.Layer<Quarantine, never, SqlClient.SqlClient | ActionRegistry | ActionExecutor> = Layer.effect(
  Quarantine,
  make
)

/** Action ids are UUIDs: anything else names no quarantined action (and is never sent to SQL). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
