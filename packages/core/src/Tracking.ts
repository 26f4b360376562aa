/**
 * Turns on write capture for the app's tables: one call over a list of tables validates each
 * (it exists, its primary key is exactly `id`, it has the audience column or a valid audience
 * expression) and installs an AFTER INSERT/UPDATE/DELETE row trigger that records patches.
 *
 * Every identifier is quoted by the database (`format('%I')`); a table name is looked up in
 * the catalog as a value, never spliced into SQL, so a bad name is a typed error. Validation
 * of ALL tables happens before any DDL, inside one transaction: nothing is half-installed.
 * Installing again replaces the triggers, so it is idempotent.
 *
 * @example
 * ```ts
 * yield* Tracking.install(["notes", { name: "todos", audienceColumn: "list_key" }])
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { captureTriggerSql, orderFunctions } from "./internal/sql/capture.js"
import * as TrackingSql from "./internal/sql/tracking.js"

/** The audience column used when a table's config names none. */
export const DEFAULT_AUDIENCE_COLUMN = "audience_key"

/** How one table is tracked. A bare string is `{ name }`. */
export interface TableConfig {
  /** The table name, exactly as created (case and characters preserved). */
  readonly name: string
  /** Its schema; `public` by default. */
  readonly schema?: string
  /** The column holding each row's audience key; `audience_key` by default. */
  readonly audienceColumn?: string
  /**
   * Instead of a column: a SQL expression over the row alias `r`, e.g. `'list:' || r.list_id`.
   * It is checked against the table at install time.
   */
  readonly audienceExpression?: string
}

/** Why a table cannot be tracked. */
export const TrackingProblem = Schema.Literal(
  "TableNotFound",
  "PrimaryKeyNotId",
  "AudienceColumnMissing",
  "InvalidAudienceExpression",
  "InvalidConfig"
)

/**
 * A table given to `Tracking.install` cannot be tracked; nothing was installed.
 */
export class TrackingError extends Schema.TaggedError<TrackingError>()("TrackingError", {
  table: Schema.String,
  problem: TrackingProblem,
  detail: Schema.String
}) {
  override get message() {
    return `Cannot track table ${JSON.stringify(this.table)}: ${this.detail}`
  }
}

/** A table as validated and recorded. */
export interface TrackedTable {
  readonly schema: string
  readonly name: string
  readonly idType: string
  readonly audience: string
}

const normalize = (table: string | TableConfig): TableConfig => typeof table === "string" ? { name: table } : table

const describeTable = (config: TableConfig) =>
  config.schema === undefined || config.schema === "public" ? config.name : `${config.schema}.${config.name}`

/**
 * Validates every table, then installs (or reinstalls) their capture triggers, all in one
 * transaction. Requires the sync schema (`SyncSchema.install`).
 */
export const install: (
  tables: ReadonlyArray<string | TableConfig>
) => Effect.Effect<ReadonlyArray<TrackedTable>, SqlError | TrackingError, SqlClient.SqlClient> = Effect.fn(
  "Tracking.install"
)(function*(tables: ReadonlyArray<string | TableConfig>) {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.withTransaction(Effect.gen(function*() {
    const validated: Array<TrackedTable & { readonly audienceSql: string }> = []
    for (const table of tables.map(normalize)) validated.push(yield* validate(sql, table))
    if (validated.length > 0) yield* sql.unsafe(orderFunctions)
    for (const table of validated) {
      const [names] = yield* TrackingSql.captureNames(sql, table.schema, table.name, describeTable(table))
      yield* sql.unsafe(captureTriggerSql({
        qualifiedTable: names!.qualified,
        functionName: names!.fn,
        audienceSql: table.audienceSql,
        tableLiteral: names!.literal
      }))
      yield* TrackingSql.recordTrackedTable(sql, table)
    }
    return validated.map(({ audienceSql: _, ...table }) => table)
  }))
})

const validate = (sql: SqlClient.SqlClient, config: TableConfig) =>
  Effect.gen(function*() {
    const schema = config.schema ?? "public"
    const label = describeTable(config)
    const fail = (problem: typeof TrackingProblem.Type, detail: string) =>
      new TrackingError({ table: label, problem, detail })
    if (config.name.length === 0) return yield* fail("InvalidConfig", "the table name is empty")
    if (config.audienceColumn !== undefined && config.audienceExpression !== undefined) {
      return yield* fail("InvalidConfig", "give audienceColumn or audienceExpression, not both")
    }
    const [relation] = yield* TrackingSql.findTable(sql, schema, config.name)
    if (relation === undefined) {
      return yield* fail("TableNotFound", `no table named ${JSON.stringify(config.name)} in schema ${JSON.stringify(schema)}; create it before installing tracking`)
    }
    const keyColumns = yield* TrackingSql.primaryKeyColumns(sql, relation.oid)
    if (keyColumns.length !== 1 || keyColumns[0]!.name !== "id") {
      const found = keyColumns.length === 0 ? "it has no primary key" : `its primary key is (${keyColumns.map((c) => c.name).join(", ")})`
      return yield* fail("PrimaryKeyNotId", `Reprise addresses rows by a single primary key column named "id", but ${found}`)
    }
    const idType = keyColumns[0]!.type
    if (config.audienceExpression !== undefined) {
      const expression = config.audienceExpression
      if (expression.includes(";") || expression.includes("$fn$")) {
        return yield* fail("InvalidAudienceExpression", "the audience expression must be a single SQL expression (no ';')")
      }
      const [names] = yield* TrackingSql.qualifiedName(sql, schema, config.name)
      const check = yield* Effect.exit(
        sql.withTransaction(TrackingSql.checkAudienceExpression(sql, names!.qualified, expression))
      )
      if (check._tag === "Failure") {
        return yield* fail("InvalidAudienceExpression", `the audience expression ${JSON.stringify(expression)} does not evaluate against the table's rows (alias r)`)
      }
      return { schema, name: config.name, idType, audience: `expression:${expression}`, audienceSql: `(${expression})` }
    }
    const column = config.audienceColumn ?? DEFAULT_AUDIENCE_COLUMN
    const [present] = yield* TrackingSql.audienceColumn(sql, relation.oid, column)
    if (present === undefined) {
      return yield* fail("AudienceColumnMissing", `it has no audience column ${JSON.stringify(column)}; add the column or configure audienceColumn / audienceExpression`)
    }
    return { schema, name: config.name, idType, audience: `column:${column}`, audienceSql: present.quoted }
  })
