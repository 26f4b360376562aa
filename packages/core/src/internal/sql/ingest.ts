/**
 * Statements that take a fetched page in: the watermark, and one statement that ingests the
 * page's records and known patches, stores the audiences the server says this replica may see,
 * advances the watermark and returns the entries the planner needs (received-but-unapplied
 * actions, and the applied ones around the earliest of them).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/** The server sequence this replica has fetched and applied everything up to. @internal */
export const watermark = (sql: SqlClient.SqlClient) =>
  sql<{ seq: string }>`SELECT last_server_seq::text AS seq FROM reprise.client_state`

/**
 * Takes a fetched page in, in one statement (one exchange, parsed once): $1 is the JSON array
 * of its actions as `RemoteAction`s encode them, each with `authoritative` (whether this
 * replica's replay of it stands) added (`[]` for an empty page), $2 the page's `next` (null:
 * none), $3 the audiences the server says this replica may see when they are to be stored (a
 * JSON array of keys, or JSON `null` when the server filters nothing; SQL null: leave them).
 *
 * - Stores each record as received-but-unapplied (or, when already held, marks it synced with
 *   its server sequence) and its known patches, so ingesting a page twice changes nothing
 *   (R-SYNC-5); a received action this replica holds in quarantine leaves it (R-REC-3).
 * - Stores the audiences $3 (before the apply: the check after replay adopts rows outside them).
 * - Advances the watermark to $2 (never backwards). Inside the page's transaction this is the
 *   same as advancing it last: nothing the apply runs reads it, and a failure rolls it back
 *   with the rest (R-SYNC-2), so the watermark never runs ahead of what is applied.
 * - Returns what the planner needs (`incoming`, `id`, `hlc`): every received-but-unapplied
 *   record (`incoming` true, in no particular order), and the applied ones around the earliest
 *   of them (`incoming` false): the one just before it and every one after it (two indexed
 *   range scans, never the whole log). A statement's CTEs all see the snapshot taken before it,
 *   so the unapplied records are those of the snapshot together with those the page inserted
 *   (`RETURNING`); the page changes no record's `applied`, so the snapshot's applied ones are
 *   current.
 *
 * The page is parsed once, as json (it is only split into fields, never queried as jsonb), and
 * only the args and row images are converted to jsonb.
 */
const takeInStatement = `
WITH page AS MATERIALIZED (
  -- An action twice in one page (a correction's restated action, say) is ingested once.
  SELECT DISTINCT ON (x.id) * FROM json_to_recordset($1::json) AS x(id uuid, tag text, args jsonb, "clientId" text, "userId" text,
    hlc text, kind text, "serverSeq" bigint, authoritative boolean, patches json)
), released AS (
  -- The server's log holds an action this replica quarantined (the rejection was not final:
  -- the server stored it after all, from another upload of it): it is the log's again,
  -- replayed from here like any received action, and no longer in quarantine.
  DELETE FROM reprise.quarantined_actions q USING page x WHERE q.id = x.id
), records AS (
  INSERT INTO reprise.action_records (id, tag, args, client_id, user_id, hlc, kind, server_seq, synced, applied, authoritative)
  SELECT x.id, x.tag, x.args, x."clientId", x."userId", x.hlc, x.kind, x."serverSeq", true, false, x.authoritative
  FROM page x
  ON CONFLICT (id) DO UPDATE SET server_seq = excluded.server_seq, synced = true
  RETURNING id, hlc, applied, tag, args, authoritative, user_id, kind, synced
), patches AS (
  INSERT INTO reprise.known_patches (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
  SELECT a.id, p.seq, p.schema, p."table", p."rowId", p.op, p.forward::jsonb, p.reverse::jsonb, p."audienceKey"
  FROM page a CROSS JOIN LATERAL json_to_recordset(a.patches)
    AS p(seq int, schema text, "table" text, "rowId" text, op text, forward text, reverse text, "audienceKey" text)
  ON CONFLICT (action_id, seq) DO NOTHING
), state AS (
  -- One UPDATE: a statement must not modify a row twice.
  UPDATE reprise.client_state
  SET last_server_seq = greatest(last_server_seq, coalesce($2::bigint, last_server_seq)),
    audiences = CASE WHEN $3::jsonb IS NULL THEN audiences WHEN $3::jsonb = 'null'::jsonb THEN NULL
      ELSE ARRAY(SELECT jsonb_array_elements_text($3::jsonb)) END
  WHERE last_server_seq < $2::bigint OR $3::jsonb IS NOT NULL
), incoming AS MATERIALIZED (
  SELECT id, hlc, tag, args, authoritative, user_id, kind, synced FROM records WHERE NOT applied
  UNION ALL
  SELECT r.id, r.hlc, r.tag, r.args, r.authoritative, r.user_id, r.kind, r.synced FROM reprise.action_records r
  WHERE NOT r.applied AND NOT EXISTS (SELECT 1 FROM records x WHERE x.id = r.id)
), earliest AS MATERIALIZED (
  SELECT id, hlc COLLATE "C" AS hlc FROM incoming ORDER BY hlc COLLATE "C", id LIMIT 1
)
SELECT true AS incoming, id::text AS id, hlc, tag, args, authoritative, user_id AS "userId", kind, synced FROM incoming
UNION ALL
(SELECT false, r.id::text, r.hlc, NULL, NULL, NULL, NULL, NULL, NULL FROM reprise.action_records r, earliest e
 WHERE r.applied AND (r.hlc, r.id) < (e.hlc, e.id)
 ORDER BY r.hlc DESC, r.id DESC LIMIT 1)
UNION ALL
(SELECT false, r.id::text, r.hlc, NULL, NULL, NULL, NULL, NULL, NULL FROM reprise.action_records r, earliest e
 WHERE r.applied AND (r.hlc, r.id) > (e.hlc, e.id)
 ORDER BY r.hlc, r.id)`

/**
 * Ingests a page (`entries`: the JSON array described at `takeInStatement`, `[]` for none),
 * stores `audiences` (JSON; undefined: leaves them), advances the watermark to `next` (null:
 * leaves it) and returns the planner's entries (see `takeInStatement`).
 *
 * @internal
 */
export const takeIn = (sql: SqlClient.SqlClient, entries: string, next: number | null, audiences?: string) =>
  sql.unsafe<{ incoming: boolean; id: string; hlc: string }>(takeInStatement, [entries, next, audiences ?? null])

/**
 * The planner's entries (see `takeInStatement`) when there is no page to take in (a replay of
 * the whole log, a quarantine): the statement with an empty page and no watermark to advance.
 *
 * @internal
 */
export const receivedEntries = (sql: SqlClient.SqlClient) => takeIn(sql, "[]", null)

/** Whether the server filters this replica's log (it said which audiences the replica sees). @internal */
export const filtering = (sql: SqlClient.SqlClient) =>
  sql<{ filtered: boolean }>`SELECT audiences IS NOT NULL AS filtered FROM reprise.client_state`
