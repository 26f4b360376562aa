/**
 * The statements of the action log: client binding, sequencing lock, head, idempotency check, storing
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

/**
 * Binds the upload's client id to the caller when no user has it yet
 * (`reprise_server.bind_client`, under the caller's identity): `bound` true when the client is
 * the caller's, false when another user's. @internal
 */
export const bindClient = (sql: SqlClient.SqlClient, clientId: string, userId: string) =>
  sql`SELECT reprise_server.bind_client(${clientId}, ${userId}) AS bound`

/**
 * Whether `a` (an alias of `reprise_server.actions`) is visible to the caller: nothing is
 * filtered (`audiences` null), or the caller wrote it, or one of its patches is in one of the
 * caller's audiences or public (null audience key) (R-SRV-3), or it is a correction for one of
 * them (`args.input.audience`, null for public: a correction may set no row and only restate
 * actions hidden from that audience). @internal
 */
const visibleTo = (sql: SqlClient.SqlClient, userId: string, audiences: string | null) =>
  sql`(${audiences}::text[] IS NULL OR a.user_id = ${userId} OR EXISTS (
    SELECT 1 FROM reprise_server.patches p WHERE p.action_id = a.id
      AND (p.audience_key IS NULL OR p.audience_key = ANY (${audiences}::text[])))
    OR (a.kind = 'correction' AND a.args -> 'input' ? 'audience'
      AND (a.args -> 'input' ->> 'audience' IS NULL OR a.args -> 'input' ->> 'audience' = ANY (${audiences}::text[]))))`

/**
 * The head, and the highest sequence after `basis` of actions not authored by `clientId` that
 * the caller may see (0 when there is none): the head gate (R-SYNC-6) compares with what the
 * caller can fetch, or it would send a client after actions it will never receive. @internal
 */
export const heads = (
  sql: SqlClient.SqlClient,
  clientId: string,
  basis: number,
  userId: string,
  audiences: string | null
) =>
  sql`
    SELECT (SELECT head FROM reprise_server.state)::text AS head,
           coalesce((SELECT a.server_seq FROM reprise_server.actions a
                     WHERE a.server_seq > ${basis} AND a.client_id <> ${clientId}
                       AND ${visibleTo(sql, userId, audiences)}
                     ORDER BY a.server_seq DESC LIMIT 1), 0)::text AS visible`

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

/**
 * The (schema, table) pairs, of a JSON array of `{ s, t }`, that are not tracked tables of this
 * database (not tracked, or tracked but dropped since), each with whether a relation of that
 * name exists. @internal
 */
export const untrackedTables = (sql: SqlClient.SqlClient, pairs: string) =>
  sql`
    SELECT x.s AS schema, x.t AS "table", x.present FROM (
      SELECT t.s, t.t, to_regclass(format('%I.%I', t.s, t.t)) IS NOT NULL AS present,
        EXISTS (SELECT 1 FROM reprise.tracked_tables tt WHERE tt.table_schema = t.s AND tt.table_name = t.t) AS tracked
      FROM jsonb_to_recordset(${pairs}::jsonb) AS t(s text, t text)
    ) AS x
    WHERE NOT (x.tracked AND x.present)`

// Storing reads the payload as `json`, not `jsonb`: it is only taken apart, and parsing it to
// `jsonb` (a tree with sorted keys) costs more than the rest of the statement.
const requestColumnsJson = requestColumns.replace("patches jsonb", "patches json")
const patchColumnsJson =
  `seq int, schema text, "table" text, "rowId" text, op text, forward text, reverse text, "audienceKey" text`

/**
 * Stores the actions of `payload` (none of them stored yet) with sequences `after + 1`, ... in
 * `ord` order, the audiences of their author (a text[] literal, or null), their patches and,
 * for corrections, the actions they restate with who may see them (`restatements`, which the
 * log's policies read), in ONE statement. @internal
 */
export const storeActions = (
  sql: SqlClient.SqlClient,
  payload: string,
  after: string,
  authorAudiences: string | null
) =>
  sql`
    WITH req AS (
      SELECT r.*, row_number() OVER (ORDER BY r.ord) AS n
      FROM json_to_recordset(${payload}::json) AS r(${sql.literal(requestColumnsJson)})
    ),
    stored AS (
      INSERT INTO reprise_server.actions (id, server_seq, tag, args, client_id, user_id, hlc, kind, author_audiences)
      SELECT id, ${after}::bigint + n, tag, args::jsonb, client_id, user_id, hlc, kind, ${authorAudiences}::text[]
      FROM req
      RETURNING id, server_seq
    ),
    patched AS (
      INSERT INTO reprise_server.patches
        (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
      SELECT r.id, e.seq, e.schema, e."table", e."rowId", e.op, e.forward::jsonb, e.reverse::jsonb, e."audienceKey"
      FROM req r CROSS JOIN LATERAL json_to_recordset(r.patches) AS e(${sql.literal(patchColumnsJson)})
      RETURNING 1
    ),
    restated AS (
      INSERT INTO reprise_server.restatements (correction_id, restated_id, user_id, audiences, public)
      SELECT DISTINCT ON (r.id, x.id::uuid) r.id, x.id::uuid, r.user_id,
        coalesce(ARRAY(SELECT DISTINCT k FROM (
          SELECT e ->> 'audienceKey' AS k FROM json_array_elements(r.patches) AS e
          UNION SELECT r.args::jsonb -> 'input' ->> 'audience') AS keys WHERE k IS NOT NULL), '{}'),
        EXISTS (SELECT 1 FROM json_array_elements(r.patches) AS e WHERE e ->> 'audienceKey' IS NULL)
          OR (r.args::jsonb -> 'input' ? 'audience' AND r.args::jsonb -> 'input' ->> 'audience' IS NULL)
      FROM req r
      CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(r.args::jsonb -> 'input' -> 'restates') = 'array' THEN r.args::jsonb -> 'input' -> 'restates'
             ELSE '[]'::jsonb END) AS x(id)
      WHERE r.kind = 'correction' AND x.id ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
      RETURNING 1
    )
    SELECT s.id::text AS id, s.server_seq::text AS server_seq, (SELECT count(*) FROM patched)::int AS patches
    FROM stored s`

