/**
 * The PL/pgSQL that captures writes to tracked tables (installed by `Tracking.install`; the
 * queries that install it are in `tracking.ts`).
 *
 * Per tracked table, an AFTER INSERT/UPDATE/DELETE row trigger writes one patch row per changed
 * row into `reprise.action_patches`:
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
 * Canonical order (R-ACT-6). Postgres visits the rows of one UPDATE or DELETE in storage order,
 * which differs between replicas (and between runs), so the row trigger numbers them in an
 * order replay would not repeat. Per tracked table, an AFTER UPDATE OR DELETE statement trigger
 * (`reprise.order_statement_patches`) therefore renumbers, when a top-level statement ends, the
 * patches captured since the window opened (`reprise.patch_window`: the last sequence not to
 * order again, then `,seq:depth` for each patch a nested statement captured): statements keep
 * the order the action ran them in; within one, rows are ordered by table and row id, each
 * row's patches keeping their own order. Writes of nested statements (the app's triggers) are grouped
 * around the statement's own rows so that a parent stays ahead of what it causes: nested
 * updates and deletes before them (deepest first, as Postgres's cascades delete children
 * first), nested inserts after them. Rows a statement inserts keep their order, which is the
 * order its query gave them (deterministic, and a parent inserted ahead of its child in one
 * statement stays ahead): the row trigger closes the window at each, so an insert costs no
 * statement trigger. Postgres's own cascades (ON DELETE CASCADE, SET NULL) run after
 * the statement's triggers, as statements of their own: they are ordered as such.
 *
 * Size limits (R-SRV-7). While the executor runs an app action, `reprise.check_limits` names it
 * (the record statement sets it; a replay, a built-in correction or adoption and an apply leave
 * it naming another action or none), and the row trigger checks each patch as it writes it
 * against the sync protocol's limits (`SyncProtocol.Limits`, written into the function): the
 * action's patch count (the sequence it just took), the row id, the audience key, and each row
 * image as an upload sends it (`jsonb::text`): its length, and its depth, looked at only when the
 * image holds more opening brackets than the limit (otherwise it cannot be that deep). The first
 * patch over a limit, in capture order, fails the action's statement with SQLSTATE `RP413` and,
 * as DETAIL, a JSON object `{ what, limit, size, table, rowId }` that the executor turns into
 * `ActionTooLarge`. Checking here costs an action no statement of its own.
 *
 * @internal
 */

import * as SyncProtocol from "../../SyncProtocol.js"

/**
 * The text every capture function of this version holds, so that `SyncSchema.install` can tell
 * an older one (installed by an earlier build, without the size check) and install this one in
 * its place. Change it with the function (its limits included).
 *
 * @internal
 */
export const CAPTURE_VERSION = "reprise capture v2"

const L = SyncProtocol.Limits

/**
 * The functions shared by every tracked table: the statement trigger and the renumbering it
 * runs. Installed (replaced) with each `Tracking.install`.
 *
 * @internal
 */
export const orderFunctions = `
-- Renumbers the patches p_from + 1 .. p_to of action p_action (one top-level statement's) in
-- canonical order; p_window lists the nested ones as ',seq:depth' after its first element.
CREATE OR REPLACE FUNCTION reprise.order_patches(p_action uuid, p_from integer, p_to integer, p_window text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  -- The primary key (action_id, seq) is checked row by row: the new numbers go through
  -- negatives, which no patch holds, so no two rows ever hold the same number.
  WITH nested AS (
    SELECT split_part(e, ':', 1)::integer AS seq, split_part(e, ':', 2)::integer AS depth
    FROM unnest(string_to_array(p_window, ',')) WITH ORDINALITY AS w(e, i)
    WHERE i > 1 AND e <> ''
  ), window_patches AS (
    SELECT p.seq, p.table_schema, p.table_name, p.row_id, p.op, coalesce(n.depth, 1) AS depth
    FROM reprise.action_patches p LEFT JOIN nested n ON n.seq = p.seq
    WHERE p.action_id = p_action AND p.seq > p_from AND p.seq <= p_to
  ), classed AS (
    -- A row's place comes from its first patch in the statement, so its patches stay together
    -- and in their order.
    SELECT w.seq, w.table_schema, w.table_name, w.row_id,
      first_value(CASE WHEN w.depth = 1 THEN 0 WHEN w.op = 'INSERT' THEN w.depth ELSE -w.depth END)
        OVER (PARTITION BY w.table_schema, w.table_name, w.row_id ORDER BY w.seq) AS place
    FROM window_patches w
  ), ordered AS (
    SELECT c.seq, p_from + row_number() OVER (
      ORDER BY c.place, c.table_schema COLLATE "C", c.table_name COLLATE "C", c.row_id COLLATE "C", c.seq) AS canonical
    FROM classed c
  )
  UPDATE reprise.action_patches p SET seq = -o.canonical
  FROM ordered o WHERE p.action_id = p_action AND p.seq = o.seq;
  UPDATE reprise.action_patches SET seq = -seq WHERE action_id = p_action AND seq < 0;
END
$fn$;

-- At the end of each top-level UPDATE or DELETE on a tracked table: puts the patches captured
-- since the window opened (the end of the previous one, or the last row a statement inserted)
-- in canonical order (see reprise.order_patches).
CREATE OR REPLACE FUNCTION reprise.order_statement_patches() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  v_seq integer;
  v_window text;
  v_from integer;
  v_action text;
  v_set text;
BEGIN
  -- A nested statement's patches are ordered with the top-level statement that caused it.
  IF pg_trigger_depth() > 1 THEN
    RETURN NULL;
  END IF;
  v_seq := coalesce(nullif(current_setting('reprise.patch_seq', true), ''), '0')::integer;
  v_window := coalesce(current_setting('reprise.patch_window', true), '');
  v_from := coalesce(nullif(split_part(v_window, ',', 1), ''), '0')::integer;
  IF v_seq = v_from THEN
    RETURN NULL;
  END IF;
  v_action := current_setting('reprise.action_id', true);
  IF v_seq - v_from > 1 AND v_action IS NOT NULL AND v_action <> '' THEN
    PERFORM reprise.order_patches(v_action::uuid, v_from, v_seq, v_window);
  END IF;
  v_set := set_config('reprise.patch_window', v_seq::text, true);
  RETURN NULL;
END
$fn$;
`

