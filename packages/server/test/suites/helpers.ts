/**
 * Helpers for the server suites: a server with a fresh canonical table, hand-built wire
 * actions with chosen HLCs, and snapshots of what the database holds.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Hlc, SyncProtocol, type SyncServer, Tracking } from "@reprise/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { SyncCodec, SyncService } from "../../src/index.js"

let counter = 0
/** A name unique within the test run. */
export const uniqueName = (base: string): string => `${base}_${process.pid}_${++counter}`

/** The typed failure of an exit (fails the test on success or on a defect). */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got a success: ${JSON.stringify(exit.value)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** A row image: an object of column values (serialized here) or JSON text taken as is. */
export type Image = Readonly<Record<string, unknown>> | string

/** One patch of a hand-built action. */
export interface PatchSpec {
  readonly op: "INSERT" | "UPDATE" | "DELETE"
  readonly table: string
  readonly rowId: string
  readonly forward: Image | null
  readonly reverse: Image | null
  readonly schema?: string
}

const text = (image: Image | null): string | null =>
  image === null ? null : typeof image === "string" ? image : JSON.stringify(image)

/** An INSERT patch of `row` (which must carry its `id`). */
export const insert = (table: string, row: Readonly<Record<string, unknown>> & { readonly id: string }): PatchSpec => ({
  op: "INSERT", table, rowId: row.id, forward: row, reverse: null
})

/** An UPDATE patch setting `to` where the columns held `from`. */
export const update = (table: string, rowId: string, to: Image, from: Image): PatchSpec => ({
  op: "UPDATE", table, rowId, forward: to, reverse: from
})

/** A DELETE patch of `row` (the full old row). */
export const remove = (table: string, row: Readonly<Record<string, unknown>> & { readonly id: string }): PatchSpec => ({
  op: "DELETE", table, rowId: row.id, forward: null, reverse: row
})

/** A hand-built action as a client would send it (the encoded wire form). */
export const wire = (options: {
  readonly clientId: string
  readonly userId: string | null
  readonly wallMs: number
  readonly counter?: number
  readonly patches: ReadonlyArray<PatchSpec>
  readonly id?: string
  readonly tag?: string
  readonly input?: unknown
}): typeof SyncProtocol.ActionWire.Encoded => ({
  id: options.id ?? crypto.randomUUID(),
  tag: options.tag ?? "test.step.v1",
  args: { input: options.input ?? {}, timestamp: options.wallMs },
  clientId: options.clientId,
  userId: options.userId,
  hlc: Hlc.encode(new Hlc.Hlc({ wallMs: options.wallMs, counter: options.counter ?? 0, nodeId: Hlc.NodeId.make(options.clientId) })),
  kind: "action",
  patches: options.patches.map((p, i) => ({
    seq: i + 1,
    schema: p.schema ?? "public",
    table: p.table,
    rowId: p.rowId,
    op: p.op,
    forward: text(p.forward),
    reverse: text(p.reverse),
    audienceKey: null
  }))
})

/** An upload request body, as a client sends it (the encoded wire form, not checked). */
export const body = (
  clientId: string,
  basis: number,
  actions: ReadonlyArray<typeof SyncProtocol.ActionWire.Encoded>
): typeof SyncProtocol.UploadRequest.Encoded => ({ clientId, basis, actions })

const decodeRequest = Schema.decodeUnknownSync(SyncProtocol.UploadRequest)

/** An upload request as a transport hands it to the server: decoded (throws when it does not decode). */
export const request = (
  clientId: string,
  basis: number,
  actions: ReadonlyArray<typeof SyncProtocol.ActionWire.Encoded>
): SyncProtocol.UploadRequest => decodeRequest(body(clientId, basis, actions))

/** What a transport does with an upload body: decode it (`SyncCodec`), then call the server. */
export const uploadBody = (server: SyncServer.SyncServerShape, callerUserId: string, raw: unknown) =>
  Effect.flatMap(SyncCodec.decodeUploadRequest(raw), (decoded) => server.upload(callerUserId, decoded))

/**
 * A server on the database in context (the service and its fetch fast path, as
 * `SyncService.layer` provides them), with a fresh tracked canonical table
 * `(id, title, body, n bigint, audience_key)` whose writes are logged with the
 * `reprise.user_id` they ran under (`materialize_log`).
 */
export const setupServer = (options: SyncService.Options = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const built = yield* Effect.scoped(Layer.build(SyncService.layer(options)))
    const sync = Context.get(built, SyncService.SyncService)
    const encodedFetch = Context.get(built, SyncCodec.EncodedFetch)
    const table = uniqueName("notes")
    yield* sql`CREATE TABLE IF NOT EXISTS materialize_log (
      n bigserial PRIMARY KEY, table_name text, row_id text, op text, user_id text)`
    yield* sql.unsafe(`CREATE OR REPLACE FUNCTION log_materialize() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          INSERT INTO materialize_log (table_name, row_id, op, user_id)
          VALUES (TG_TABLE_NAME, OLD.id, TG_OP, current_setting('reprise.user_id', true));
        ELSE
          INSERT INTO materialize_log (table_name, row_id, op, user_id)
          VALUES (TG_TABLE_NAME, NEW.id, TG_OP, current_setting('reprise.user_id', true));
        END IF;
        RETURN NULL;
      END $fn$`)
    yield* sql`CREATE TABLE ${sql(table)} (id text PRIMARY KEY, title text, body text, n bigint, audience_key text)`
    yield* sql`CREATE TRIGGER log_materialize AFTER INSERT OR UPDATE OR DELETE ON ${sql(table)}
      FOR EACH ROW EXECUTE FUNCTION log_materialize()`
    yield* Tracking.install([table])
    return { sql, sync, encodedFetch, table }
  })

/** The rows of `table` as Postgres renders them, by id. */
export const rowsOf = (sql: SqlClient.SqlClient, table: string) =>
  Effect.map(
    sql<{ r: string }>`SELECT t::text AS r FROM ${sql(table)} AS t ORDER BY id`,
    (rows) => rows.map((row) => row.r)
  )

/** Selected columns of `table`, by id. */
export const titles = (sql: SqlClient.SqlClient, table: string) =>
  sql<{ id: string; title: string | null; body: string | null }>`SELECT id, title, body FROM ${sql(table)} ORDER BY id`

/** Everything the server has stored: log sizes, head, and the canonical rows of `table`. */
export const stored = (sql: SqlClient.SqlClient, table: string) =>
  Effect.gen(function*() {
    const [counts] = yield* sql<{ actions: number; patches: number; head: string }>`
      SELECT (SELECT count(*) FROM reprise_server.actions)::int AS actions,
             (SELECT count(*) FROM reprise_server.patches)::int AS patches,
             (SELECT head FROM reprise_server.state)::text AS head`
    return { ...counts, rows: yield* rowsOf(sql, table) }
  })

/** The writes materialization made on `table` after log entry `after`: `[rowId, op, userId]`. */
export const writesSince = (sql: SqlClient.SqlClient, table: string, after: number) =>
  Effect.map(
    sql<{ row_id: string; op: string; user_id: string | null }>`
      SELECT row_id, op, user_id FROM materialize_log WHERE table_name = ${table} AND n > ${after} ORDER BY n`,
    (rows) => rows.map((r) => [r.row_id, r.op, r.user_id] as const)
  )

/** The last entry of the write log (0 when empty). */
export const logPosition = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ n: number }>`SELECT coalesce(max(n), 0)::int AS n FROM materialize_log`, ([row]) => row?.n ?? 0)
