/**
 * The simulation's own statements: emptying a database between schedules, and the read-only
 * inspections its checks make (table hashes per audience, action ids, pending counts, the
 * determinism comparison, correction counts). Each is a typed function over `SqlClient` whose
 * rows are decoded with `Schema`, so the checks never read an untyped row.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SqlArray from "../../SqlArray.js"

/** A tracked table: its quoted name, schema and name. @internal */
export interface TrackedTable {
  readonly q: string
  readonly schema: string
  readonly name: string
}

const TrackedRows = Schema.Array(Schema.Struct({ q: Schema.String, schema: Schema.String, name: Schema.String }))
const WatermarkRows = Schema.Array(Schema.Struct({ seq: Schema.NumberFromString }))
const HashRows = Schema.Array(Schema.Struct({ t: Schema.String, h: Schema.String, n: Schema.Number, leaks: Schema.Number }))
const RowImages = Schema.Array(Schema.Struct({ id: Schema.String, j: Schema.String }))
const IdRows = Schema.Array(Schema.Struct({ id: Schema.String, kind: Schema.String }))
const CountRows = Schema.Array(Schema.Struct({ n: Schema.Number }))
const CorrectionCountRows = Schema.Array(Schema.Struct({ corrections: Schema.Number, competing: Schema.Number }))

const count = <E, R>(rows: Effect.Effect<ReadonlyArray<object>, E, R>) =>
  Effect.map(Effect.flatMap(rows, Schema.decodeUnknown(CountRows)), ([row]) => row?.n ?? 0)

/** The tracked tables, in name order (what `Tracking.install` recorded). @internal */
export const trackedTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.flatMap(
    sql`
      SELECT format('%I.%I', table_schema, table_name) AS q, table_schema AS schema, table_name AS name
      FROM reprise.tracked_tables ORDER BY 1`,
    Schema.decodeUnknown(TrackedRows)
  ))

/**
 * Empties a database for the next schedule: the app's tables and, on a client, the action log
 * and the sync state (databases are built once per simulator: truncating is far cheaper). @internal
 */
export const reset = (tables: ReadonlyArray<TrackedTable>, client: boolean) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const internal = client ? ["reprise.action_records", "reprise.action_patches", "reprise.known_patches"] : []
    yield* sql.unsafe(`TRUNCATE ${[...tables.map((t) => t.q), ...internal].join(", ")}`)
    if (client) yield* sql`UPDATE reprise.client_state SET last_server_seq = 0, audiences = NULL`
  })

/** A client's fetch watermark (the last server sequence it applied). @internal */
export const watermark = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    Effect.flatMap(sql`SELECT last_server_seq::text AS seq FROM reprise.client_state`, Schema.decodeUnknown(WatermarkRows)),
    ([row]) => row?.seq ?? 0
  ))

/** Audience keys as a Postgres text[] literal (null: every row is in scope). */
const scopeLiteral = (audiences: ReadonlyArray<string> | null): string | null =>
  audiences === null ? null : SqlArray.text(audiences)

/** What a database holds in an audience scope: a hash per table, and the rows outside it. @internal */
export interface ScopedHashes {
  /** Table (quoted name) → `rows:md5` of its rows in scope. */
  readonly hashes: ReadonlyMap<string, string>
  /** Rows outside the scope, over every table. */
  readonly leaks: number
}

/**
 * Each tracked table's rows in the audiences given (all rows when null; rows with a null
 * audience key are public), hashed (to_jsonb text in id order), and how many rows lie outside
 * them. @internal
 */
