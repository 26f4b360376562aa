/**
 * Materialization inside the database: PL/pgSQL that applies stored actions' patches to the
 * canonical tables in canonical `(hlc, id)` order, each action under its author's identity
 * (`reprise_server.act_as`: its user id and the audiences stored with it; `request.jwt.claims`
 * are the uploader's for its own actions, `{ "sub": author }` for others' it replays), so the app tables'
 * row-level security policies apply when the service runs as its RLS role (see `rls.ts`). The
 * upload's own patches are checked: a write the author's policies refuse raises RP010 and an
 * audience key that is not the row's (its audience column or expression, after an insert or
 * update, before a delete) raises RP011; both name the table and the row.
 *
 * A late action (one ordered before actions already materialized) is put in its place by
 * re-materializing only the rows it touches (R-SRV-2, R-SYNC-4): the later actions' patches on
 * those rows are undone newest first, the late action is applied, and the later patches are
 * applied again. During that replay an insert first removes any row under its id: a later
 * action's author may already have seen the late action's row (its undo then recreates it),
 * so the late insert replaces it rather than colliding, and the later delete removes it again.
 *
 * The other actions of a batch are applied in runs, in the same order: consecutive INSERT
 * patches into one table with the same columns (and no row twice) go in ONE set-based INSERT,
 * rows in patch order, like core's applier would build them (`jsonb_populate_record`, quoted
 * identifiers, untracked tables refused, capture off); consecutive UPDATE and DELETE patches
 * go in one `reprise_server.apply_checked` call, which applies them one at a time through core's
 * `reprise.apply_patch` (capture off, identifiers quoted, untracked tables refused). One statement per
 * patch, planned anew each time, made an upload of 500 creations cost ~1 ms per action.
 *
 * @internal
 */

