/**
 * The queries of CORRECTION records (R-SYNC-3), over the functions in `correctionFunctions.ts`:
 * which replayed actions are due for the divergence check, which rows differ from the server's,
 * which replayed actions differ per audience, and storing a correction's server-side patches.
 * The decision between them is `CorrectionPlanner`'s.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/**
 * The patches in which the replay of the actions in the CTE `replayed` differs from their known
 * (server-side) patches, both ways: captured now but not known, or known but not captured now
 * (`table_schema`, `table_name`, `row_id`, `action_id`, `audience_key`). A query fragment, also
 * the body of `reprise.replay_agreed` (correctionFunctions.ts), the check's first question.
 * @internal
 */
export const differingPatches = `
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
 * the rows $2 (a JSON array of `{ schema, table, rowId }`: those of the adoptions a rollback
 * undid). $1 is a uuid[] literal.
 *
 * For each: `correct` when this replica may correct the row (it is in the replica's audiences,
 * the last action writing it on the server is one this replica is authoritative for, and the
 * replica computed its image rather than adopted it), with the patch taking the server's image
 * to the replica's (`op`, `forward`, `reverse`); otherwise the replica adopts the server's
 * image, with the patch taking its own image there (`adoptOp`, `adoptForward`). Also the row's
 * audience key (`audience`) and the replayed actions that wrote it otherwise (`actions`).
 *
 */
const divergentRowsStatement = `
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
 */
const differingActionsStatement = `
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
 */
const storeCorrectionPatchesStatement = `
INSERT INTO reprise.known_patches (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
SELECT $1::uuid, x.seq, x.schema, x."table", x."rowId", x.op, x.forward::jsonb, x.reverse::jsonb,
       x.audience
FROM jsonb_to_recordset($2::jsonb)
  AS x(seq int, schema text, "table" text, "rowId" text, op text, forward text, reverse text, audience text)`

/**
 * Takes the work of the divergence check left by earlier pages of a pull (or a pull a crash
 * cut short): the replayed actions marked by `finishReplay` (only synced ones are checked; `ids`,
 * a JSON array) and the rows queued by rollbacks (`rows`, a JSON array), clearing both. The
 * check runs once the whole log is in (after the last page of a pull), so how the log was paged
 * cannot change it (R-SYNC-10).
 *
 * @internal
 */
export const takeUnchecked = (sql: SqlClient.SqlClient) =>
  sql<{ ids: string; rows: string }>`
    WITH actions AS (
      UPDATE reprise.action_records SET unchecked = false WHERE unchecked RETURNING id, synced
    ), queued AS (
      DELETE FROM reprise.unchecked_rows RETURNING table_schema, table_name, row_id
    )
    SELECT coalesce((SELECT jsonb_agg(id ORDER BY id) FROM actions WHERE synced), '[]')::text AS ids,
      coalesce((SELECT jsonb_agg(jsonb_build_object('schema', table_schema, 'table', table_name, 'rowId', row_id))
        FROM queued), '[]')::text AS rows`

/** The divergent rows (see `divergentRowsStatement`). @internal */
export const divergentRows = (sql: SqlClient.SqlClient, ids: string, rows: string) =>
  sql.unsafe(divergentRowsStatement, [ids, rows])

/** The differing actions per audience (see `differingActionsStatement`). @internal */
export const differingActions = (sql: SqlClient.SqlClient, ids: string) => sql.unsafe(differingActionsStatement, [ids])

/**
 * Stores correction `id`'s server-side patches (`patches`: see
 * `storeCorrectionPatchesStatement`). @internal
 */
export const storeCorrectionPatches = (sql: SqlClient.SqlClient, id: string, patches: string) =>
  sql.unsafe(storeCorrectionPatchesStatement, [id, patches])