/** The channel a commit that moves the head notifies, with the new head as payload (R-SRV-5). @internal */
export const headChannel = "reprise_server_head"

/**
 * Notifies `headChannel` of the new head; Postgres delivers it to every listener when (and
 * only if) the transaction commits. @internal
 */
export const notifyHead = (sql: SqlClient.SqlClient, headValue: string) =>
  sql`SELECT pg_notify(${headChannel}, ${headValue})`

/** Moves the head. @internal */
export const setHead = (sql: SqlClient.SqlClient, headValue: string) =>
  sql`UPDATE reprise_server.state SET head = ${headValue}::bigint`

/** Materializes the given stored actions (see `materialize.ts`); returns the rows written. @internal */
export const materialize = (sql: SqlClient.SqlClient, idsLiteral: string) =>
  sql`SELECT reprise_server.materialize(${idsLiteral}::uuid[]) AS written`

/**
 * Up to `limit` actions the caller may see after `since` and up to `head`, in server order,
 * each as the JSON text of a `RemoteAction` carrying only the patches in the caller's
 * audiences (patch row images as JSON strings, exactly as stored) and whether the caller sees
 * everything its author saw (`fullView`); `extra` false. Then, `extra` true, the actions the
 * corrections among them restate (`args.input.restates`), whatever their sequence: a replica
 * that receives a correction of a row it sees also receives what changed the row, even when
 * none of that action's own patches is visible to it (R-SYNC-3). `audiences` is a text[]
 * literal, or null for no filtering. @internal
 */
export const fetchPage = (
  sql: SqlClient.SqlClient,
  options: {
    readonly since: number
    readonly head: number
    readonly limit: number
    readonly userId: string
    readonly audiences: string | null
  }
) => {
  const encoded = (alias: string) =>
    sql`jsonb_build_object(
      'id', ${sql.literal(alias)}.id, 'tag', ${sql.literal(alias)}.tag, 'args', ${sql.literal(alias)}.args,
      'clientId', ${sql.literal(alias)}.client_id, 'userId', ${sql.literal(alias)}.user_id,
      'hlc', ${sql.literal(alias)}.hlc, 'kind', ${sql.literal(alias)}.kind, 'serverSeq', ${sql.literal(alias)}.server_seq,
      'fullView', (${options.audiences}::text[] IS NULL OR ${sql.literal(alias)}.user_id = ${options.userId}
        OR coalesce(${sql.literal(alias)}.author_audiences <@ ${options.audiences}::text[], false)),
      'patches', coalesce((
        SELECT jsonb_agg(jsonb_build_object('seq', p.seq, 'schema', p.table_schema, 'table', p.table_name,
          'rowId', p.row_id, 'op', p.op, 'forward', p.forward::text, 'reverse', p.reverse::text,
          'audienceKey', p.audience_key) ORDER BY p.seq)
        FROM reprise_server.patches p WHERE p.action_id = ${sql.literal(alias)}.id
          AND (${options.audiences}::text[] IS NULL OR p.audience_key IS NULL
            OR p.audience_key = ANY (${options.audiences}::text[]))), '[]'::jsonb)
    )::text`
  return sql`
    WITH page AS MATERIALIZED (
      SELECT a.* FROM reprise_server.actions a
      WHERE a.server_seq > ${options.since} AND a.server_seq <= ${options.head}
        AND ${visibleTo(sql, options.userId, options.audiences)}
      ORDER BY a.server_seq
      LIMIT ${options.limit}
    ), restated AS (
      SELECT DISTINCT r.* FROM page c
      CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(c.args -> 'input' -> 'restates') = 'array' THEN c.args -> 'input' -> 'restates'
             ELSE '[]'::jsonb END) AS x(id)
      JOIN reprise_server.actions r
        ON r.id = CASE WHEN x.id ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN x.id::uuid END
      -- Unfiltered, every action is visible anyway.
      WHERE ${options.audiences}::text[] IS NOT NULL
        AND c.kind = 'correction' AND NOT EXISTS (SELECT 1 FROM page p WHERE p.id = r.id)
    )
    SELECT action, extra FROM (
      SELECT ${encoded("a")} AS action, false AS extra, a.server_seq AS seq FROM page a
      UNION ALL
      SELECT ${encoded("a")}, true, a.server_seq FROM restated a
    ) AS x
    ORDER BY extra, seq`
}
