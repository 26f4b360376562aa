/**
 * SQLSTATE codes carried by `SqlError`s, for both this driver and `@effect/sql-pg`.
 *
 * Both drivers keep the database error as the `cause` of the `SqlError`; this module reads its
 * five-character SQLSTATE so callers can branch on it (`23505` unique violation, `40001`
 * serialization failure, ...) without knowing which driver produced the error.
 *
 * @example
 * ```ts
 * import { SqlState } from "@reprise/sql-pglite"
 * const isDuplicate = (e: unknown) => SqlState.fromError(e) === SqlState.UNIQUE_VIOLATION
 * ```
 */
import { SqlError } from "@effect/sql/SqlError"

/** `23505`: a unique constraint was violated. */
export const UNIQUE_VIOLATION = "23505"
/** `23503`: a foreign key constraint was violated. */
export const FOREIGN_KEY_VIOLATION = "23503"
/** `23502`: a NOT NULL constraint was violated. */
export const NOT_NULL_VIOLATION = "23502"
/** `23514`: a CHECK constraint was violated. */
export const CHECK_VIOLATION = "23514"
/** `42P01`: the relation does not exist. */
export const UNDEFINED_TABLE = "42P01"
/** `42601`: syntax error. */
export const SYNTAX_ERROR = "42601"
/** `40001`: serialization failure; retrying the transaction may succeed. */
export const SERIALIZATION_FAILURE = "40001"
/** `P0001`: raised by `RAISE EXCEPTION` in PL/pgSQL. */
export const RAISE_EXCEPTION = "P0001"

const SQLSTATE = /^[0-9A-Z]{5}$/

const codeOf = (value: unknown): string | undefined => {
  if (typeof value !== "object" || value === null || !("code" in value)) return undefined
  const code = (value as { readonly code: unknown }).code
  return typeof code === "string" && SQLSTATE.test(code) ? code : undefined
}

/**
 * The SQLSTATE of a database error: reads it from an `SqlError`'s cause, or from a raw driver
 * error (`pg`'s or PGlite's `DatabaseError`). `undefined` when the error did not come from
 * the database (a connection failure, a defect).
 */
export const fromError = (error: unknown): string | undefined => {
  if (error instanceof SqlError) return codeOf(error.cause)
  return codeOf(error)
}
