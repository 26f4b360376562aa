/**
 * The statements of the action log: sequencing lock, head, idempotency check, storing
 * actions with their patches, materialization and the fetch page. Each takes the request as
 * ONE JSON parameter (patch row images inside it as JSON strings, cast with `::jsonb` by
 * Postgres), so a batch costs one round trip and the captured JSON is stored as sent.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/** The advisory lock key (hashed with `hashtext`) that serializes sequence assignment. @internal */
export const sequenceLockKey = "reprise_server.sequence"

/** Waits for the transaction-scoped sequencing lock (released at COMMIT/ROLLBACK). @internal */
export const lockSequence = (sql: SqlClient.SqlClient) =>
  sql`SELECT pg_advisory_xact_lock(hashtext(${sequenceLockKey}))`

/** The head, and the highest sequence of actions not authored by `clientId`. @internal */
export const heads = (sql: SqlClient.SqlClient, clientId: string) =>
  sql`
    SELECT (SELECT head FROM reprise_server.state)::text AS head,
           coalesce((SELECT server_seq FROM reprise_server.actions WHERE client_id <> ${clientId}
                     ORDER BY server_seq DESC LIMIT 1), 0)::text AS visible`

/** The head alone. @internal */
export const head = (sql: SqlClient.SqlClient) => sql`SELECT head::text AS head FROM reprise_server.state`

/** Which of the ids (a Postgres array literal) are already stored. @internal */
export const storedIds = (sql: SqlClient.SqlClient, idsLiteral: string) =>
  sql`SELECT id::text AS id FROM reprise_server.actions WHERE id = ANY (${idsLiteral}::uuid[])`

const requestColumns = `ord int, id uuid, tag text, args text, client_id text, user_id text, hlc text, kind text, patches jsonb`

/**
 * For each uploaded action already stored: its sequence and whether the stored record and
 * patches equal the uploaded ones (jsonb equality, so formatting does not matter). @internal
 */
export const compareStored = (sql: SqlClient.SqlClient, payload: string) =>
  sql`
    WITH req AS (SELECT * FROM jsonb_to_recordset(${payload}::jsonb) AS r(${sql.literal(requestColumns)}))
    SELECT r.id::text AS id, a.server_seq::text AS server_seq,
      (a.tag = r.tag AND a.args = r.args::jsonb AND a.client_id = r.client_id
        AND a.user_id IS NOT DISTINCT FROM r.user_id AND a.hlc = r.hlc AND a.kind = r.kind
        AND coalesce((
          SELECT jsonb_agg(jsonb_build_object('seq', p.seq, 'schema', p.table_schema, 'table', p.table_name,
            'rowId', p.row_id, 'op', p.op, 'forward', p.forward, 'reverse', p.reverse, 'audienceKey', p.audience_key)
            ORDER BY p.seq)
          FROM reprise_server.patches p WHERE p.action_id = a.id), '[]'::jsonb)
        = coalesce((
          SELECT jsonb_agg(jsonb_build_object('seq', (e->>'seq')::int, 'schema', e->>'schema', 'table', e->>'table',
            'rowId', e->>'rowId', 'op', e->>'op', 'forward', (e->>'forward')::jsonb, 'reverse', (e->>'reverse')::jsonb,
            'audienceKey', e->>'audienceKey')
            ORDER BY (e->>'seq')::int)
          FROM jsonb_array_elements(r.patches) AS e), '[]'::jsonb)
      ) AS same
    FROM req r JOIN reprise_server.actions a ON a.id = r.id`

/** The (schema, table) pairs, of a JSON array of `{ s, t }`, that are not tracked. @internal */
export const untrackedTables = (sql: SqlClient.SqlClient, pairs: string) =>
  sql`
    SELECT t.s AS schema, t.t AS "table" FROM jsonb_to_recordset(${pairs}::jsonb) AS t(s text, t text)
    WHERE NOT EXISTS (
      SELECT 1 FROM reprise.tracked_tables tt WHERE tt.table_schema = t.s AND tt.table_name = t.t)`

