/**
 * Statements of an upload: the batch of pending actions with the patches the server gets, and
 * acknowledging what the server accepted.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/**
 * This client's pending actions, oldest first, at most `limit`, each with the patches the server
 * gets: an action's captured patches, a correction's known (server-side) patches. @internal
 */
export const pendingActions = (sql: SqlClient.SqlClient, clientId: string, limit: number) =>
  sql`
    SELECT r.id::text AS id, r.tag, r.args, r.client_id, r.user_id, r.hlc, r.kind,
      coalesce((SELECT jsonb_agg(jsonb_build_object(
        'seq', p.seq, 'schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id, 'op', p.op,
        'forward', p.forward::text, 'reverse', p.reverse::text, 'audienceKey', p.audience_key) ORDER BY p.seq)
        FROM (
          SELECT a.seq, a.table_schema, a.table_name, a.row_id, a.op, a.forward, a.reverse, a.audience_key
          FROM reprise.action_patches a WHERE a.action_id = r.id AND r.kind = 'action'
          UNION ALL
          SELECT k.seq, k.table_schema, k.table_name, k.row_id, k.op, k.forward, k.reverse, k.audience_key
          FROM reprise.known_patches k WHERE k.action_id = r.id AND r.kind = 'correction'
        ) AS p), '[]'::jsonb) AS patches
    FROM reprise.action_records r
    WHERE NOT r.synced AND r.client_id = ${clientId}
    ORDER BY r.hlc, r.id
    LIMIT ${limit}`

/**
 * Marks the accepted actions (`accepted`: the JSON array of the response's `{ id, serverSeq }`)
 * synced with their sequences, and records what the server now holds for them: the patches just
 * uploaded become their known patches. @internal
 */
export const acknowledge = (sql: SqlClient.SqlClient, accepted: string) =>
  sql`
    WITH marked AS (
      UPDATE reprise.action_records r SET synced = true, server_seq = x."serverSeq"
      FROM jsonb_to_recordset(${accepted}::jsonb) AS x(id uuid, "serverSeq" bigint)
      WHERE r.id = x.id
    )
    INSERT INTO reprise.known_patches (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
    SELECT p.action_id, p.seq, p.table_schema, p.table_name, p.row_id, p.op, p.forward, p.reverse, p.audience_key
    FROM reprise.action_patches p
    JOIN jsonb_to_recordset(${accepted}::jsonb) AS x(id uuid, "serverSeq" bigint) ON x.id = p.action_id
    ON CONFLICT (action_id, seq) DO NOTHING`

/**
 * Moves the watermark from `basis` to `highest`: nothing else can sit between an upload's basis
 * and its sequences (the upload was head-gated), so when the server's head is the upload's, the
 * replica need not re-fetch its own actions. @internal
 */
export const skipOwnUpload = (sql: SqlClient.SqlClient, basis: number, highest: number) =>
  sql`UPDATE reprise.client_state SET last_server_seq = ${highest} WHERE last_server_seq = ${basis}`
