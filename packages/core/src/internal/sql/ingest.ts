/**
 * Statements that take a fetched page in: the watermark, the audiences the server says this
 * replica may see, ingesting the page's records and known patches, and the entries the planner
 * needs (received-but-unapplied actions, and the applied ones around the earliest of them).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/** The server sequence this replica has fetched and applied everything up to. @internal */
export const watermark = (sql: SqlClient.SqlClient) =>
  sql<{ seq: string }>`SELECT last_server_seq::text AS seq FROM reprise.client_state`

/** Advances the watermark to `next` (never backwards). @internal */
export const advanceWatermark = (sql: SqlClient.SqlClient, next: number) =>
  sql`UPDATE reprise.client_state SET last_server_seq = ${next} WHERE last_server_seq < ${next}`

/**
 * Stores the audiences the server says this replica may see (`audiences`: a JSON array of
 * keys, or `null` when the server filters nothing). @internal
 */
export const storeAudiences = (sql: SqlClient.SqlClient, audiences: string) =>
  sql`
    UPDATE reprise.client_state SET audiences = CASE WHEN ${audiences}::jsonb = 'null'::jsonb THEN NULL
      ELSE ARRAY(SELECT jsonb_array_elements_text(${audiences}::jsonb)) END`

/**
 * Ingests a fetched page, $1: the JSON array of its actions as `RemoteAction`s encode them, each
 * with `authoritative` (whether this replica's replay of it stands) added.
 * Stores each record as received-but-unapplied (or, when already held, marks it synced with its
 * server sequence) and its known patches, so ingesting a page twice changes nothing (R-SYNC-5);
 * a received action this replica holds in quarantine leaves it (R-REC-3).
 * One statement: the page is parsed once, as json (it is only split into fields, never queried
 * as jsonb), and only the args and row images are converted to jsonb.
 */
const ingestStatement = `
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
)
INSERT INTO reprise.known_patches (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
SELECT a.id, p.seq, p.schema, p."table", p."rowId", p.op, p.forward::jsonb, p.reverse::jsonb, p."audienceKey"
FROM page a CROSS JOIN LATERAL json_to_recordset(a.patches)
  AS p(seq int, schema text, "table" text, "rowId" text, op text, forward text, reverse text, "audienceKey" text)
ON CONFLICT (action_id, seq) DO NOTHING`

/** Ingests a page (`entries`: the JSON array described at `ingestStatement`). @internal */
export const ingest = (sql: SqlClient.SqlClient, entries: string) => sql.unsafe(ingestStatement, [entries])

/** The received-but-unapplied actions, in global order. @internal */
export const unappliedEntries = (sql: SqlClient.SqlClient) =>
  sql`SELECT id::text AS id, hlc FROM reprise.action_records WHERE NOT applied ORDER BY hlc, id`

/**
 * The applied actions the planner needs for an incoming action `earliest`: the one just before
 * it and every one after it (two indexed range scans, never the whole log). @internal
 */
export const appliedAround = (sql: SqlClient.SqlClient, earliest: { readonly hlc: string; readonly id: string }) =>
  sql`
    (SELECT id::text AS id, hlc FROM reprise.action_records
     WHERE applied AND (hlc, id) < (${earliest.hlc}::text COLLATE "C", ${earliest.id}::uuid)
     ORDER BY hlc DESC, id DESC LIMIT 1)
    UNION ALL
    (SELECT id::text AS id, hlc FROM reprise.action_records
     WHERE applied AND (hlc, id) > (${earliest.hlc}::text COLLATE "C", ${earliest.id}::uuid)
     ORDER BY hlc, id)`

/** Whether the server filters this replica's log (it said which audiences the replica sees). @internal */
export const filtering = (sql: SqlClient.SqlClient) =>
  sql<{ filtered: boolean }>`SELECT audiences IS NOT NULL AS filtered FROM reprise.client_state`
