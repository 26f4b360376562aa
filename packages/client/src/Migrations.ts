/**
 * The app's schema as ordered SQL steps, each applied once per database and recorded with its
 * version (its position, from 1), so a user who upgrades the app keeps their data and gets only
 * the steps added since.
 *
 * Each step runs in its own transaction together with its record: a failing step leaves no
 * trace (`MigrationFailed` names it and carries the database's message) and the steps after it
 * do not run. Applied steps are history: one renamed, changed or removed is a
 * `MigrationChanged` naming it, and a database with steps this app does not know (opened by a
 * newer app) is a `DatabaseTooNew`. Both are checked before anything runs.
 *
 * Steps create and alter the app's tables. Rows of tracked tables change only through actions
 * (the capture triggers refuse other writes), so a step that must transform data does it in
 * an untracked table or before the table is tracked.
 *
 * @example
 * ```ts
 * const migrations: ReadonlyArray<Migrations.Migration> = [
 *   { name: "create notes", sql: "CREATE TABLE notes (id text PRIMARY KEY, title text NOT NULL, audience_key text)" },
 *   { name: "notes.pinned", sql: "ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false" }
 * ]
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { DatabaseTooNew, InvalidMigrations, MigrationChanged, MigrationFailed } from "./errors.js"
import * as MigrationsSql from "./internal/migrations.js"

/** One step of the app's schema. */
export interface Migration {
  /** A name unique in the list; it identifies the step once applied, so never rename it. */
  readonly name: string
  /** The SQL, one or more statements; never change it once released. */
  readonly sql: string
}

/** A step as recorded in the database. */
export interface AppliedMigration {
  readonly version: number
  readonly name: string
  readonly appliedAt: Date
}

/** What `apply` did. */
export interface Applied {
  /** The steps this call ran, in order. */
  readonly ran: ReadonlyArray<string>
  /** The database's version now: how many steps it has applied. */
  readonly version: number
}

/** Any error `apply` can fail with. */
export type MigrationError = InvalidMigrations | MigrationFailed | MigrationChanged | DatabaseTooNew | SqlError

/**
 * Applies the steps of `migrations` the database has not applied yet, in order, each in its own
 * transaction with its record, after checking that the applied ones are unchanged.
 */
export const apply: (
  migrations: ReadonlyArray<Migration>
) => Effect.Effect<Applied, MigrationError, SqlClient.SqlClient> = Effect.fn("Migrations.apply")(
  function*(migrations: ReadonlyArray<Migration>) {
    yield* validate(migrations)
    const sql = yield* SqlClient.SqlClient
    const [exists] = yield* MigrationsSql.tableExists(sql)
    if (exists?.present !== true) {
      if (migrations.length === 0) return { ran: [], version: 0 }
      yield* sql.unsafe(MigrationsSql.createTable)
    }
    const ran: Array<string> = []
    const recorded = yield* MigrationsSql.applied(sql)
    yield* check(migrations, recorded)
    // Only the steps not applied yet open a transaction; each checks again inside it, under a
    // lock, since another client on the same database (a second tab) may have applied it meanwhile.
    for (const [index, migration] of migrations.entries()) {
      const version = index + 1
      if (version <= recorded.length) continue
      const didRun = yield* sql.withTransaction(Effect.gen(function*() {
        yield* MigrationsSql.lock(sql)
        const current = yield* MigrationsSql.applied(sql)
        yield* check(migrations, current)
        if (current.length >= version) return false
        yield* Effect.catchTag(
          sql.unsafe(migration.sql),
          "SqlError",
          (error) => new MigrationFailed({ name: migration.name, version, detail: databaseMessage(error) })
        )
        yield* MigrationsSql.record(sql, version, migration.name, migration.sql)
        return true
      }))
      if (didRun) ran.push(migration.name)
    }
    return { ran, version: migrations.length }
  }
)

/** The steps this database has applied, in order. */
export const applied: Effect.Effect<ReadonlyArray<AppliedMigration>, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [exists] = yield* MigrationsSql.tableExists(sql)
  if (exists?.present !== true) return []
  const rows = yield* MigrationsSql.applied(sql)
  return rows.map((row) => ({ version: row.version, name: row.name, appliedAt: row.applied_at }))
})

const validate = (migrations: ReadonlyArray<Migration>) =>
  Effect.gen(function*() {
    const seen = new Set<string>()
    for (const migration of migrations) {
      if (migration.name.trim() === "") {
        return yield* new InvalidMigrations({ name: migration.name, detail: "a migration needs a non-empty name" })
      }
      if (seen.has(migration.name)) {
        return yield* new InvalidMigrations({
          name: migration.name,
          detail: "two migrations share this name; each step needs its own"
        })
      }
      if (migration.sql.trim() === "") {
        return yield* new InvalidMigrations({ name: migration.name, detail: "its SQL is empty" })
      }
      seen.add(migration.name)
    }
  })

/** The recorded steps must be exactly the first steps of the app's list. */
const check = (
  migrations: ReadonlyArray<Migration>,
  recorded: ReadonlyArray<{ readonly version: number; readonly name: string; readonly sql: string }>
) =>
  Effect.gen(function*() {
    const known = new Set(migrations.map((m) => m.name))
    for (const row of recorded) {
      const given = migrations[row.version - 1]
      if (given === undefined) {
        const unknown = recorded.filter((r) => r.version > migrations.length).map((r) => r.name)
        // Every unknown step is one this list never had: a newer app wrote them. A step of
        // this list recorded past its end was removed from it instead.
        if (recorded.slice(0, migrations.length).every((r, i) => r.name === migrations[i]?.name)) {
          return yield* new DatabaseTooNew({
            what: "migrations",
            installed: recorded.length,
            supported: migrations.length,
            unknown
          })
        }
        return yield* new MigrationChanged({ version: row.version, applied: row.name, given: null, change: "removed" })
      }
      if (given.name !== row.name) {
        const recordedNames = new Set(recorded.map((r) => r.name))
        // Still in the list elsewhere: steps were inserted before it or reordered. Gone from the
        // list with its place taken by another applied step: removed. Otherwise: renamed.
        const change = known.has(row.name) ? "moved" : recordedNames.has(given.name) ? "removed" : "renamed"
        return yield* new MigrationChanged({ version: row.version, applied: row.name, given: given.name, change })
      }
      if (given.sql !== row.sql) {
        return yield* new MigrationChanged({ version: row.version, applied: row.name, given: given.name, change: "sql-changed" })
      }
    }
  })

const databaseMessage = (error: SqlError): string => {
  const cause = error.cause
  if (cause instanceof Error) return cause.message
  return error.message
}
