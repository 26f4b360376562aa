/**
 * SQL of the client sync engine.
 *
 * @internal
 */

/** The applied actions ordered after ($1 hlc, $2 id); all of them when $1 is null. */
const moved = `
  SELECT r.id, r.hlc FROM reprise.action_records r
  WHERE r.applied AND ($1::text IS NULL OR (r.hlc, r.id) > ($1::text COLLATE "C", $2::uuid))`

/**
 * Applies, inside the database and newest first, the reverse patches of every applied action
 * after the ancestor: the batch is built and applied in SQL, the log never goes to JavaScript.
 *
 * @internal
 */
export const undoAfter = `
SELECT reprise.apply_patches(coalesce((
  SELECT jsonb_agg(jsonb_build_object(
    'schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id, 'op', p.op,
    'forward', p.forward, 'reverse', p.reverse) ORDER BY m.hlc, m.id, p.seq)
  FROM (${moved}) m JOIN reprise.action_patches p ON p.action_id = m.id), '[]'::jsonb), 'reverse') AS n`

/** Marks the actions undone by `undoAfter` as unapplied. @internal */
export const markUnappliedAfter = `
UPDATE reprise.action_records SET applied = false WHERE id IN (SELECT id FROM (${moved}) m)`
