/**
 * The statements behind `Migrations`: the table recording the app's applied steps, kept in the
 * `reprise` schema beside the sync schema so it never collides with the app's own tables.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/** @internal */
export const createTable = `
CREATE SCHEMA IF NOT EXISTS reprise;
CREATE TABLE IF NOT EXISTS reprise.app_migrations (
  version integer PRIMARY KEY CHECK (version > 0),
  name text NOT NULL UNIQUE,
  sql text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`

/** Whether the table exists (a fresh database has none; reading it must not create it). @internal */
export const tableExists = (sql: SqlClient.SqlClient) =>
  sql<{ present: boolean }>`SELECT to_regclass('reprise.app_migrations') IS NOT NULL AS present`

/** The applied steps in order. @internal */
export const applied = (sql: SqlClient.SqlClient) =>
  sql<{ version: number; name: string; sql: string; applied_at: Date }>`
    SELECT version, name, sql, applied_at FROM reprise.app_migrations ORDER BY version`

/** Records a step as applied (inside the step's transaction). @internal */
export const record = (sql: SqlClient.SqlClient, version: number, name: string, text: string) =>
  sql`INSERT INTO reprise.app_migrations (version, name, sql) VALUES (${version}, ${name}, ${text})`

/** Serializes migrators on one database (two tabs on one IndexedDB take turns). @internal */
export const lock = (sql: SqlClient.SqlClient) => sql`SELECT pg_advisory_xact_lock(hashtext('reprise.app_migrations'))`
