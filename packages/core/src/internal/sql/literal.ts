import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as SqlCapabilities from "../../SqlCapabilities.js"

/**
 * A Postgres string literal for `value`, as `pg`'s `escapeLiteral` writes it: an `E'...'`
 * string with quotes and backslashes doubled, which reads back exactly whatever
 * `standard_conforming_strings` is set to. Used to send hot-path statements without
 * parameters: a parameterless statement goes over Postgres' simple query protocol, one
 * exchange instead of the extended protocol's parse/describe/bind/execute (on PGlite the
 * biggest part of a small statement's cost). No literal can hold a NUL character: callers
 * check `hasNul` and keep the parameterized form for such values.
 *
 * @internal
 */
export const literal = (value: string): string => `E'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`

/** Whether `value` holds a NUL character, which no literal can (and Postgres refuses). @internal */
export const hasNul = (value: string): boolean => value.includes("\u0000")

/**
 * Two ways to run Reprise's own fixed, parameterless statements (built with `literal`).
 *
 * @internal
 */
export interface DirectStatements {
  /**
   * Runs a statement on the open transaction's connection directly, skipping the compile, span
   * and scope every statement through `SqlClient` pays; outside a transaction, `sql.unsafe`.
   */
  readonly exec: (statement: string) => Effect.Effect<unknown, SqlError>
  /**
   * Like `exec`, for statements whose result is not needed: queued on the transaction's
   * connection when its driver declares a statement queue (`SqlCapabilities`), so they ride
   * with the next statement; executed at once otherwise. Order with later statements is kept
   * either way.
   */
  readonly queue: (statement: string) => Effect.Effect<unknown, SqlError>
}

/**
 * `exec` and `queue` for the transaction in context, from one lookup of its connection. The
 * queue is the one the driver declares (`SqlCapabilities`): `capabilities` when given (read
 * where the driver's layer was provided), else those in context (a driver's transaction
 * provides them to the code it runs), else none.
 *
 * @internal
 */
export const directStatements = (
  sql: SqlClient.SqlClient,
  capabilities?: SqlCapabilities.SqlCapabilitiesShape
): Effect.Effect<DirectStatements> =>
  Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (conn) => {
    if (Option.isNone(conn)) {
      const run = (statement: string) => sql.unsafe(statement)
      return Effect.succeed({ exec: run, queue: run })
    }
    const connection = conn.value[0]
    const exec = (statement: string) => connection.executeUnprepared(statement, [], undefined)
    const withQueue = (declared: SqlCapabilities.SqlCapabilitiesShape): DirectStatements => ({
      exec,
      queue: declared.statementQueue(connection) ?? exec
    })
    return capabilities === undefined
      ? Effect.map(SqlCapabilities.current, withQueue)
      : Effect.succeed(withQueue(capabilities))
  })
