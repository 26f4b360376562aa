import type { Results, Transaction } from "@electric-sql/pglite"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { toSqlError } from "./errors.js"

/**
 * What a connection runs statements on: the PGlite instance itself (each call waits for any
 * open transaction to finish) or the handle of an open PGlite transaction.
 *
 * @internal
 */
export type Runner = Pick<Transaction, "query" | "exec">

type Rows = ReadonlyArray<Record<string, unknown>>
type TransformRows = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

// PGlite only reads the parameters (its signature asks for a mutable array): no copy per query.
const mutable = (params: ReadonlyArray<unknown>): Array<unknown> => params as Array<unknown>

const rowsOf = (results: ReadonlyArray<Results>): ReadonlyArray<unknown> => {
  // Like `pg`: one statement gives its rows, several (simple protocol) give one array each.
  if (results.length === 1) return results[0]!.rows
  return results.map((result) => result.rows)
}

/**
 * An `@effect/sql` connection over PGlite. Statements without parameters use the simple query
 * protocol (several statements allowed, as with `pg`); statements with parameters use the
 * extended protocol, where PGlite serializes each value by the parameter's described type.
 *
 * @internal
 */
export const makeConnection = (runner: Runner): Connection => {
  const run = (sql: string, params: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<unknown>, SqlError> =>
    Effect.tryPromise({
      try: async () =>
        params.length === 0
          ? rowsOf(await runner.exec(sql))
          : (await runner.query<Record<string, unknown>>(sql, mutable(params))).rows,
      catch: (cause) => toSqlError(cause, "Failed to execute statement")
    })

  const execute = (sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) =>
    transformRows === undefined
      ? run(sql, params)
      : Effect.map(run(sql, params), (rows) => transformRows(rows as Rows))

  return {
    execute,
    executeUnprepared: execute,
    executeRaw: (sql, params) =>
      Effect.tryPromise({
        try: (): Promise<unknown> => params.length === 0 ? runner.exec(sql) : runner.query(sql, mutable(params)),
        catch: (cause) => toSqlError(cause, "Failed to execute statement")
      }),
    executeValues: (sql, params) =>
      Effect.tryPromise({
        try: async () =>
          (await runner.query<ReadonlyArray<unknown>>(sql, mutable(params), { rowMode: "array" })).rows,
        catch: (cause) => toSqlError(cause, "Failed to execute statement")
      }),
    executeStream: (sql, params, transformRows) =>
      // PGlite hands back whole result sets (it runs in-process, there is no socket to
      // backpressure), so the stream emits the materialized rows in chunks.
      Stream.flatMap(
        Stream.fromEffect(execute(sql, params, transformRows)),
        (rows) => Stream.fromIterable(rows as Rows),
        { concurrency: 1 }
      )
  }
}
