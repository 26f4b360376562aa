/**
 * `@reprise/sql-pglite`: an `@effect/sql` driver for PGlite.
 */
export * as PgliteClient from "./PgliteClient.js"
export * as SqlState from "./SqlState.js"
