/**
 * The typed errors of `@reprise/client`: everything an app can get wrong when it opens a client
 * (where it keeps its data, its migrations, a database from a newer app) fails with one of these,
 * each with a message that says what to do about it.
 */
import * as Schema from "effect/Schema"

/** A storage spec that cannot be used here (an empty name, IndexedDB in Node, a directory in a browser). */
export class InvalidStorage extends Schema.TaggedError<InvalidStorage>()("InvalidStorage", {
  storage: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `Cannot keep the client's data in ${this.storage}: ${this.detail}`
  }
}

/** PGlite could not open (or create) the database at the chosen storage. */
export class DatabaseOpenFailed extends Schema.TaggedError<DatabaseOpenFailed>()("DatabaseOpenFailed", {
  storage: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `Could not open the client's database in ${this.storage}: ${this.detail}. ` +
      `Check that the location is writable and not open in another process or tab (PGlite allows one at a time).`
  }
}

/** The app's migration list is malformed (an empty or repeated name): nothing was applied. */
export class InvalidMigrations extends Schema.TaggedError<InvalidMigrations>()("InvalidMigrations", {
  name: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `Invalid migration ${JSON.stringify(this.name)}: ${this.detail}`
  }
}

/** A migration step failed; it was rolled back with its record, and the steps after it did not run. */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  name: Schema.String,
  version: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `Migration ${this.version} ${JSON.stringify(this.name)} failed and was rolled back: ${this.detail}. ` +
      `Fix its SQL (it has not been recorded as applied, so the fixed step runs on the next start).`
  }
}

/**
 * A migration the database already applied is no longer the same in the app's list: renamed,
 * moved, its SQL changed, or removed. Applied steps are history; change the schema with a new step.
 */
export class MigrationChanged extends Schema.TaggedError<MigrationChanged>()("MigrationChanged", {
  version: Schema.Number,
  applied: Schema.String,
  given: Schema.NullOr(Schema.String),
  change: Schema.Literal("renamed", "moved", "sql-changed", "removed")
}) {
  override get message() {
    const what = this.change === "renamed"
      ? `was renamed to ${JSON.stringify(this.given)}`
      : this.change === "moved"
      ? `is no longer step ${this.version} (${JSON.stringify(this.given)} is; new steps go at the end of the list)`
      : this.change === "sql-changed"
      ? "has different SQL than when it was applied"
      : "is missing from the app's list"
    return `Migration ${this.version} ${JSON.stringify(this.applied)} ${what}. A migration this database ` +
      `already applied must stay exactly as it was; restore it and add a new migration for the change.`
  }
}

/**
 * The database was written by a newer version of the app: it has migrations this app does not
 * know, or a Reprise sync schema newer than this build's.
 */
export class DatabaseTooNew extends Schema.TaggedError<DatabaseTooNew>()("DatabaseTooNew", {
  what: Schema.Literal("migrations", "sync-schema"),
  installed: Schema.Number,
  supported: Schema.Number,
  unknown: Schema.Array(Schema.String)
}) {
  override get message() {
    return this.what === "migrations"
      ? `The client's database has ${this.installed} migrations applied but this app knows ${this.supported} ` +
        `(unknown: ${this.unknown.join(", ")}): it was opened by a newer version of the app. Update the app, ` +
        `or open a fresh database.`
      : `The client's database holds Reprise sync schema version ${this.installed}, but this build of ` +
        `@reprise/core supports up to ${this.supported}: update @reprise/client and @reprise/core, or open a fresh database.`
  }
}

// The promise facade's: RepriseError (what facade users catch) and promise actions' failures.
export { ActionFailed, isRepriseError, RepriseError, type RepriseErrorTag, UnawaitedStatement } from "./internal/promiseErrors.js"
