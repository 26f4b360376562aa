import { SqlError } from "@effect/sql/SqlError"
import * as SqlState from "../SqlState.js"

/**
 * Wraps a PGlite failure in an `SqlError` whose message carries the database's own message and
 * SQLSTATE; the original error stays the `cause` (its `code`, `detail`, `constraint`, ...).
 *
 * @internal
 */
export const toSqlError = (cause: unknown, what: string): SqlError => {
  const code = SqlState.fromError(cause)
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new SqlError({
    cause,
    message: code === undefined ? `${what}: ${detail}` : `${what}: ${detail} (SQLSTATE ${code})`
  })
}
