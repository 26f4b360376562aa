/**
 * The correction decision (R-SYNC-3), as a pure function: after a replica replayed synced
 * actions, given the rows where its state differs from the server's and the replayed actions
 * whose replay wrote something else than their authors saw, which corrections does it record
 * (one per audience) and which rows does it adopt?
 *
 * The engine runs the I/O around it: two queries find the divergent rows (with whether this
 * replica may correct each) and the differing actions, and the plan is then executed as
 * correction records (uploaded) and one local adoption record.
 *
 * Invariants of `plan` (checked in tests on random inputs):
 * 1. Every divergent row is either corrected or adopted, exactly once: a row this replica may
 *    correct goes into the correction of its audience; every other row into the adoption.
 * 2. At most one correction per audience, in audience order (public, null, first); each sets
 *    only rows of its own audience.
 * 3. A correction restates every action that wrote one of its rows otherwise, every differing
 *    action in its audience when it corrects a row there, and every action hidden in its
 *    audience; and nothing else: no action is restated into an audience where it neither wrote
 *    a corrected row nor differs, so no user receives an action for another audience's sake.
 * 4. Every action hidden in an audience is restated into that audience, even when no row there
 *    differs (a correction may set no row).
 * 5. No correction is empty (it sets a row or restates an action), and restated ids are
 *    sorted and distinct.
 * 6. The plan depends on the inputs as sets: their order does not change it, so how a log was
 *    paged or queried cannot change what is uploaded (R-SYNC-10).
 */

/** A row whose server image differs from this replica's. */
export interface DivergentRow {
  readonly schema: string
  readonly table: string
  readonly rowId: string
  /** This replica's image of the row as JSON text (null: the row does not exist here). */
  readonly image: string | null
  /**
   * Whether this replica may correct the row: it is in its audiences, the row's last writer on
   * the server is an action this replica's replay stands for, and the replica computed the row
   * rather than adopted it.
   */
  readonly correct: boolean
  /** The patch taking the server's image to this replica's (what a correction uploads). */
  readonly op: PatchOp
  readonly forward: string | null
  readonly reverse: string | null
  /** The patch taking this replica's image to the server's (what an adoption applies). */
  readonly adoptOp: PatchOp
  readonly adoptForward: string | null
  /** The replayed actions whose replay wrote this row otherwise than their known patches. */
  readonly actions: ReadonlyArray<string>
  /** The row's audience key (null: public). */
  readonly audience: string | null
}

/** A patch operation. */
export type PatchOp = "INSERT" | "UPDATE" | "DELETE"

/**
 * A replayed action whose replay wrote something else than its known patches, once per audience
 * key of such a patch.
 */
export interface DifferingAction {
  readonly id: string
  readonly audience: string | null
  /**
   * Whether the server hides the action from this audience's users (none of its known patches
   * is there, and no correction restates it there yet): they would not replay it otherwise.
   */
  readonly hidden: boolean
}

/** A correction to record: the rows it sets and the actions it restates, for one audience. */
export interface Correction {
  readonly audience: string | null
  readonly rows: ReadonlyArray<DivergentRow>
  readonly restates: ReadonlyArray<string>
}

/** A row to adopt: set to the server's image by the patch `op`/`forward`. */
export interface Adoption {
  readonly schema: string
  readonly table: string
  readonly rowId: string
  readonly op: PatchOp
  readonly forward: string | null
}

/** What to record. */
export interface Plan {
  readonly corrections: ReadonlyArray<Correction>
  readonly adoptions: ReadonlyArray<Adoption>
}

/**
 * Whether the plan needs the differing actions at all: only when the server filters the log
 * (an action may be hidden somewhere) or some row is corrected. Lets the engine skip a query.
 */
export const needsDifferingActions = (rows: ReadonlyArray<DivergentRow>, filtered: boolean): boolean =>
  filtered || rows.some((row) => row.correct)

/** Orders audience keys: public (null) first, then by code unit. */
export const audienceOrder = (a: string | null, b: string | null): number =>
  a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1

const rowOrder = (a: DivergentRow, b: DivergentRow): number =>
  compareText(a.schema, b.schema) || compareText(a.table, b.table) || compareText(a.rowId, b.rowId)

const compareText = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

/**
 * Plans the corrections and the adoption.
 *
 * @param rows the divergent rows (each row once).
 * @param differing the differing actions (each id and audience once); may be empty when
 *   `needsDifferingActions` says they are not needed.
 */
export const plan = (rows: ReadonlyArray<DivergentRow>, differing: ReadonlyArray<DifferingAction>): Plan => {
  const sorted = [...rows].sort(rowOrder)
  const corrected = sorted.filter((row) => row.correct)
  const rowAudiences = new Set(corrected.map((row) => row.audience))
  const restated = differing.filter((action) => action.hidden || rowAudiences.has(action.audience))
  const audiences = [...new Set([...rowAudiences, ...restated.map((action) => action.audience)])].sort(audienceOrder)
  const corrections = audiences.map((audience): Correction => {
    const own = corrected.filter((row) => row.audience === audience)
    const restates = new Set(own.flatMap((row) => row.actions))
    for (const action of restated) if (action.audience === audience) restates.add(action.id)
    return { audience, rows: own, restates: [...restates].sort(compareText) }
  })
  const adoptions = sorted.filter((row) => !row.correct).map(({ adoptForward, adoptOp, rowId, schema, table }) => ({
    schema,
    table,
    rowId,
    op: adoptOp,
    forward: adoptForward
  }))
  return { corrections, adoptions }
}