// Storing reads the payload as `json`, not `jsonb`: it is only taken apart, and parsing it to
// `jsonb` (a tree with sorted keys) costs more than the rest of the statement.
const requestColumnsJson = requestColumns.replace("patches jsonb", "patches json")
const patchColumnsJson =
  `seq int, schema text, "table" text, "rowId" text, op text, forward text, reverse text, "audienceKey" text`

/**
 * Stores the actions of `payload` (none of them stored yet) with sequences `after + 1`, ... in
 * `ord` order, and their patches, in ONE statement. @internal
 */
export const storeActions = (sql: SqlClient.SqlClient, payload: string, after: string) =>
  sql`
    WITH req AS (
      SELECT r.*, row_number() OVER (ORDER BY r.ord) AS n
      FROM json_to_recordset(${payload}::json) AS r(${sql.literal(requestColumnsJson)})
    ),
    stored AS (
      INSERT INTO reprise_server.actions (id, server_seq, tag, args, client_id, user_id, hlc, kind)
      SELECT id, ${after}::bigint + n, tag, args::jsonb, client_id, user_id, hlc, kind FROM req
      RETURNING id, server_seq
    ),
    patched AS (
      INSERT INTO reprise_server.patches
        (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
      SELECT r.id, e.seq, e.schema, e."table", e."rowId", e.op, e.forward::jsonb, e.reverse::jsonb, e."audienceKey"
      FROM req r CROSS JOIN LATERAL json_to_recordset(r.patches) AS e(${sql.literal(patchColumnsJson)})
      RETURNING 1
    )
    SELECT s.id::text AS id, s.server_seq::text AS server_seq, (SELECT count(*) FROM patched)::int AS patches
    FROM stored s`

/** Moves the head. @internal */
export const setHead = (sql: SqlClient.SqlClient, headValue: string) =>
  sql`UPDATE reprise_server.state SET head = ${headValue}::bigint`

/** Materializes the given stored actions (see `materialize.ts`); returns the rows written. @internal */
export const materialize = (sql: SqlClient.SqlClient, idsLiteral: string) =>
  sql`SELECT reprise_server.materialize(${idsLiteral}::uuid[]) AS written`

/** Sets the caller's identity for RLS, transaction-locally. @internal */
export const setUser = (sql: SqlClient.SqlClient, userId: string) =>
  sql`SELECT set_config('reprise.user_id', ${userId}, true)`

/**
 * Up to `limit` actions after `since`, in server order, each as the JSON text of a
 * `RemoteAction` (patch row images as JSON strings, exactly as stored). @internal
 */
export const fetchPage = (sql: SqlClient.SqlClient, since: number, limit: number) =>
  sql`
    SELECT jsonb_build_object(
      'id', a.id, 'tag', a.tag, 'args', a.args, 'clientId', a.client_id, 'userId', a.user_id,
      'hlc', a.hlc, 'kind', a.kind, 'serverSeq', a.server_seq,
      'patches', coalesce((
        SELECT jsonb_agg(jsonb_build_object('seq', p.seq, 'schema', p.table_schema, 'table', p.table_name,
          'rowId', p.row_id, 'op', p.op, 'forward', p.forward::text, 'reverse', p.reverse::text,
          'audienceKey', p.audience_key) ORDER BY p.seq)
        FROM reprise_server.patches p WHERE p.action_id = a.id), '[]'::jsonb)
    )::text AS action
    FROM reprise_server.actions a
    WHERE a.server_seq > ${since}
    ORDER BY a.server_seq
    LIMIT ${limit}`

/** A Postgres array literal of texts, for `::uuid[]` casts identical on both drivers. @internal */
export const textArray = (values: ReadonlyArray<string>): string =>
  `{${values.map((v) => `"${v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"")}"`).join(",")}}`
