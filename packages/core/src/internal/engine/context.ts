/**
 * What the engine's steps share: the services they run on, and the engine's state between
 * pages, made explicit (it used to live in closure variables shared across steps).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { ActionExecutorShape } from "../../ActionExecutor.js"
import type { ActionRegistryShape } from "../../ActionRegistry.js"
import type { SyncReport } from "../../SyncEngine.js"

/** The services every step of the engine runs on. @internal */
export interface EngineContext {
  readonly sql: SqlClient.SqlClient
  readonly registry: ActionRegistryShape
  readonly executor: ActionExecutorShape
}

/**
 * The engine's state between pages (and syncs) of one process. Everything it holds is also
 * derivable from the database, so a fresh engine (a restart) starts from `initialState`.
 *
 * @internal
 */
export interface EngineState {
  /**
   * The audiences the server last said this replica may see, as stored (JSON), so an unchanged
   * list is not written again; undefined until a page is applied in this process.
   */
  readonly storedAudiences: string | undefined
  /**
   * Whether the database may hold work for the divergence check (actions a page before a
   * pull's last marked, rows a rollback queued): true after such a page and at start (a crash
   * may have left some between two pages), false after a check took them.
   */
  readonly checkDue: boolean
}

/** A fresh engine's state. @internal */
export const initialState: EngineState = { storedAudiences: undefined, checkDue: true }

/** A report with nothing done. @internal */
export const zeroReport: SyncReport = {
  fetched: 0,
  uploaded: 0,
  fastForwarded: 0,
  reconciled: 0,
  replayed: 0,
  corrections: 0,
  adopted: 0,
  unrunnable: 0,
  quarantined: 0
}

/** Two reports' counts added. @internal */
export const addReports = (a: SyncReport, b: SyncReport): SyncReport => ({
  fetched: a.fetched + b.fetched,
  uploaded: a.uploaded + b.uploaded,
  fastForwarded: a.fastForwarded + b.fastForwarded,
  reconciled: a.reconciled + b.reconciled,
  replayed: a.replayed + b.replayed,
  corrections: a.corrections + b.corrections,
  adopted: a.adopted + b.adopted,
  unrunnable: a.unrunnable + b.unrunnable,
  quarantined: a.quarantined + b.quarantined
})

/** Puts a sync report's counts on the current span, as `reprise.sync.<count>` attributes. @internal */
export const annotateReport = (report: SyncReport): Effect.Effect<void> =>
  Effect.annotateCurrentSpan(Object.fromEntries(Object.entries(report).map(([key, value]) => [`reprise.sync.${key}`, value])))
