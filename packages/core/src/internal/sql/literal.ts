import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

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
 * Runs fixed, parameterless statements of Reprise's own (built with `literal`) on the open
 * transaction's connection directly, skipping the compile, span and scope every statement
 * through `SqlClient` pays; outside a transaction it falls back to `sql.unsafe`.
 *
 * @internal
 */
export const directExec = (
  sql: SqlClient.SqlClient
): Effect.Effect<(statement: string) => Effect.Effect<unknown, SqlError>> =>
  Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), (conn) => (statement: string) =>
    Option.isSome(conn) ? conn.value[0].executeUnprepared(statement, [], undefined) : sql.unsafe(statement))

/**
 * The key under which a driver's transaction connection may offer a statement queue:
 * `(statement: string) => Effect<void>` sends a parameterless query (one or more statements)
 * ahead of the transaction's next exchange (its next statement or its COMMIT) instead of in an
 * exchange of its own. A failure of the queued statement fails the statement it went ahead of (or the
 * COMMIT), and the transaction is aborted, so nothing after it takes effect.
 * `@reprise/sql-pglite` offers it on transactions it holds over PGlite's wire protocol.
 *
 * @internal
 */
export const QueueStatement = Symbol.for("@reprise/sql/QueueStatement")

/**
 * Like `directExec`, for statements whose result is not needed: queued on the transaction's
 * connection when it offers a queue (see `QueueStatement`), so they ride with the next
 * statement; executed at once otherwise. Order with later statements is kept either way.
 *
 * @internal
 */
export const directQueue = (
  sql: SqlClient.SqlClient
): Effect.Effect<(statement: string) => Effect.Effect<unknown, SqlError>> =>
  Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), (conn) => {
    if (Option.isNone(conn)) return (statement: string) => sql.unsafe(statement)
    const connection = conn.value[0]
    const queue = (connection as { readonly [QueueStatement]?: unknown })[QueueStatement]
    return typeof queue === "function"
      ? queue as (statement: string) => Effect.Effect<void>
      : (statement: string) => connection.executeUnprepared(statement, [], undefined)
  })