/** Whether a row image nests deeper than the limit (a container below its depth). */
const depthPath = `'strict $.**{${L.maxJsonDepth} to last} ? (@.type() == "object" || @.type() == "array")'::jsonpath`

/**
 * Builds the SQL that (re)creates one table's capture function and its two triggers (the row
 * trigger that captures, the statement trigger that orders updates and deletes).
 *
 * @internal
 */
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
-- ${CAPTURE_VERSION}
DECLARE
  v_action text;
  v_row_id text;
  v_audience text;
  v_forward_text text;
  v_reverse_text text;
  v_what text;
  v_limit integer;
  v_size integer;
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
  -- The ordering window (see reprise.order_statement_patches). Sequence 1 starts it afresh (a
  -- new action, or its run started again).
  IF pg_trigger_depth() > 1 THEN
    -- Captured by a statement an app trigger ran: reprise.order_patches places it by depth.
    v_set := set_config('reprise.patch_window',
      CASE WHEN v_seq = 1 THEN '0' ELSE current_setting('reprise.patch_window', true) END
        || ',' || v_seq || ':' || pg_trigger_depth(), true);
  ELSIF TG_OP = 'INSERT' THEN
    -- Inserted rows keep the order their statement's query gave them: nothing up to here is
    -- ordered again.
    v_set := set_config('reprise.patch_window', v_seq::text, true);
  ELSIF v_seq = 1 THEN
    v_set := set_config('reprise.patch_window', '0', true);
  END IF;
  v_row_id := r.id::text;
  v_audience := (${options.audienceSql})::text;
  -- An app action the executor runs: its patches must fit the protocol's limits (see above).
  IF current_setting('reprise.check_limits', true) = v_action THEN
    v_forward_text := v_forward::text;
    v_reverse_text := v_reverse::text;
    IF v_seq > ${L.maxPatchesPerAction} THEN
      v_what := 'patches'; v_limit := ${L.maxPatchesPerAction}; v_size := v_seq;
    ELSIF length(v_row_id) > ${L.maxRowIdChars} THEN
      v_what := 'row id'; v_limit := ${L.maxRowIdChars}; v_size := length(v_row_id);
    ELSIF length(v_audience) > ${L.maxAudienceKeyChars} THEN
      v_what := 'audience key'; v_limit := ${L.maxAudienceKeyChars}; v_size := length(v_audience);
    ELSIF length(v_forward_text) > ${L.maxRowImageChars} THEN
      v_what := 'forward row image'; v_limit := ${L.maxRowImageChars}; v_size := length(v_forward_text);
    ELSIF length(v_forward_text) > ${L.maxJsonDepth}
      AND length(v_forward_text) - length(translate(v_forward_text, '[{', '')) > ${L.maxJsonDepth}
      AND jsonb_path_exists(v_forward, ${depthPath}) THEN
      v_what := 'forward row image depth'; v_limit := ${L.maxJsonDepth}; v_size := ${L.maxJsonDepth + 1};
    ELSIF length(v_reverse_text) > ${L.maxRowImageChars} THEN
      v_what := 'reverse row image'; v_limit := ${L.maxRowImageChars}; v_size := length(v_reverse_text);
    ELSIF length(v_reverse_text) > ${L.maxJsonDepth}
      AND length(v_reverse_text) - length(translate(v_reverse_text, '[{', '')) > ${L.maxJsonDepth}
      AND jsonb_path_exists(v_reverse, ${depthPath}) THEN
      v_what := 'reverse row image depth'; v_limit := ${L.maxJsonDepth}; v_size := ${L.maxJsonDepth + 1};
    END IF;
    IF v_what IS NOT NULL THEN
      RAISE EXCEPTION 'reprise: action % is over the sync protocol''s limits', v_action
        USING ERRCODE = 'RP413', DETAIL = jsonb_build_object('what', v_what, 'limit', v_limit, 'size', v_size,
          'table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'rowId', left(v_row_id, 200))::text;
    END IF;
  END IF;
  INSERT INTO reprise.action_patches
    (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
  VALUES
    (v_action::uuid, v_seq, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_row_id, TG_OP,
     v_forward, v_reverse, v_audience);
  RETURN NULL;
END
$fn$;

DROP TRIGGER IF EXISTS reprise_capture ON ${options.qualifiedTable};
CREATE TRIGGER reprise_capture
  AFTER INSERT OR UPDATE OR DELETE ON ${options.qualifiedTable}
  FOR EACH ROW EXECUTE FUNCTION ${options.functionName}();
DROP TRIGGER IF EXISTS reprise_order ON ${options.qualifiedTable};
CREATE TRIGGER reprise_order
  AFTER UPDATE OR DELETE ON ${options.qualifiedTable}
  FOR EACH STATEMENT EXECUTE FUNCTION reprise.order_statement_patches();
`
