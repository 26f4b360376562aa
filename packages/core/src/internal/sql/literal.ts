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
   * connection when it offers a queue (see `QueueStatement`), so they ride with the next
   * statement; executed at once otherwise. Order with later statements is kept either way.
   */
  readonly queue: (statement: string) => Effect.Effect<unknown, SqlError>
}

/**
 * `exec` and `queue` for the transaction in context, from one lookup of its connection.
 *
 * @internal
 */
export const directStatements = (sql: SqlClient.SqlClient): Effect.Effect<DirectStatements> =>
  Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), (conn) => {
    if (Option.isNone(conn)) {
      const run = (statement: string) => sql.unsafe(statement)
      return { exec: run, queue: run }
    }
    const connection = conn.value[0]
    const exec = (statement: string) => connection.executeUnprepared(statement, [], undefined)
    const queue = (connection as { readonly [QueueStatement]?: unknown })[QueueStatement]
    return { exec, queue: typeof queue === "function" ? queue as (statement: string) => Effect.Effect<void> : exec }
  })
