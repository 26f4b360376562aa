/**
 * Patch application inside the database: PL/pgSQL that applies a JSON array of patches
 * forward (replay) or in reverse (rollback) in ONE statement, with capture switched off
 * transaction-locally so applied patches are not captured again.
 *
 * Rows are rebuilt with `jsonb_populate_record(NULL::table, patch)`, so every column type
 * round-trips through the same text representation Postgres used to capture it; identifiers
 * are quoted with `format('%I')`; the row id is cast to the table's recorded id type.
 *
 * @internal
 */
export const createApplyFunctions = `
CREATE OR REPLACE FUNCTION reprise.apply_patch(
  p_schema text, p_table text, p_row_id text, p_op text, p_data jsonb
) RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  v_table text := format('%I.%I', p_schema, p_table);
  v_id_type text;
  v_cols text;
  v_vals text;
  v_count integer;
BEGIN
  SELECT id_type INTO v_id_type FROM reprise.tracked_tables
    WHERE table_schema = p_schema AND table_name = p_table;
  IF v_id_type IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'RP002',
      MESSAGE = format('Reprise: cannot apply a patch to %s: the table is not tracked', v_table),
      HINT = 'Install tracking on the table (Tracking.install) on every replica before syncing it.';
  END IF;
  IF p_op = 'INSERT' THEN
    SELECT string_agg(format('%I', k), ', '), string_agg(format('r.%I', k), ', ')
      INTO v_cols, v_vals FROM jsonb_object_keys(p_data) AS k;
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1) AS r',
      v_table, v_cols, v_vals, v_table) USING p_data;
    GET DIAGNOSTICS v_count = ROW_COUNT;
  ELSIF p_op = 'UPDATE' THEN
    SELECT string_agg(format('%I = r.%I', k, k), ', ') INTO v_cols
      FROM jsonb_object_keys(p_data) AS k WHERE k <> 'id';
    IF v_cols IS NULL THEN
      RETURN 0;
    END IF;
    EXECUTE format('UPDATE %s AS t SET %s FROM jsonb_populate_record(NULL::%s, $1) AS r WHERE t.id = $2::%s',
      v_table, v_cols, v_table, v_id_type) USING p_data, p_row_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
  ELSIF p_op = 'DELETE' THEN
    EXECUTE format('DELETE FROM %s WHERE id = $1::%s', v_table, v_id_type) USING p_row_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
  ELSE
    RAISE EXCEPTION USING ERRCODE = 'RP003', MESSAGE = format('Reprise: unknown patch operation %L', p_op);
  END IF;
  RETURN v_count;
END
$fn$;

-- Applies patches given as [{ schema, table, rowId, op, forward, reverse }, ...]:
-- 'forward' in array order, 'reverse' from the last element to the first, undoing each.
CREATE OR REPLACE FUNCTION reprise.apply_patches(p_patches jsonb, p_direction text)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  v_prev text := current_setting('reprise.capture', true);
  v_patch jsonb;
  v_total integer := 0;
BEGIN
  IF p_direction NOT IN ('forward', 'reverse') THEN
    RAISE EXCEPTION USING ERRCODE = 'RP003', MESSAGE = format('Reprise: unknown patch direction %L', p_direction);
  END IF;
  PERFORM set_config('reprise.capture', 'off', true);
  FOR v_patch IN
    SELECT value FROM jsonb_array_elements(p_patches) WITH ORDINALITY AS e(value, i)
    ORDER BY CASE WHEN p_direction = 'forward' THEN i ELSE -i END
  LOOP
    v_total := v_total + reprise.apply_patch(
      v_patch->>'schema', v_patch->>'table', v_patch->>'rowId',
      CASE WHEN p_direction = 'forward' THEN v_patch->>'op'
           WHEN v_patch->>'op' = 'INSERT' THEN 'DELETE'
           WHEN v_patch->>'op' = 'DELETE' THEN 'INSERT'
           ELSE 'UPDATE' END,
      CASE WHEN p_direction = 'forward' THEN v_patch->'forward' ELSE v_patch->'reverse' END);
  END LOOP;
  PERFORM set_config('reprise.capture', coalesce(v_prev, ''), true);
  RETURN v_total;
END
$fn$;
`
