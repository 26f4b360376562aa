/**
 * The sync decision, as a pure function: given the actions a replica has applied and the
 * remote actions it has received but not applied, what must it do?
 *
 * - `NothingToDo`: nothing new arrived (everything received is already applied).
 * - `FastForward`: every new action comes after everything applied; replay them (run their
 *   code) in order (R-SYNC-1).
 * - `Reconcile`: some new action belongs before something already applied (interleaved
 *   histories, or a late arrival); roll back to the common ancestor, newest first, and replay
 *   everything after it in global order (R-SYNC-2, R-SYNC-4).
 *
 * The engine runs the I/O around it: it loads only the applied actions from just before the
 * earliest incoming one (an indexed range query), never the whole log.
 *
 * Invariants of `plan` (checked in tests on random histories):
 * 1. The global order is `(hlc, id)`; the result of applying the plan is the applied and the
 *    incoming actions, without duplicates, in that order.
 * 2. Incoming actions already applied (duplicates, re-fetches) are ignored: planning is
 *    idempotent (R-SYNC-5).
 * 3. `FastForward.apply` is sorted, and its first element comes after the last applied one.
 * 4. `Reconcile.ancestor` is the last applied action before the earliest new action (or
 *    `null` when there is none); `replay` is exactly the applied actions after it (which the
 *    engine rolls back, newest first, in the database) plus the new actions, in global order.
 * 5. Nothing at or before the ancestor is touched.
 */
import type * as Order from "effect/Order"

/** An action as the planner sees it: its id and its encoded HLC (`Hlc.encode`). */
export interface Entry {
  readonly id: string
  readonly hlc: string
}

/** What to do. */
export type Plan =
  | { readonly _tag: "NothingToDo" }
  | { readonly _tag: "FastForward"; readonly apply: ReadonlyArray<Entry> }
  | {
    readonly _tag: "Reconcile"
    /**
     * The last applied action that stays in place; null when every applied action moves. The
     * applied actions after it are rolled back, newest first (inside the database, by this
     * position, so the planner need not list them).
     */
    readonly ancestor: Entry | null
    /** Every action after the ancestor, old and new, in global order. */
    readonly replay: ReadonlyArray<Entry>
  }

/**
 * The global replay order: HLC (wall time, counter, client id, as encoded, compared
 * bytewise), then action id.
 */
export const order: Order.Order<Entry> = (a, b) =>
  a.hlc < b.hlc ? -1 : a.hlc > b.hlc ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0

/**
 * Plans a sync step.
 *
 * @param applied the applied actions, in global order: the whole applied log, or any suffix
 *   of it that starts at or before the action just before the earliest incoming one.
 * @param incoming received actions, in any order, possibly with duplicates or actions that
 *   are already applied.
 */
export const plan = (applied: ReadonlyArray<Entry>, incoming: ReadonlyArray<Entry>): Plan => {
  const appliedIds = new Set(applied.map((e) => e.id))
  const unique = new Map<string, Entry>()
  for (const entry of incoming) {
    if (!appliedIds.has(entry.id) && !unique.has(entry.id)) unique.set(entry.id, entry)
  }
  if (unique.size === 0) return { _tag: "NothingToDo" }
  const fresh = [...unique.values()].sort(order)
  const earliest = fresh[0]!
  const last = applied[applied.length - 1]
  if (last === undefined || order(last, earliest) < 0) return { _tag: "FastForward", apply: fresh }
  // The first applied action that must move: everything from it on is after `earliest`.
  let split = applied.length
  while (split > 0 && order(applied[split - 1]!, earliest) > 0) split--
  const ancestor = split === 0 ? null : applied[split - 1]!
  return { _tag: "Reconcile", ancestor, replay: [...applied.slice(split), ...fresh].sort(order) }
}
