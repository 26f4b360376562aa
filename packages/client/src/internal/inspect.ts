/**
 * The queries behind `Inspect`: the action log as an app's tests and devtools read it, never
 * written to.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Schema from "effect/Schema"

/** One row of `reprise.action_records` as the queries below select it. @internal */
export const RecordRow = Schema.Struct({
  id: Schema.String,
  tag: Schema.String,
  args: Schema.Unknown,
  client_id: Schema.String,
  user_id: Schema.NullOr(Schema.String),
  hlc: Schema.String,
  kind: Schema.Literal("action", "correction", "adoption"),
  server_seq: Schema.NullOr(Schema.NumberFromString),
  synced: Schema.Boolean,
  applied: Schema.Boolean
})

/** @internal */
export const RecordRows = Schema.Array(RecordRow)

const columns = `id::text AS id, tag, args, client_id, user_id, hlc, kind, server_seq::text AS server_seq, synced, applied`

/** This replica's actions not yet on the server, oldest first (the upload order). @internal */
export const pending = (sql: SqlClient.SqlClient, clientId: string) =>
  sql.unsafe(
    `SELECT ${columns} FROM reprise.action_records WHERE NOT synced AND client_id = $1 ORDER BY hlc, id`,
    [clientId]
  )

/** Actions the server holds, in server order, after `since`, at most `limit`. @internal */
export const synced = (sql: SqlClient.SqlClient, since: number, limit: number) =>
  sql.unsafe(
    `SELECT ${columns} FROM reprise.action_records WHERE synced AND server_seq > $1 ORDER BY action_records.server_seq LIMIT $2`,
    [since, limit]
  )

/** One action by id. @internal */
export const byId = (sql: SqlClient.SqlClient, id: string) =>
  sql.unsafe(`SELECT ${columns} FROM reprise.action_records WHERE id::text = $1`, [id])

/** How many actions wait for upload. @internal */
export const pendingCount = (sql: SqlClient.SqlClient, clientId: string) =>
  sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise.action_records WHERE NOT synced AND client_id = ${clientId}`

/** The watermark. @internal */
export const cursor = (sql: SqlClient.SqlClient) =>
  sql<{ seq: string }>`SELECT last_server_seq::text AS seq FROM reprise.client_state`

/** How many actions wait in the quarantine. @internal */
export const quarantinedCount = (sql: SqlClient.SqlClient) =>
  sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise.quarantined_actions`
