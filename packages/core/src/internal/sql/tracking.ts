/**
 * The queries of `Tracking.install`: catalog lookups that validate a table, the names its
 * capture function and trigger get, and the record of what is tracked. The PL/pgSQL they
 * install is in `capture.ts`.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/** A plain table or partitioned table `name` in `schema` (`oid`, `kind`), if there is one. @internal */
export const findTable = (sql: SqlClient.SqlClient, schema: string, name: string) =>
  sql<{ oid: number; kind: string }>`
    SELECT c.oid::int AS oid, c.relkind::text AS kind FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ${schema} AND c.relname = ${name} AND c.relkind IN ('r', 'p')`

/** The columns of the primary key of table `oid` (`name`, `type`). @internal */
export const primaryKeyColumns = (sql: SqlClient.SqlClient, oid: number) =>
  sql<{ name: string; type: string }>`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = ${oid} AND i.indisprimary`

/** The column `column` of table `oid` as the capture trigger reads it from its row `r` (`quoted`). @internal */
export const audienceColumn = (sql: SqlClient.SqlClient, oid: number, column: string) =>
  sql<{ quoted: string }>`
    SELECT format('r.%I', a.attname) AS quoted FROM pg_attribute a
    WHERE a.attrelid = ${oid} AND a.attname = ${column} AND a.attnum > 0 AND NOT a.attisdropped`

/** The quoted, qualified name of a table (`qualified`). @internal */
export const qualifiedName = (sql: SqlClient.SqlClient, schema: string, name: string) =>
  sql<{ qualified: string }>`SELECT format('%I.%I', ${schema}::text, ${name}::text) AS qualified`

/**
 * Evaluates an audience expression over no row of the table (`qualified`, as `qualifiedName`
 * gives it), to check that it is one: it fails if not. `expression` is the app's SQL. @internal
 */
export const checkAudienceExpression = (sql: SqlClient.SqlClient, qualified: string, expression: string) =>
  sql.unsafe(`SELECT (${expression})::text FROM ${qualified} AS r LIMIT 0`)

/**
 * The names a table's capture gets: the quoted, qualified table (`qualified`), its capture
 * function (`fn`, named by a hash so any table name fits) and the table as a literal for
 * messages (`literal`). @internal
 */
export const captureNames = (sql: SqlClient.SqlClient, schema: string, name: string, label: string) =>
  sql<{ qualified: string; fn: string; literal: string }>`
    SELECT format('%I.%I', ${schema}::text, ${name}::text) AS qualified,
           format('reprise.%I', 'capture_' || md5(${schema}::text || '.' || ${name}::text)) AS fn,
           quote_literal(${label}::text) AS literal`

/** Records (or updates) a tracked table. @internal */
export const recordTrackedTable = (
  sql: SqlClient.SqlClient,
  table: { readonly schema: string; readonly name: string; readonly idType: string; readonly audience: string }
) =>
  sql`
    INSERT INTO reprise.tracked_tables (table_schema, table_name, id_type, audience)
    VALUES (${table.schema}, ${table.name}, ${table.idType}, ${table.audience})
    ON CONFLICT (table_schema, table_name) DO UPDATE
      SET id_type = excluded.id_type, audience = excluded.audience`

/**
 * The tracked tables (still there) whose capture function an earlier build installed: its text
 * lacks `version` (`CAPTURE_VERSION`). `audience` as recorded (`column:<name>` or
 * `expression:<sql>`), `audienceColumn` the column as the capture reads it from its row `r`.
 * @internal
 */
export const staleCaptures = (sql: SqlClient.SqlClient, version: string) =>
  sql<{ schema: string; name: string; audience: string; audienceColumn: string | null }>`
    SELECT t.table_schema AS schema, t.table_name AS name, t.audience,
      CASE WHEN t.audience LIKE 'column:%' THEN format('r.%I', substr(t.audience, 8)) END AS "audienceColumn"
    FROM reprise.tracked_tables t
    JOIN pg_proc p ON p.proname = 'capture_' || md5(t.table_schema || '.' || t.table_name)
    JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'reprise'
    WHERE to_regclass(format('%I.%I', t.table_schema, t.table_name)) IS NOT NULL
      AND position(${version} in p.prosrc) = 0
    ORDER BY 1, 2`
