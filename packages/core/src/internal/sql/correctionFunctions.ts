/**
 * The PL/pgSQL functions of CORRECTION records (R-SYNC-3), installed by `SyncSchema.install`;
 * the queries that call them are in `corrections.ts`.
 *
 * The server never runs app code: its tables are the fold, in canonical order, of the patches
 * the authors captured. When a replica's replay of an action writes something else than its
 * author saw (it sees rows the author could not, or an earlier action arrived late), the
 * server's rows differ from the replicas'. These functions compute, per row, what the server
 * holds (the fold of the known patches) and what the replica holds itself, the patch between
 * the two, and settle a replayed action's rows for private data.
 *
 * Also here, run with the others at every install: dropping the executor's former check of an
 * action's patches (`check_action_limits`), which the capture trigger does now (`capture.ts`).
 *
 * @internal
 */
import { differingPatches } from "./corrections.js"

/** @internal */
export const createCorrectionFunctions = `
-- The server's image of a row: the fold, in canonical order, of the patches the server has
-- (known_patches for synced records) and will have (this replica's pending actions' patches),
-- up to and including record (p_hlc, p_id) when given; and whether this replica may correct it:
-- the last ACTION of the fold (corrections restate rows, they are transparent here) is one whose
-- replay is authoritative on this replica (action_records.authoritative), or there is none.
CREATE OR REPLACE FUNCTION reprise.server_image(p_schema text, p_table text, p_row_id text,
  p_hlc text, p_id uuid, OUT image jsonb, OUT authoritative boolean)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  v_patch record;
BEGIN
  image := NULL;
  authoritative := true;
  FOR v_patch IN
    SELECT x.op, x.forward, x.authoritative, x.kind FROM (
      SELECT r.hlc, r.id, k.seq, k.op, k.forward, r.authoritative, r.kind FROM reprise.known_patches k
      JOIN reprise.action_records r ON r.id = k.action_id
      WHERE (r.synced OR r.kind = 'correction')
        AND k.table_schema = p_schema AND k.table_name = p_table AND k.row_id = p_row_id
      UNION ALL
      SELECT r.hlc, r.id, a.seq, a.op, a.forward, true, r.kind FROM reprise.action_patches a
      JOIN reprise.action_records r ON r.id = a.action_id
      WHERE NOT r.synced AND r.kind = 'action' AND r.applied
        AND a.table_schema = p_schema AND a.table_name = p_table AND a.row_id = p_row_id
    ) AS x
    WHERE p_hlc IS NULL OR (x.hlc, x.id) <= (p_hlc COLLATE "C", p_id)
    ORDER BY x.hlc, x.id, x.seq
  LOOP
    IF v_patch.op = 'INSERT' THEN
      image := v_patch.forward;
    ELSIF v_patch.op = 'UPDATE' THEN
      IF image IS NOT NULL THEN
        image := image || v_patch.forward;
      END IF;
    ELSE
      image := NULL;
    END IF;
    -- Corrections restate rows; whether this replica computes a row depends on its actions.
    IF v_patch.kind = 'action' THEN
      authoritative := v_patch.authoritative;
    END IF;
  END LOOP;
END
$fn$;

-- This replica's image of a row, as to_jsonb renders it; null when it has no such row.
CREATE OR REPLACE FUNCTION reprise.local_image(p_schema text, p_table text, p_row_id text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  v_id_type text;
  v_image jsonb;
BEGIN
  SELECT id_type INTO v_id_type FROM reprise.tracked_tables WHERE table_schema = p_schema AND table_name = p_table;
  IF v_id_type IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT to_jsonb(t) FROM %I.%I AS t WHERE t.id = $1::%s', p_schema, p_table, v_id_type)
    INTO v_image USING p_row_id;
  RETURN v_image;
END
$fn$;

-- The patch that takes the server from its image of a row (p_expected) to this replica's
-- (p_local): an INSERT of the local row, a DELETE of the server's, or an UPDATE of the
-- columns that differ.
CREATE OR REPLACE FUNCTION reprise.correction_patch(p_expected jsonb, p_local jsonb,
  OUT op text, OUT forward jsonb, OUT reverse jsonb)
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF p_expected IS NULL THEN
    op := 'INSERT'; forward := p_local; reverse := NULL;
  ELSIF p_local IS NULL THEN
    op := 'DELETE'; forward := NULL; reverse := p_expected;
  ELSE
    op := 'UPDATE';
    SELECT jsonb_object_agg(l.key, l.value), jsonb_object_agg(l.key, p_expected -> l.key)
      INTO forward, reverse
      FROM jsonb_each(p_local) AS l WHERE l.value IS DISTINCT FROM p_expected -> l.key;
  END IF;
END
$fn$;

-- Sets a row of this replica to an image (null: no such row). Capture stays on: the writes are
-- recorded as the replayed action's own, so a rollback undoes them.
CREATE OR REPLACE FUNCTION reprise.set_row(p_schema text, p_table text, p_row_id text, p_image jsonb)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  v_local jsonb := reprise.local_image(p_schema, p_table, p_row_id);
BEGIN
  IF p_image IS NULL AND v_local IS NOT NULL THEN
    PERFORM reprise.apply_patch(p_schema, p_table, p_row_id, 'DELETE', NULL);
  ELSIF p_image IS NOT NULL AND v_local IS NULL THEN
    PERFORM reprise.apply_patch(p_schema, p_table, p_row_id, 'INSERT', p_image);
  ELSIF p_image IS DISTINCT FROM v_local THEN
    PERFORM reprise.apply_patch(p_schema, p_table, p_row_id, 'UPDATE', p_image);
  END IF;
END
$fn$;

-- After replaying record p_action (capture still pointed at it, so what this writes is its own):
-- * when p_impose (its replay is not authoritative here: another user's action of "author"
--   authority), each row its author wrote
--   is set to the server's image of it as of this record (the fold of the known patches up to
--   it): the author's result stands, and the row equals what the server holds at that point;
-- * when this replica's audiences are known, rows the replay wrote outside them are removed.
-- Rows the replay wrote that the author did not, inside the audiences, stay (R-SYNC-3).
CREATE OR REPLACE FUNCTION reprise.settle_replay(p_action uuid, p_impose boolean)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  v record;
  v_hlc text;
  v_audiences text[];
  v_key text;
BEGIN
  IF p_impose THEN
    SELECT hlc INTO v_hlc FROM reprise.action_records WHERE id = p_action;
    FOR v IN
      SELECT table_schema, table_name, row_id FROM reprise.known_patches
      WHERE action_id = p_action GROUP BY 1, 2, 3 ORDER BY min(seq)
    LOOP
      PERFORM reprise.set_row(v.table_schema, v.table_name, v.row_id,
        (reprise.server_image(v.table_schema, v.table_name, v.row_id, v_hlc, p_action)).image);
    END LOOP;
  END IF;
  SELECT audiences INTO v_audiences FROM reprise.client_state;
  IF v_audiences IS NOT NULL THEN
    FOR v IN
      SELECT DISTINCT table_schema, table_name, row_id FROM reprise.action_patches WHERE action_id = p_action
    LOOP
      v_key := reprise.audience_of(v.table_schema, v.table_name,
        reprise.local_image(v.table_schema, v.table_name, v.row_id));
      IF v_key IS NOT NULL AND NOT (v_key = ANY (v_audiences)) THEN
        PERFORM reprise.apply_patch(v.table_schema, v.table_name, v.row_id, 'DELETE', NULL);
      END IF;
    END LOOP;
  END IF;
END
$fn$;

-- Whether this replica's current image of a row was written by an adoption (its last writer in
-- replay order): such a row holds the server's image, not this replica's own computation.
CREATE OR REPLACE FUNCTION reprise.adopted_locally(p_schema text, p_table text, p_row_id text)
RETURNS boolean LANGUAGE sql STABLE AS $fn$
  SELECT coalesce((
    SELECT r.kind = 'adoption' FROM reprise.action_patches p
    JOIN reprise.action_records r ON r.id = p.action_id
    WHERE p.table_schema = p_schema AND p.table_name = p_table AND p.row_id = p_row_id AND r.applied
    ORDER BY r.hlc DESC, r.id DESC, p.seq DESC LIMIT 1), false)
$fn$;

-- The audience key of a row image of a tracked table (its audience column, or its audience
-- expression evaluated over the image).
CREATE OR REPLACE FUNCTION reprise.audience_of(p_schema text, p_table text, p_image jsonb)
RETURNS text LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  v_audience text;
  v_key text;
BEGIN
  SELECT audience INTO v_audience FROM reprise.tracked_tables WHERE table_schema = p_schema AND table_name = p_table;
  IF v_audience IS NULL OR p_image IS NULL THEN
    RETURN NULL;
  ELSIF v_audience LIKE 'column:%' THEN
    RETURN p_image ->> substr(v_audience, 8);
  END IF;
  EXECUTE format('SELECT (%s)::text FROM jsonb_populate_record(NULL::%I.%I, $1) AS r', substr(v_audience, 12), p_schema, p_table)
    INTO v_key USING p_image;
  RETURN v_key;
END
$fn$;

-- Whether none of the synced actions p_ids (but those in p_skip) wrote, in its replay, anything
-- else than its known patches: the question the divergence check starts from (differingPatches
-- in corrections.ts, the same query), asked at the end of a replay (finishReplay). A
-- function, so that its plan is made once per session rather than at every replay.
CREATE OR REPLACE FUNCTION reprise.replay_agreed(p_ids uuid[], p_skip uuid[])
RETURNS boolean LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  RETURN NOT EXISTS (
    WITH replayed AS (
      SELECT r.id FROM reprise.action_records r
      WHERE r.id = ANY (p_ids) AND r.synced AND NOT (r.id = ANY (p_skip))
    )
    ${differingPatches});
END
$fn$;

-- The executor's check of an action's patches by a statement of its own, replaced by the capture
-- trigger's (capture.ts): an earlier build installed it.
DROP FUNCTION IF EXISTS reprise.check_action_limits(uuid, int, int, int, int, int);
`
