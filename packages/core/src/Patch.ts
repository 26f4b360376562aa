/**
 * Row patches: what an action did to one row, captured by the tracking triggers, and their
 * application forward (redo a known effect without running code, as the server materializes
 * the log) or in reverse (roll it back). Replicas do not replay patches: they re-run actions.
 *
 * Values are JSON as Postgres's `to_jsonb` renders them (numeric and bigint as exact JSON
 * numbers, timestamps as ISO strings, bytea as `\x..` hex, arrays as JSON arrays), and they
 * are turned back into column values by `jsonb_populate_record` against the table's own
 * column types, so every type round-trips exactly. Patches carry that JSON as TEXT and never
 * parse it into JavaScript numbers, which would round bigints and long numerics.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as PatchSql from "./internal/sql/patches.js"
import * as SqlArray from "./SqlArray.js"

/** The kind of write a patch records. */
export const Operation = Schema.Literal("INSERT", "UPDATE", "DELETE")
export type Operation = typeof Operation.Type

/**
 * The JSON text of an object of column values (a full row, or the changed columns of one),
 * exactly as Postgres rendered it.
 */
export const RowJson = Schema.String.pipe(Schema.brand("@reprise/core/Patch/RowJson"))
export type RowJson = typeof RowJson.Type

/**
 * The column values of a `RowJson`, for inspection. Numbers beyond 2^53 lose precision here;
 * apply patches with `apply`, which never parses them.
 */
export const columns = (json: RowJson | null): Readonly<Record<string, unknown>> | null =>
  json === null ? null : JSON.parse(json) as Record<string, unknown>

/**
 * One captured row change. `forward` applies it (the full row for INSERT, the changed columns
 * for UPDATE, null for DELETE); `reverse` undoes it (null for INSERT, the old values of the
 * changed columns for UPDATE, the full old row for DELETE).
 */
export class Patch extends Schema.Class<Patch>("@reprise/core/Patch")({
  actionId: Schema.UUID,
  seq: Schema.Int.pipe(Schema.positive()),
  schema: Schema.String,
  table: Schema.String,
  rowId: Schema.String,
  op: Operation,
  forward: Schema.NullOr(RowJson),
  reverse: Schema.NullOr(RowJson),
  audienceKey: Schema.NullOr(Schema.String)
}) {}

/** Which way to apply patches. */
export type Direction = "forward" | "reverse"

const PatchRow = Schema.Struct({
  action_id: Schema.String,
  seq: Schema.Number,
  table_schema: Schema.String,
  table_name: Schema.String,
  row_id: Schema.String,
  op: Operation,
  forward: Schema.NullOr(RowJson),
  reverse: Schema.NullOr(RowJson),
  audience_key: Schema.NullOr(Schema.String)
})

const decodeRows = Schema.decodeUnknown(Schema.Array(PatchRow))

/**
 * The patches recorded for the given actions, in action order then sequence order. Within one
 * statement of an action, patches are in canonical order (rows by table, then id), so a replay
 * numbers them as its author did whatever order Postgres visited the rows in (R-ACT-6).
 */
export const forActions = (
  actionIds: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<Patch>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    if (actionIds.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    const rows = yield* PatchSql.patchesOf(sql, SqlArray.text(actionIds))
    const decoded = yield* Effect.orDie(decodeRows(rows))
    return decoded.map((row) =>
      new Patch({
        actionId: row.action_id,
        seq: row.seq,
        schema: row.table_schema,
        table: row.table_name,
        rowId: row.row_id,
        op: row.op,
        forward: row.forward,
        reverse: row.reverse,
        audienceKey: row.audience_key
      }, { disableValidation: true })
    )
  })

/**
 * Applies patches in ONE statement, inside the database, with capture switched off for the
 * rest of the transaction-local statement: `forward` in the given order, `reverse` from the
 * last to the first. Returns the number of rows written. A patch that cannot be applied fails
 * the statement, so nothing is half-applied.
 */
export const apply = (
  patches: ReadonlyArray<Patch>,
  direction: Direction
): Effect.Effect<number, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    if (patches.length === 0) return 0
    const sql = yield* SqlClient.SqlClient
    // Assembled as text so the captured JSON goes back to Postgres byte for byte.
    const payload = `[${patches.map((p) =>
      `{"schema":${JSON.stringify(p.schema)},"table":${JSON.stringify(p.table)},"rowId":${JSON.stringify(p.rowId)},` +
      `"op":${JSON.stringify(p.op)},"forward":${p.forward ?? "null"},"reverse":${p.reverse ?? "null"}}`
    ).join(",")}]`
    const [row] = yield* PatchSql.applyPatches(sql, payload, direction)
    return row?.n ?? 0
  })
