/**
 * Statements of the quarantine (R-REC-3): find where a pending action sits, move it from the
 * log (`action_records` and its patches) into `reprise.quarantined_actions`, list, discard, and
 * move it back as a pending, not yet applied record for a retry.
 *
 * A quarantined action lives only in `quarantined_actions`, which none of the engine's other
 * statements read: that is what keeps it out of the pending batch, the planner, rollbacks,
 * replays and the divergence check.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/** A record's position and whether it is still pending (not synced). @internal */
export const recordPosition = (sql: SqlClient.SqlClient, id: string) =>
  sql`SELECT id::text AS id, hlc, synced FROM reprise.action_records WHERE id = ${id}::uuid`

/**
 * The applied action just before (`hlc`, `id`) in global order, if any: the ancestor a
 * quarantine rolls back to (an indexed range scan). @internal
 */
export const appliedBefore = (sql: SqlClient.SqlClient, position: { readonly hlc: string; readonly id: string }) =>
  sql`
    SELECT id::text AS id, hlc FROM reprise.action_records
    WHERE applied AND (hlc, id) < (${position.hlc}::text COLLATE "C", ${position.id}::uuid)
    ORDER BY hlc DESC, id DESC LIMIT 1`

/**
 * Moves a pending record (already rolled back) into the quarantine with the rejection's
 * `reason` and `detail` and the time `at` (epoch ms), in one statement: its record and captured
 * patches leave the log; a correction's known (server-side) patches are kept with it, so a
 * retry can restore them. Returns the id moved (none when the record was not pending).
 *
 * @internal
 */
export const moveToQuarantine = (
  sql: SqlClient.SqlClient,
  id: string,
  reason: string,
  detail: string,
  at: number
) =>
  sql`
    WITH moved AS (
      DELETE FROM reprise.action_records WHERE id = ${id}::uuid AND NOT synced
      RETURNING id, tag, args, client_id, user_id, hlc, kind
    ), captured AS (
      DELETE FROM reprise.action_patches WHERE action_id IN (SELECT id FROM moved)
    ), known AS (
      DELETE FROM reprise.known_patches WHERE action_id IN (SELECT id FROM moved)
      RETURNING seq, table_schema, table_name, row_id, op, forward, reverse, audience_key
    )
    INSERT INTO reprise.quarantined_actions
      (id, tag, args, client_id, user_id, hlc, kind, known_patches, reason, detail, quarantined_at)
    SELECT m.id, m.tag, m.args, m.client_id, m.user_id, m.hlc, m.kind,
      coalesce((SELECT jsonb_agg(to_jsonb(k) ORDER BY k.seq) FROM known k), '[]'::jsonb),
      ${reason}, ${detail}, ${at}
    FROM moved m
    ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, detail = excluded.detail,
      quarantined_at = excluded.quarantined_at
    RETURNING id::text AS id`

/**
 * Drops this replica's pending corrections ordered after ($1 hlc, $2 id): a check made them on
 * a state with (or, for a retry, without) the action being quarantined (or retried), so they
 * may restate what is no longer so. Their rows are queued for the divergence check that follows
 * (`unchecked_rows`), which records again whatever correction the new state needs; returns the
 * actions they restated (`restates`, a JSON array), for that check to look at too.
 *
 * @internal
 */
export const dropCorrectionsAfter = (sql: SqlClient.SqlClient, position: { readonly hlc: string; readonly id: string }) =>
  sql`
    WITH dropped AS (
      DELETE FROM reprise.action_records
      WHERE kind = 'correction' AND NOT synced AND (hlc, id) > (${position.hlc}::text COLLATE "C", ${position.id}::uuid)
      RETURNING id, args
    ), known AS (
      DELETE FROM reprise.known_patches WHERE action_id IN (SELECT id FROM dropped)
      RETURNING table_schema, table_name, row_id
    ), captured AS (
      DELETE FROM reprise.action_patches WHERE action_id IN (SELECT id FROM dropped)
    ), queued AS (
      INSERT INTO reprise.unchecked_rows (table_schema, table_name, row_id)
      SELECT DISTINCT table_schema, table_name, row_id FROM known
      ON CONFLICT DO NOTHING
    )
    SELECT coalesce((
      SELECT jsonb_agg(DISTINCT x.id) FROM dropped d
      CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(d.args -> 'input' -> 'restates', '[]'::jsonb)) AS x(id)
    ), '[]'::jsonb)::text AS restates`

