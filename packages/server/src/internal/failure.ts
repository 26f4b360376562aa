/**
 * Database failures as the caller sees them: a `SyncServer.ServerFailure` that says what the
 * server was doing (and the SQLSTATE, which names a class of failure, not data), never the
 * database's own message, which may show the server's schema or other users' values. The
 * `SqlError` itself, with its cause, goes to the server's log and to the current span.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import { SyncServer } from "@reprise/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"

/** The SQLSTATE of a driver error (`pg` and PGlite both carry it as `code`), if any. @internal */
export const sqlState = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

/** The driver's message of a `SqlError`, for the caller only where it describes the caller's data. @internal */
export const causeMessage = (error: SqlError): string =>
  error.cause instanceof Error ? error.cause.message : error.message

/**
 * A handler for `Effect.catchTag("SqlError", failed("storing the upload"))`: logs the error with
 * its cause, annotates the current span, and fails with a `ServerFailure` naming `doing`.
 * @internal
 */
export const failed = (doing: string) => (error: SqlError): Effect.Effect<never, SyncServer.ServerFailure> => {
  const code = sqlState(error.cause)
  return Effect.logError(`SyncService: ${doing} failed`, Cause.fail(error)).pipe(
    Effect.zipRight(Effect.annotateCurrentSpan({
      "reprise.server.failure": doing,
      "db.response.status_code": code ?? "unknown",
      "error.message": causeMessage(error)
    })),
    Effect.zipRight(
      new SyncServer.ServerFailure({
        detail: `${doing} failed in the server's database${code === undefined ? "" : ` (SQLSTATE ${code})`}`
      })
    )
  )
}