export const scopedHashes = (tables: ReadonlyArray<TrackedTable>, audiences: ReadonlyArray<string> | null) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const scope = scopeLiteral(audiences)
    // One statement for every table: the checks hash each database several times a schedule.
    const perTable = tables.map(({ name, q, schema }) =>
      sql`(
        WITH x AS (
          SELECT to_jsonb(t) AS j, t.id::text AS id FROM ${sql.literal(q)} AS t
        ), scoped AS (
          SELECT x.*, (${scope}::text[] IS NULL OR a.key IS NULL OR a.key = ANY (${scope}::text[])) AS visible
          FROM x CROSS JOIN LATERAL (SELECT reprise.audience_of(${schema}, ${name}, x.j) AS key) AS a
        )
        SELECT ${q} AS t,
          md5(coalesce(string_agg(j::text, E'\\n' ORDER BY id) FILTER (WHERE visible), '')) AS h,
          (count(*) FILTER (WHERE visible))::int AS n,
          (count(*) FILTER (WHERE NOT visible))::int AS leaks
        FROM scoped)`
    )
    const rows = perTable.length === 0
      ? []
      : yield* Effect.flatMap(sql`${sql.join(" UNION ALL ", false)(perTable)}`, Schema.decodeUnknown(HashRows))
    const byTable = new Map(rows.map((row) => [row.t, row]))
    const hashes = new Map<string, string>()
    let leaks = 0
    // In the tables' order, whatever order the union returned them in: problems list tables in it.
    for (const { q } of tables) {
      const row = byTable.get(q)
      if (row === undefined) continue
      hashes.set(row.t, `${row.n}:${row.h}`)
      leaks += row.leaks
    }
    const scoped: ScopedHashes = { hashes, leaks }
    return scoped
  })

/** A table's rows (id → to_jsonb text) in the audiences given (all when null), to show a difference. @internal */
export const scopedRows = (table: TrackedTable, audiences: ReadonlyArray<string> | null) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const scope = scopeLiteral(audiences)
    const rows = yield* Effect.flatMap(
      sql`
        SELECT t.id::text AS id, to_jsonb(t)::text AS j FROM ${sql.literal(table.q)} AS t
        WHERE ${scope}::text[] IS NULL OR reprise.audience_of(${table.schema}, ${table.name}, to_jsonb(t)) IS NULL
          OR reprise.audience_of(${table.schema}, ${table.name}, to_jsonb(t)) = ANY (${scope}::text[])`,
      Schema.decodeUnknown(RowImages)
    )
    return new Map(rows.map((r) => [r.id, r.j]))
  })

/** The ids and kinds of the action records a client holds (only `clientId`'s when given). @internal */
export const actionIds = (clientId: string | undefined) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.flatMap(
      clientId === undefined
        ? sql`SELECT id::text AS id, kind FROM reprise.action_records`
        : sql`SELECT id::text AS id, kind FROM reprise.action_records WHERE client_id = ${clientId}`,
      Schema.decodeUnknown(IdRows)
    ))

/** How many of a client's actions are not synced. @internal */
export const pendingCount = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  count(sql`SELECT count(*)::int AS n FROM reprise.action_records WHERE NOT synced`))

/** The replayed (not adopted) actions' patches of a client. */
const replayedPatches = `
  SELECT p.* FROM reprise.action_patches p
  JOIN reprise.action_records r ON r.id = p.action_id WHERE r.kind <> 'adoption'`

/**
 * Keeps the patches of every replayed action (adoptions are not replayed: a replay drops them
 * and adopts anew, under new ids) in a temporary table, to compare a second replay with. @internal
 */
export const keepFirstReplay = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP TABLE IF EXISTS pg_temp.sim_first_replay`
  yield* sql`CREATE TEMP TABLE sim_first_replay AS ${sql.literal(replayedPatches)}`
})

/** How many actions wrote other patches in the second replay than in the kept first one. @internal */
export const changedSinceFirstReplay = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  count(sql`
    WITH replayed AS (${sql.literal(replayedPatches)})
    SELECT count(DISTINCT action_id)::int AS n FROM (
      (SELECT * FROM sim_first_replay EXCEPT ALL SELECT * FROM replayed)
      UNION ALL
      (SELECT * FROM replayed EXCEPT ALL SELECT * FROM sim_first_replay)
    ) AS d`))

/** Correction records in the log a client holds (synced ones: the server's), and the rows corrected by two or more clients. @internal */
export const correctionCounts = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    Effect.flatMap(
      sql`
        SELECT
          (SELECT count(*)::int FROM reprise.action_records WHERE kind = 'correction' AND synced) AS corrections,
          (SELECT count(*)::int FROM (
            SELECT k.table_schema, k.table_name, k.row_id FROM reprise.known_patches k
            JOIN reprise.action_records r ON r.id = k.action_id
            WHERE r.kind = 'correction' AND r.synced
            GROUP BY 1, 2, 3 HAVING count(DISTINCT r.client_id) > 1
          ) AS rows) AS competing`,
      Schema.decodeUnknown(CorrectionCountRows)
    ),
    ([row]) => ({ corrections: row?.corrections ?? 0, competing: row?.competing ?? 0 })
  ))