/** The quarantined actions, in global (HLC) order. @internal */
export const listQuarantined = (sql: SqlClient.SqlClient) =>
  sql`
    SELECT id::text AS id, tag, args, hlc, kind, reason, detail, quarantined_at::text AS at
    FROM reprise.quarantined_actions ORDER BY hlc, id`

/**
 * Retries a quarantined correction by recomputing it: takes it out of the quarantine and queues
 * the rows it set for the divergence check that follows (`unchecked_rows`), which records a
 * fresh correction from the current state if one is still needed (the quarantined one was
 * computed on an older state, and replaying it would impose its images). Returns how many it
 * took (0 or 1) and the actions it restated (`restates`, a JSON array), for the check too.
 *
 * @internal
 */
export const recomputeCorrection = (sql: SqlClient.SqlClient, id: string) =>
  sql`
    WITH taken AS (
      DELETE FROM reprise.quarantined_actions WHERE id = ${id}::uuid AND kind = 'correction'
      RETURNING args, known_patches
    ), queued AS (
      INSERT INTO reprise.unchecked_rows (table_schema, table_name, row_id)
      SELECT DISTINCT p.table_schema, p.table_name, p.row_id
      FROM taken t CROSS JOIN LATERAL jsonb_to_recordset(t.known_patches) AS p(table_schema text, table_name text, row_id text)
      ON CONFLICT DO NOTHING
    )
    SELECT (SELECT count(*) FROM taken)::int AS n,
      coalesce((
        SELECT jsonb_agg(DISTINCT x.id) FROM taken t
        CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(t.args -> 'input' -> 'restates', '[]'::jsonb)) AS x(id)
      ), '[]'::jsonb)::text AS restates`

/** How many actions are quarantined. @internal */
export const countQuarantined = (sql: SqlClient.SqlClient) =>
  sql`SELECT count(*)::int AS n FROM reprise.quarantined_actions`

/** Deletes a quarantined action for good; returns its id when it was there. @internal */
export const discardQuarantined = (sql: SqlClient.SqlClient, id: string) =>
  sql`DELETE FROM reprise.quarantined_actions WHERE id = ${id}::uuid RETURNING id::text AS id`

/**
 * Moves a quarantined action back into the log as a pending record that is not applied yet
 * (the engine's planner then puts it at its HLC place: replayed after the actions before it,
 * with the later ones rolled back and replayed after it), restoring a correction's known
 * patches; returns its id and HLC when it was quarantined. @internal
 */
export const restoreQuarantined = (sql: SqlClient.SqlClient, id: string) =>
  sql`
    WITH taken AS (
      DELETE FROM reprise.quarantined_actions WHERE id = ${id}::uuid
      RETURNING id, tag, args, client_id, user_id, hlc, kind, known_patches
    ), known AS (
      INSERT INTO reprise.known_patches
        (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
      SELECT t.id, p.seq, p.table_schema, p.table_name, p.row_id, p.op, p.forward, p.reverse, p.audience_key
      FROM taken t CROSS JOIN LATERAL jsonb_to_recordset(t.known_patches)
        AS p(seq integer, table_schema text, table_name text, row_id text, op text, forward jsonb, reverse jsonb,
          audience_key text)
      ON CONFLICT (action_id, seq) DO NOTHING
    )
    INSERT INTO reprise.action_records (id, tag, args, client_id, user_id, hlc, kind, synced, applied, authoritative)
    SELECT id, tag, args, client_id, user_id, hlc, kind, false, false, true FROM taken
    RETURNING id::text AS id, hlc`
