/**
 * SQL for CORRECTION records (R-SYNC-3).
 *
 * The server never runs app code: its tables are the fold, in canonical order, of the patches
 * the authors captured. When a replica's replay of an action writes something else than its
 * author saw (it sees rows the author could not, or an earlier action arrived late), the
 * server's rows differ from the replicas'. The replica computes, per row, what the server holds
 * (the fold of the known patches) and what it holds itself; where they differ it records a
 * correction, or, when it sees less than the row's last writer did, adopts the server's row.
 *
 * @internal
 */
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

-- After replaying record p_action (inside its savepoint, capture pointed at it):
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

`

/**
 * The patches in which the replay of the actions in the CTE `replayed` differs from their known
 * (server-side) patches, both ways: captured now but not known, or known but not captured now
 * (`table_schema`, `table_name`, `row_id`, `action_id`, `audience_key`). A query fragment.
 */
const differingPatches = `
  SELECT a.table_schema, a.table_name, a.row_id, a.action_id, a.audience_key FROM reprise.action_patches a
  WHERE a.action_id IN (SELECT id FROM replayed) AND NOT EXISTS (
    SELECT 1 FROM reprise.known_patches k
    WHERE k.action_id = a.action_id AND k.seq = a.seq AND k.table_schema = a.table_schema
      AND k.table_name = a.table_name AND k.row_id = a.row_id AND k.op = a.op
      AND k.forward IS NOT DISTINCT FROM a.forward AND k.reverse IS NOT DISTINCT FROM a.reverse)
  UNION ALL
  SELECT k.table_schema, k.table_name, k.row_id, k.action_id, k.audience_key FROM reprise.known_patches k
  WHERE k.action_id IN (SELECT id FROM replayed) AND NOT EXISTS (
    SELECT 1 FROM reprise.action_patches a
    WHERE a.action_id = k.action_id AND a.seq = k.seq AND a.table_schema = k.table_schema
      AND a.table_name = k.table_name AND a.row_id = k.row_id AND a.op = k.op
      AND a.forward IS NOT DISTINCT FROM k.forward AND a.reverse IS NOT DISTINCT FROM k.reverse)`

/**
 * Rows whose server image differs from this replica's, among the rows touched by the given
 * replayed, synced actions whose replay wrote something else than their known patches, and
 * the rows $2 (a JSON array of `{ schema, table, rowId }`: those of the adoptions this replay
 * undid). $1 is a uuid[] literal.
 *
 * For each: `correct` when this replica may correct the row (it is in the replica's audiences,
 * the last action writing it on the server is one this replica is authoritative for, and the
 * replica computed its image rather than adopted it), with the patch taking the server's image
 * to the replica's (`op`, `forward`, `reverse`); otherwise the replica adopts the server's
 * image, with the patch taking its own image there (`adoptOp`, `adoptForward`). Also the row's
 * audience key (`audience`) and the replayed actions that wrote it otherwise (`actions`).
 *
 * @internal
 */
export const divergentRows = `
WITH replayed AS (
  SELECT r.id FROM reprise.action_records r WHERE r.id = ANY ($1::uuid[]) AND r.synced
), differing_patches AS (
  SELECT x.schema AS table_schema, x."table" AS table_name, x."rowId" AS row_id, NULL::uuid AS action_id
  FROM jsonb_to_recordset($2::jsonb) AS x(schema text, "table" text, "rowId" text)
  UNION
  SELECT table_schema, table_name, row_id, action_id FROM (${differingPatches}) AS p
), differing AS MATERIALIZED (
  -- Materialized so the image comparison below runs on the few differing rows only: inlined,
  -- the planner pushes it down into the patch scans and runs both image functions per patch.
  SELECT table_schema, table_name, row_id,
    coalesce(array_to_json(array_agg(DISTINCT action_id) FILTER (WHERE action_id IS NOT NULL)), '[]')::text AS actions
  FROM differing_patches GROUP BY 1, 2, 3
)
SELECT d.table_schema AS schema, d.table_name AS "table", d.row_id AS "rowId", l.image::text AS image,
       e.authoritative AND (cs.audiences IS NULL OR v.audience IS NULL OR v.audience = ANY (cs.audiences))
         AND NOT reprise.adopted_locally(d.table_schema, d.table_name, d.row_id) AS correct,
       c.op, c.forward::text AS forward, c.reverse::text AS reverse,
       b.op AS "adoptOp", b.forward::text AS "adoptForward", d.actions, v.audience
