/**
 * Materialization inside the database: PL/pgSQL that applies stored actions' patches to the
 * canonical tables in canonical `(hlc, id)` order, each action under its author's identity
 * (`reprise.user_id`, for RLS), through core's `reprise.apply_patches` (which switches capture
 * off, quotes every identifier and refuses untracked tables).
 *
 * A late action (one ordered before actions already materialized) is put in its place by
 * re-materializing only the rows it touches (R-SRV-2, R-SYNC-4): the later actions' patches on
 * those rows are undone newest first, the late action is applied, and the later patches are
 * applied again. During that replay an insert first removes any row under its id: a later
 * action's author may already have seen the late action's row (its undo then recreates it),
 * so the late insert replaces it rather than colliding, and the later delete removes it again.
 *
 * @internal
 */

/** @internal */
export const createMaterializeFunctions = `
-- The patches of p_action as a batch for reprise.apply_patches(batch, 'forward'):
-- p_undo inverts them (newest first); p_rows_of keeps only the rows that action touches;
-- p_replace makes every insert delete any row under its id first.
CREATE OR REPLACE FUNCTION reprise_server.patch_batch(
  p_action uuid, p_rows_of uuid, p_undo boolean, p_replace boolean
) RETURNS jsonb LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(jsonb_agg(step.patch ORDER BY CASE WHEN p_undo THEN -p.seq ELSE p.seq END, step.ord), '[]'::jsonb)
  FROM reprise_server.patches p
  CROSS JOIN LATERAL (
    SELECT s.ord, s.patch FROM (VALUES
      (0, CASE WHEN p_replace AND p.op = CASE WHEN p_undo THEN 'DELETE' ELSE 'INSERT' END
          THEN jsonb_build_object('schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id, 'op', 'DELETE')
          END),
      (1, jsonb_build_object('schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id,
          'op', CASE WHEN NOT p_undo THEN p.op
                     WHEN p.op = 'INSERT' THEN 'DELETE'
                     WHEN p.op = 'DELETE' THEN 'INSERT'
                     ELSE 'UPDATE' END,
          'forward', CASE WHEN p_undo THEN p.reverse ELSE p.forward END))
    ) AS s(ord, patch)
    WHERE s.patch IS NOT NULL
  ) AS step
  WHERE p.action_id = p_action
    AND (p_rows_of IS NULL OR EXISTS (
      SELECT 1 FROM reprise_server.patches m
      WHERE m.action_id = p_rows_of AND m.table_schema = p.table_schema
        AND m.table_name = p.table_name AND m.row_id = p.row_id))
$fn$;

-- Materializes the stored actions p_actions (not yet materialized) in canonical order.
-- Every other stored action is already materialized. Returns the number of rows written.
CREATE OR REPLACE FUNCTION reprise_server.materialize(p_actions uuid[])
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  v_action record;
  v_later_ids uuid[];
  v_later_users text[];
  v_total integer := 0;
  i integer;
BEGIN
  FOR v_action IN
    SELECT a.id, a.hlc, a.user_id FROM reprise_server.actions a
    WHERE a.id = ANY (p_actions) ORDER BY a.hlc, a.id
  LOOP
    -- Materialized actions after this one (canonical order) that touched its rows; the
    -- batch's own later actions are not materialized yet, so they are left out. The common
    -- case, nothing materialized after it, is one probe of the (hlc, id) index.
    v_later_ids := NULL;
    IF EXISTS (
      SELECT 1 FROM reprise_server.actions a
      WHERE (a.hlc COLLATE "C", a.id) > (v_action.hlc COLLATE "C", v_action.id)
        AND NOT (a.id = ANY (p_actions))
    ) THEN
      SELECT array_agg(l.id ORDER BY l.hlc, l.id), array_agg(l.user_id ORDER BY l.hlc, l.id)
        INTO v_later_ids, v_later_users
        FROM (
          SELECT DISTINCT a.id, a.hlc, a.user_id
          FROM reprise_server.patches mine
          JOIN reprise_server.patches p
            ON p.table_schema = mine.table_schema AND p.table_name = mine.table_name AND p.row_id = mine.row_id
          JOIN reprise_server.actions a ON a.id = p.action_id
          WHERE mine.action_id = v_action.id
            AND (a.hlc COLLATE "C", a.id) > (v_action.hlc COLLATE "C", v_action.id)
            AND NOT (a.id = ANY (p_actions))
        ) AS l;
    END IF;

    IF v_later_ids IS NULL THEN
      PERFORM set_config('reprise.user_id', coalesce(v_action.user_id, ''), true);
      v_total := v_total + reprise.apply_patches(reprise_server.patch_batch(v_action.id, NULL, false, false), 'forward');
      CONTINUE;
    END IF;

    FOR i IN REVERSE array_length(v_later_ids, 1) .. 1 LOOP
      PERFORM set_config('reprise.user_id', coalesce(v_later_users[i], ''), true);
      v_total := v_total + reprise.apply_patches(reprise_server.patch_batch(v_later_ids[i], v_action.id, true, true), 'forward');
    END LOOP;
    PERFORM set_config('reprise.user_id', coalesce(v_action.user_id, ''), true);
    v_total := v_total + reprise.apply_patches(reprise_server.patch_batch(v_action.id, NULL, false, true), 'forward');
    FOR i IN 1 .. array_length(v_later_ids, 1) LOOP
      PERFORM set_config('reprise.user_id', coalesce(v_later_users[i], ''), true);
      v_total := v_total + reprise.apply_patches(reprise_server.patch_batch(v_later_ids[i], v_action.id, false, true), 'forward');
    END LOOP;
  END LOOP;
  RETURN v_total;
END
$fn$;
`