/** @internal */
export const createMaterializeFunctions = `
-- The patches of p_action as items for reprise_server.apply_checked (with their claimed keys):
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
          THEN jsonb_build_object('schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id, 'op', 'DELETE',
            'synthetic', true, 'action', p.action_id)
          END),
      (1, jsonb_build_object('schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id,
          'op', CASE WHEN NOT p_undo THEN p.op
                     WHEN p.op = 'INSERT' THEN 'DELETE'
                     WHEN p.op = 'DELETE' THEN 'INSERT'
                     ELSE 'UPDATE' END,
          'forward', CASE WHEN p_undo THEN p.reverse ELSE p.forward END,
          'audienceKey', p.audience_key, 'action', p.action_id))
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
-- It reads the whole log (reprise_server.scope = 'system') and writes each action's patches as
-- its author (reprise_server.act_as: its user id and stored audiences), so the app tables'
-- row-level security applies; the batch's own patches are checked (reprise_server.apply_checked:
-- refused writes raise RP010, audience keys that are not the rows' RP011).
--
-- One query plans the whole batch, in canonical order, as steps:
-- * a late action: one that materialized actions after it (not in the batch) touched rows of.
--   It is put in its place row by row (undo the later patches on its rows, apply it, redo them).
-- * a run of INSERT patches of consecutive other actions: same author, same table, same
--   columns, no row twice. It is ONE set-based INSERT (rows in patch order), instead of one
--   dynamic statement per patch.
-- * a run of other patches (UPDATE, DELETE) of consecutive other actions of one author: one
--   reprise_server.apply_checked call, which applies them one by one, in order.
-- Runs never span a late action, so every patch is applied in the same order as one by one.
--
-- enable_seqscan = off: PL/pgSQL caches each statement's plan for the session, and a plan made
-- while the log was small scans patches whole (a hash join where an index lookup by action id
-- or row belongs) on every later call, so an upload's cost grew with the log (measured: CPU per
-- 20-action upload 5 ms on an empty log, 18 ms after 13,000 actions). Every statement here is
-- meant to be index-driven; with sequential scans priced out the cached plans stay so.
-- jit = off: before PostgreSQL 18 that price is 10^10, so a plan that keeps a sequential scan
-- (the one-row reprise_server.state, a function's rows) passes jit_above_cost and was compiled
-- by LLVM on every call (measured on PostgreSQL 15: 59 ms for store_upload's UPDATE of the
-- head, under the sequencing lock); the setting holds for the functions these call too.
-- force_generic_plan: every statement's plan is made once per connection (its inputs are
-- parameters), not again on each call while custom plans look cheaper.
CREATE OR REPLACE FUNCTION reprise_server.materialize(p_actions uuid[])
RETURNS integer LANGUAGE plpgsql SET enable_seqscan = off SET plan_cache_mode = force_generic_plan
SET jit = off AS $fn$
DECLARE
  v_prev_capture text := current_setting('reprise.capture', true);
  v_prev_user text := current_setting('reprise.user_id', true);
  v_prev_audiences text := current_setting('reprise.audiences', true);
  v_prev_see_all text := current_setting('reprise.see_all', true);
  v_prev_scope text := current_setting('reprise_server.scope', true);
  v_prev_claims text := current_setting('request.jwt.claims', true);
  v_step record;
  v_bad record;
  v_image jsonb;
  v_later_ids uuid[];
  v_later_users text[];
  v_later_audiences text[];
  v_table text;
  v_cols text;
  v_vals text;
  v_count integer;
  v_total integer := 0;
  i integer;
BEGIN
  PERFORM set_config('reprise.capture', 'off', true);
  PERFORM set_config('reprise_server.scope', 'system', true);
  FOR v_step IN
    WITH batch AS (
      SELECT a.id, a.hlc, a.user_id, a.author_audiences::text AS audiences, a.kind,
        row_number() OVER (ORDER BY a.hlc, a.id) AS pos
      FROM reprise_server.actions a WHERE a.id = ANY (p_actions)
    ),
    late AS (
      SELECT DISTINCT b.id
      FROM batch b
      JOIN reprise_server.patches mine ON mine.action_id = b.id
      JOIN reprise_server.patches p
        ON p.table_schema = mine.table_schema AND p.table_name = mine.table_name AND p.row_id = mine.row_id
      JOIN reprise_server.actions a ON a.id = p.action_id
      WHERE (a.hlc COLLATE "C", a.id) > (b.hlc COLLATE "C", b.id)
        AND NOT EXISTS (SELECT 1 FROM batch x WHERE x.id = a.id)
    ),
    marked AS (
      -- block: how many late actions come before (or are) this one.
      -- A correction goes the late way too: it states rows' images, so its inserts replace.
      SELECT b.id, b.hlc, b.user_id, b.audiences, b.pos, b.kind = 'correction' AS correction, (l.id IS NOT NULL OR b.kind = 'correction') AS late,
        count(CASE WHEN l.id IS NOT NULL OR b.kind = 'correction' THEN 1 END) OVER (ORDER BY b.pos) AS block
      FROM batch b LEFT JOIN late l ON l.id = b.id
    ),
    keyed AS (
      SELECT m.block, m.user_id, m.audiences, p.table_schema, p.table_name, p.row_id, p.op, p.forward,
        CASE WHEN p.op = 'INSERT' THEN p.forward
             ELSE jsonb_build_object('schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id,
                    'op', p.op, 'forward', p.forward, 'audienceKey', p.audience_key, 'action', m.id)
        END AS item,
        jsonb_build_object('row_id', p.row_id, 'claimed', p.audience_key, 'action', m.id) AS claim,
        row_number() OVER (ORDER BY m.pos, p.seq) AS i,
        jsonb_build_array(m.block, m.user_id, m.audiences, p.op = 'INSERT',
          CASE WHEN p.op = 'INSERT' THEN jsonb_build_array(p.table_schema, p.table_name,
            (SELECT jsonb_agg(k) FROM jsonb_object_keys(p.forward) AS k)) END) AS key
      FROM marked m JOIN reprise_server.patches p ON p.action_id = m.id
      WHERE NOT m.late
    ),
    changed AS (
      SELECT k.*, k.key IS DISTINCT FROM lag(k.key) OVER (ORDER BY k.i) AS new_key FROM keyed k
    ),
    segments AS (
      SELECT c.*, sum(c.new_key::int) OVER (ORDER BY c.i) AS seg FROM changed c
    ),
    starts AS (
      SELECT s.*, s.new_key OR (s.op = 'INSERT' AND
        lag(s.i) OVER (PARTITION BY s.seg, s.row_id ORDER BY s.i) IS NOT NULL) AS new_run
      FROM segments s
    ),
    runs AS (
      SELECT s.*, sum(s.new_run::int) OVER (ORDER BY s.i) AS run FROM starts s
    )
    SELECT false AS late, r.block, min(r.i) AS ord, NULL::uuid AS id, NULL::text COLLATE "C" AS hlc, r.user_id,
      r.audiences, bool_and(r.op = 'INSERT') AS inserts, min(r.table_schema) AS table_schema,
      min(r.table_name) AS table_name, jsonb_agg(r.item ORDER BY r.i) AS items,
      jsonb_agg(r.claim ORDER BY r.i) AS claims, false AS correction
    FROM runs r GROUP BY r.run, r.block, r.user_id, r.audiences
    UNION ALL
    SELECT true, m.block, m.pos, m.id, m.hlc, m.user_id, m.audiences, NULL, NULL, NULL, NULL, NULL, m.correction
    FROM marked m WHERE m.late
    ORDER BY block, late DESC, ord
  LOOP
    PERFORM reprise_server.act_as(v_step.user_id, v_step.audiences);
    IF NOT v_step.late AND NOT v_step.inserts THEN
      v_total := v_total + reprise_server.apply_checked(v_step.items, true);
      CONTINUE;
    END IF;
    IF NOT v_step.late THEN
      v_table := format('%I.%I', v_step.table_schema, v_step.table_name);
      IF NOT EXISTS (SELECT 1 FROM reprise.tracked_tables
                     WHERE table_schema = v_step.table_schema AND table_name = v_step.table_name) THEN
        RAISE EXCEPTION USING ERRCODE = 'RP002',
          MESSAGE = format('Reprise: cannot apply a patch to %s: the table is not tracked', v_table),
          HINT = 'Install tracking on the table (Tracking.install) on every replica before syncing it.';
      END IF;
      SELECT string_agg(format('%I', k), ', '), string_agg(format('r.%I', k), ', ')
        INTO v_cols, v_vals FROM jsonb_object_keys(v_step.items->0) AS k;
      BEGIN
        EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_array_elements($1) WITH ORDINALITY AS e(image, n) '
            'CROSS JOIN LATERAL jsonb_populate_record(NULL::%s, e.image) AS r ORDER BY e.n',
          v_table, v_cols, v_vals, v_table) USING v_step.items;
      EXCEPTION WHEN insufficient_privilege THEN
        IF SQLERRM NOT LIKE '%row-level security%' THEN
          RAISE;
        END IF;
        -- The run was rolled back: insert its rows one by one to name the one refused.
        FOR i IN 0 .. jsonb_array_length(v_step.items) - 1 LOOP
          v_image := v_step.items -> i;
          BEGIN
            EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1) AS r',
              v_table, v_cols, v_vals, v_table) USING v_image;
          EXCEPTION WHEN insufficient_privilege THEN
            PERFORM reprise_server.refuse('RP010', jsonb_build_object('schema', v_step.table_schema,
              'table', v_step.table_name, 'op', 'INSERT', 'rowId', v_step.claims -> i ->> 'row_id',
              'action', v_step.claims -> i ->> 'action'), 'the author''s row-level security policies do not allow it');
          END;
        END LOOP;
        RAISE;
      END;
      GET DIAGNOSTICS v_count = ROW_COUNT;
      v_total := v_total + v_count;
      SELECT * INTO v_bad FROM reprise_server.mismatched_key(v_step.table_schema, v_step.table_name, v_step.claims);
      IF v_bad.row_id IS NOT NULL THEN
        PERFORM reprise_server.refuse('RP011', jsonb_build_object('schema', v_step.table_schema,
          'table', v_step.table_name, 'op', 'INSERT', 'rowId', v_bad.row_id, 'action', v_bad.action),
          format('the patch claims audience key %s but the row''s is %s',
            coalesce(to_jsonb(v_bad.claimed)::text, 'null'), coalesce(to_jsonb(v_bad.actual)::text, 'null')));
      END IF;
      CONTINUE;
    END IF;

    -- A late action: the materialized actions after it that touched its rows, in canonical order.
    SELECT array_agg(l.id ORDER BY l.hlc, l.id), array_agg(l.user_id ORDER BY l.hlc, l.id),
        array_agg(l.audiences ORDER BY l.hlc, l.id)
      INTO v_later_ids, v_later_users, v_later_audiences
      FROM (
        SELECT DISTINCT a.id, a.hlc, a.user_id, a.author_audiences::text AS audiences
        FROM reprise_server.patches mine
        JOIN reprise_server.patches p
          ON p.table_schema = mine.table_schema AND p.table_name = mine.table_name AND p.row_id = mine.row_id
        JOIN reprise_server.actions a ON a.id = p.action_id
        WHERE mine.action_id = v_step.id
          AND (a.hlc COLLATE "C", a.id) > (v_step.hlc COLLATE "C", v_step.id)
          AND NOT (a.id = ANY (p_actions))
      ) AS l;
    IF v_later_ids IS NULL THEN
      v_total := v_total + reprise_server.apply_checked(
        reprise_server.patch_batch(v_step.id, NULL, false, v_step.correction), true);
      CONTINUE;
    END IF;

    -- Other authors' actions run with their user id; their token claims are not known here, so
    -- request.jwt.claims says only who they are.
    FOR i IN REVERSE array_length(v_later_ids, 1) .. 1 LOOP
      PERFORM reprise_server.act_as(v_later_users[i], v_later_audiences[i]);
      PERFORM set_config('request.jwt.claims', jsonb_build_object('sub', coalesce(v_later_users[i], ''))::text, true);
      v_total := v_total + reprise_server.apply_checked(
        reprise_server.patch_batch(v_later_ids[i], v_step.id, true, true), false);
    END LOOP;
    PERFORM reprise_server.act_as(v_step.user_id, v_step.audiences);
    PERFORM set_config('request.jwt.claims', coalesce(v_prev_claims, ''), true);
    v_total := v_total + reprise_server.apply_checked(reprise_server.patch_batch(v_step.id, NULL, false, true), true);
    FOR i IN 1 .. array_length(v_later_ids, 1) LOOP
      PERFORM reprise_server.act_as(v_later_users[i], v_later_audiences[i]);
      PERFORM set_config('request.jwt.claims', jsonb_build_object('sub', coalesce(v_later_users[i], ''))::text, true);
      v_total := v_total + reprise_server.apply_checked(
        reprise_server.patch_batch(v_later_ids[i], v_step.id, false, true), false);
    END LOOP;
    PERFORM set_config('request.jwt.claims', coalesce(v_prev_claims, ''), true);
  END LOOP;
  PERFORM set_config('reprise.capture', coalesce(v_prev_capture, ''), true);
  PERFORM set_config('reprise.user_id', coalesce(v_prev_user, ''), true);
  PERFORM set_config('reprise.audiences', coalesce(v_prev_audiences, ''), true);
  PERFORM set_config('reprise.see_all', coalesce(v_prev_see_all, ''), true);
  PERFORM set_config('reprise_server.scope', coalesce(v_prev_scope, ''), true);
  RETURN v_total;
END
$fn$;
`