FROM differing d
CROSS JOIN reprise.client_state cs
CROSS JOIN LATERAL (SELECT reprise.local_image(d.table_schema, d.table_name, d.row_id) AS image) AS l
CROSS JOIN LATERAL reprise.server_image(d.table_schema, d.table_name, d.row_id, NULL, NULL) AS e
CROSS JOIN LATERAL (SELECT reprise.audience_of(d.table_schema, d.table_name, coalesce(l.image, e.image)) AS audience) AS v
CROSS JOIN LATERAL reprise.correction_patch(e.image, l.image) AS c
CROSS JOIN LATERAL reprise.correction_patch(l.image, e.image) AS b
WHERE e.image IS DISTINCT FROM l.image
ORDER BY 1, 2, 3`

/**
 * The replayed, synced actions ($1, a uuid[] literal) whose replay wrote something else than
 * their known patches, once per audience key of such a patch (`id`, `audience`, null for
 * public rows), and whether the action is `hidden` there. What corrections restate:
 *
 * - Into the audience of a corrected row: every such action, not only those writing the row.
 *   An action the server hid from a user (its author's patches were outside the user's
 *   audiences, or there were none) may, replayed, write a row the user sees and later undo
 *   it, and such a passing effect changes what later actions compute (a list is full while it
 *   lasts). Each user who sees the correction must replay those actions too, or compute
 *   another result and correct it back (a livelock; found by seed 123137).
 * - Into an audience where the action is `hidden`, whether or not a row there differs: the
 *   audience is one of this replica's (or public) and nothing filtered is null; none of the
 *   action's known patches is in it (or public); and no correction this replica knows
 *   restates it there. Its replay changes what that audience's users see, if only for a
 *   while, and they do not receive it: restated as soon as a replay shows it, since a row may
 *   differ only long after the replay window (a creation and deletion replayed in one sync,
 *   the refusal they cause corrected in a later one: found by seed 902813525).
 *
 * @internal
 */
export const differingActions = `
WITH replayed AS (
  SELECT r.id FROM reprise.action_records r WHERE r.id = ANY ($1::uuid[]) AND r.synced AND r.kind = 'action'
), written AS (
  SELECT DISTINCT p.action_id, p.audience_key FROM (${differingPatches}) AS p
)
SELECT w.action_id::text AS id, w.audience_key AS audience,
  cs.audiences IS NOT NULL
  AND (w.audience_key IS NULL OR w.audience_key = ANY (cs.audiences))
  AND NOT EXISTS (
    SELECT 1 FROM reprise.known_patches k
    WHERE k.action_id = w.action_id AND (k.audience_key IS NULL OR k.audience_key = w.audience_key))
  AND NOT EXISTS (
    SELECT 1 FROM reprise.action_records c
    WHERE c.kind = 'correction' AND c.args -> 'input' -> 'restates' ? w.action_id::text
      AND CASE WHEN c.args -> 'input' ? 'audience'
        -- Public (null) is seen by every user.
        THEN c.args -> 'input' ->> 'audience' IS NULL OR c.args -> 'input' ->> 'audience' = w.audience_key
        -- A correction from before corrections named their audience: its patches show it.
        ELSE EXISTS (
          SELECT 1 FROM reprise.known_patches k
          WHERE k.action_id = c.id AND (k.audience_key IS NULL OR k.audience_key = w.audience_key))
      END) AS hidden
FROM written w CROSS JOIN reprise.client_state cs
ORDER BY 1, 2`

/**
 * Records, as the server-side patches of correction $1, the rows given as a JSON array
 * ($2: [{ seq, schema, table, rowId, op, forward, reverse, audience }], images as JSON text).
 * The audience is the row's (of the replica's image, or of the server's when the correction
 * deletes the row), never recomputed from the new image alone: a DELETE has none.
 *
 * @internal
 */
export const storeCorrectionPatches = `
INSERT INTO reprise.known_patches (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
SELECT $1::uuid, x.seq, x.schema, x."table", x."rowId", x.op, x.forward::jsonb, x.reverse::jsonb,
       x.audience
FROM jsonb_to_recordset($2::jsonb)
  AS x(seq int, schema text, "table" text, "rowId" text, op text, forward text, reverse text, audience text)`

/**
 * The rows written by the adoptions a rollback to ($1 hlc, $2 id) is about to undo (all applied
 * adoptions when $1 is null): they are checked again after the replay, even when no replayed
 * action touches them.
 *
 * @internal
 */
export const adoptedAfter = `
SELECT DISTINCT p.table_schema AS schema, p.table_name AS "table", p.row_id AS "rowId"
FROM reprise.action_records r JOIN reprise.action_patches p ON p.action_id = r.id
WHERE r.kind = 'adoption' AND r.applied AND ($1::text IS NULL OR (r.hlc, r.id) > ($1::text COLLATE "C", $2::uuid))`
