/**
 * The statements of the action log: storing an upload (`reprise_server.store_upload`, see
 * `upload.ts`: sequencing lock, idempotency check, head gate, storing, head, NOTIFY,
 * materialization, in one call), the head and the fetch page. The upload takes the request as
 * ONE JSON parameter (patch row images inside it as JSON strings, cast with `::jsonb` by
 * Postgres), so a batch costs one round trip and the captured JSON is stored as sent.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/**
 * The advisory lock key (hashed with `hashtext`) that serializes sequence assignment; taken,
 * transaction-scoped, by `reprise_server.store_upload`. @internal
 */
export const sequenceLockKey = "reprise_server.sequence"

/** The arguments of `storeUpload`, as `reprise_server.store_upload` takes them. @internal */
export interface StoreUpload {
  /** The request's actions as a JSON array (see store.ts). */
  readonly payload: string
  /** Their ids, a uuid[] literal in request order. */
  readonly ids: string
  readonly clientId: string
  readonly basis: number
  readonly userId: string
  /** The caller's audiences, a text[] literal; null: nothing is filtered. */
  readonly audiences: string | null
  /** The (schema, table) pairs the patches write, a JSON array of `{ s, t }`. */
  readonly pairs: string
  /** The actions with a patch labeled with an audience the caller is not in, a uuid[] literal. */
  readonly forged: string
}

/** Stores an upload (`reprise_server.store_upload`); one row, `outcome`: its JSON result. @internal */
export const storeUpload = (sql: SqlClient.SqlClient, upload: StoreUpload) =>
  sql`SELECT reprise_server.store_upload(${upload.payload}, ${upload.ids}::uuid[], ${upload.clientId},
    ${upload.basis}::bigint, ${upload.userId}, ${upload.audiences}::text[], ${upload.pairs}::jsonb,
    ${upload.forged}::uuid[])::text AS outcome`

/**
 * Whether `a` (an alias of `reprise_server.actions`) is visible to the caller: nothing is
 * filtered (`audiences` null), or the caller wrote it, or one of its patches is in one of the
 * caller's audiences or public (null audience key) (R-SRV-3), or it is a correction for one of
 * them (`args.input.audience`, null for public: a correction may set no row and only restate
 * actions hidden from that audience). `reprise_server.store_upload`'s head gate (`upload.ts`)
 * states the same condition in PL/pgSQL: change both together. @internal
 */
const visibleTo = (sql: SqlClient.SqlClient, userId: string, audiences: string | null) =>
  sql`(${audiences}::text[] IS NULL OR a.user_id = ${userId} OR EXISTS (
    SELECT 1 FROM reprise_server.patches p WHERE p.action_id = a.id
      AND (p.audience_key IS NULL OR p.audience_key = ANY (${audiences}::text[])))
    OR (a.kind = 'correction' AND a.args -> 'input' ? 'audience'
      AND (a.args -> 'input' ->> 'audience' IS NULL OR a.args -> 'input' ->> 'audience' = ANY (${audiences}::text[]))))`

/** The head alone. @internal */
export const head = (sql: SqlClient.SqlClient) => sql`SELECT head::text AS head FROM reprise_server.state`

/** The channel a commit that moves the head notifies, with the new head as payload (R-SRV-5). @internal */
export const headChannel = "reprise_server_head"

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
