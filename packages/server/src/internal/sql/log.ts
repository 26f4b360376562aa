/**
 * The statements of the action log: storing an upload (`reprise_server.store_upload`, see
 * `upload.ts`: sequencing lock, idempotency check, head gate, storing, head, NOTIFY,
 * materialization, in one call) and the head. The upload takes the request as ONE JSON
 * parameter (patch row images inside it as JSON strings, cast with `::jsonb` by Postgres), so a
 * batch costs one round trip and the captured JSON is stored as sent.
 *
 * A fetch page, and which actions a caller may see in it (the condition `store_upload`'s head
 * gate states too), is read by `reprise_server.read_page` (`read.ts`), under the caller's
 * identity in one statement.
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

/** The head alone. @internal */
export const head = (sql: SqlClient.SqlClient) => sql`SELECT head::text AS head FROM reprise_server.state`

/** The channel a commit that moves the head notifies, with the new head as payload (R-SRV-5). @internal */
export const headChannel = "reprise_server_head"
