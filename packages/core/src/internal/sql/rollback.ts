/**
 * Statements of a reconcile's rollback: undo, inside the database and newest first, every
 * applied action after the common ancestor, and mark them unapplied (R-SYNC-2).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { patchJson } from "./patchJson.js"

/** The applied actions ordered after ($1 hlc, $2 id); all of them when $1 is null. */
const moved = `
  SELECT r.id, r.hlc FROM reprise.action_records r
  WHERE r.applied AND ($1::text IS NULL OR (r.hlc, r.id) > ($1::text COLLATE "C", $2::uuid))`

/**
 * Applies, inside the database and newest first, the reverse patches of every applied action
 * after the ancestor ($1 hlc, $2 id; every applied action when $1 is null): the batch is built
 * and applied in SQL, the log never goes to JavaScript.
 *
 * @internal
 */
export const undoAfter = `
SELECT reprise.apply_patches(coalesce((
  SELECT jsonb_agg(${patchJson} ORDER BY m.hlc, m.id, p.seq)
  FROM (${moved}) m JOIN reprise.action_patches p ON p.action_id = m.id), '[]'::jsonb), 'reverse') AS n`

/** Marks the actions undone by `undoAfter` as unapplied. @internal */
export const markUnappliedAfter = `
UPDATE reprise.action_records SET applied = false WHERE id IN (SELECT id FROM (${moved}) m)`

/**
 * Queues for the next divergence check the rows written by the adoptions a rollback to
 * ($1 hlc, $2 id) is about to undo: the rollback undoes their adoption, so they are checked
 * again even when no replayed action touches them.
 */
const recheckAdoptedAfter = `
INSERT INTO reprise.unchecked_rows (table_schema, table_name, row_id)
SELECT DISTINCT p.table_schema, p.table_name, p.row_id
FROM reprise.action_records r JOIN reprise.action_patches p ON p.action_id = r.id
WHERE r.kind = 'adoption' AND r.applied AND ($1::text IS NULL OR (r.hlc, r.id) > ($1::text COLLATE "C", $2::uuid))
ON CONFLICT DO NOTHING`

/** An action's position in the global order, or null for "before everything". @internal */
export interface Position {
  readonly hlc: string
  readonly id: string
}

/**
 * Rolls back every applied action after `ancestor` (all of them when null), newest first, and
 * marks them unapplied; the rows of undone adoptions are queued for the next check. @internal
 */
export const rollBackAfter = (sql: SqlClient.SqlClient, ancestor: Position | null) => {
  const params = [ancestor?.hlc ?? null, ancestor?.id ?? null]
  return Effect.asVoid(Effect.all([
    sql.unsafe(recheckAdoptedAfter, params),
    sql.unsafe(undoAfter, params),
    sql.unsafe(markUnappliedAfter, params)
  ], { discard: true }))
}
