/**
 * The per-table capture trigger: an AFTER INSERT/UPDATE/DELETE row trigger writing one patch
 * row per changed row into `reprise.action_patches`.
 *
 * - INSERT: forward = the full new row, reverse = null (undo is a delete).
 * - UPDATE: forward/reverse = only the columns whose value changed; no patch for a no-op.
 * - DELETE: forward = null, reverse = the full old row.
 *
 * The action id and the per-action sequence are transaction-local settings
 * (`reprise.action_id`, `reprise.patch_seq`) set by the executor, so numbering a patch costs
 * no query. With `reprise.capture = 'off'` (internal apply and rollback) nothing is captured;
 * with no action id the write is refused.
 *
 * @internal
 */

/** Builds the SQL that (re)creates one table's capture function and trigger. */
export const captureTriggerSql = (options: {
  /** `format('%I.%I', schema, table)`: the quoted, qualified table. */
  readonly qualifiedTable: string
  /** The quoted, qualified name of the capture function. */
  readonly functionName: string
  /** A SQL expression over the row variable `r` that yields its audience key. */
  readonly audienceSql: string
  /** The table name as a SQL string literal, for messages. */
  readonly tableLiteral: string
}): string => `
CREATE OR REPLACE FUNCTION ${options.functionName}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  v_action text;
  v_seq integer;
  v_set text;
  r ${options.qualifiedTable};
  v_new jsonb;
  v_old jsonb;
  v_forward jsonb;
  v_reverse jsonb;
BEGIN
  -- Runs once per written row, so every step is a PL/pgSQL simple expression except the one
  -- INSERT (and, for an UPDATE, the diff query): no PERFORM, no second to_jsonb of a row.
  IF current_setting('reprise.capture', true) = 'off' THEN
    RETURN NULL;
  END IF;
  v_action := current_setting('reprise.action_id', true);
  IF v_action IS NULL OR v_action = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'RP001',
      MESSAGE = format('Reprise: %s on tracked table %s outside an action', TG_OP, ${options.tableLiteral}),
      HINT = 'Change tracked tables only inside an action run by executeAction, so the change is recorded and synced.';
  END IF;
  IF TG_OP = 'INSERT' THEN
    r := NEW;
    v_forward := to_jsonb(NEW);
  ELSIF TG_OP = 'UPDATE' THEN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
      RAISE EXCEPTION USING ERRCODE = 'RP004',
        MESSAGE = format('Reprise: the id of a row of %s cannot change (%s to %s)', ${options.tableLiteral}, OLD.id, NEW.id),
        HINT = 'Delete the row and insert a new one instead.';
    END IF;
    v_new := to_jsonb(NEW);
    v_old := to_jsonb(OLD);
    IF v_new = v_old THEN
      RETURN NULL;
    END IF;
    -- Both rows have the same columns, so each key of one is a key of the other.
    SELECT jsonb_object_agg(n.key, n.value), jsonb_object_agg(n.key, v_old -> n.key)
      INTO v_forward, v_reverse
      FROM jsonb_each(v_new) AS n
      WHERE n.value IS DISTINCT FROM v_old -> n.key;
    IF v_forward IS NULL THEN
      RETURN NULL;
    END IF;
    r := NEW;
  ELSE
    r := OLD;
    v_reverse := to_jsonb(OLD);
  END IF;
  v_seq := coalesce(nullif(current_setting('reprise.patch_seq', true), ''), '0')::integer + 1;
  v_set := set_config('reprise.patch_seq', v_seq::text, true);
  INSERT INTO reprise.action_patches
    (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
  VALUES
    (v_action::uuid, v_seq, TG_TABLE_SCHEMA, TG_TABLE_NAME, r.id::text, TG_OP,
     v_forward, v_reverse, (${options.audienceSql})::text);
  RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS reprise_capture ON ${options.qualifiedTable};
CREATE TRIGGER reprise_capture
  AFTER INSERT OR UPDATE OR DELETE ON ${options.qualifiedTable}
  FOR EACH ROW EXECUTE FUNCTION ${options.functionName}();
`
