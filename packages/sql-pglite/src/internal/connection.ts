import type { QueryOptions, Results, Transaction } from "@electric-sql/pglite"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { toSqlError } from "./errors.js"
import type { RunMode, Wire, WireTransaction } from "./wire.js"

/**
 * How a connection runs statements: on the PGlite instance itself (each statement waits for
 * any open transaction to finish) or inside an open PGlite transaction that it holds.
 *
 * @internal
 */
export interface Runner {
  /**
   * The rows of `sql`: one array, or one per statement for several parameterless statements
   * (simple protocol, like `pg`). `unprepared` runs it without keeping it prepared.
   */
  readonly rows: (sql: string, params: ReadonlyArray<unknown>, kind: RowsKind) => Promise<ReadonlyArray<unknown>>
  /** PGlite's own result object(s), for `executeRaw`. */
  readonly raw: (sql: string, params: ReadonlyArray<unknown>) => Promise<unknown>
  /** In a transaction held over the wire: queues a statement to go ahead of its next exchange. */
  readonly queue?: ((sql: string) => void) | undefined
}

/** @internal */
export type RowsKind = "objects" | "arrays" | "unprepared"

/** What PGlite's own API runs statements on: the instance or an open transaction's handle. */
type Target = Pick<Transaction, "query" | "exec">

/**
 * A runner over PGlite's own `query`/`exec`, for instances without the wire members (see
 * `isWirePglite`); `options` carries per-query parsers when the instance lacks them.
 *
 * @internal
 */
export const pgliteRunner = (target: Target, options: QueryOptions | undefined): Runner => {
  const raw = (sql: string, params: ReadonlyArray<unknown>): Promise<unknown> =>
    params.length === 0 ? target.exec(sql, options) : target.query(sql, mutable(params), options)
  const arrays: QueryOptions = { ...options, rowMode: "array" }
  return {
    rows: async (sql, params, kind) => {
      if (kind === "arrays") return (await target.query(sql, mutable(params), arrays)).rows
      return params.length === 0
        ? rowsOf(await target.exec(sql, options))
        : (await target.query(sql, mutable(params), options)).rows
    },
    raw
  }
}

/**
 * A runner over PGlite's wire protocol with prepared statements (see `Wire`); `executeRaw`
 * still goes through PGlite's API, which builds its result objects.
 *
 * @internal
 */
export const wireRunner = (
  wire: Wire,
  target: Target,
  options: {
    readonly inTransaction: boolean
    readonly prepare: boolean
    readonly raw: QueryOptions
    readonly transaction?: WireTransaction | undefined
  }
): Runner => {
  const { inTransaction, prepare, transaction } = options
  const modes: Record<RowsKind, RunMode> = {
    objects: { inTransaction, arrays: false, prepare, transaction },
    arrays: { inTransaction, arrays: true, prepare, transaction },
    unprepared: { inTransaction, arrays: false, prepare: false, transaction }
  }
  return {
    rows: (sql, params, kind) => wire.run(sql, params, modes[kind]),
    raw: (sql, params) =>
      params.length === 0 ? target.exec(sql, options.raw) : target.query(sql, mutable(params), options.raw),
    queue: transaction === undefined ? undefined : (sql) => {
      transaction.queued.push(sql)
    }
  }
}

/**
 * An `@effect/sql` connection over a `Runner`.
 *
 * @internal
 */
export const makeConnection = (runner: Runner): Connection => {
  const run = (
    sql: string,
    params: ReadonlyArray<unknown>,
    kind: RowsKind,
    transformRows: TransformRows
  ): Effect.Effect<ReadonlyArray<unknown>, SqlError> =>
    Effect.tryPromise({
      try: transformRows === undefined
        ? () => runner.rows(sql, params, kind)
        : async () => transformRows(await runner.rows(sql, params, kind) as Rows),
      catch: failed
    })

  const execute = (sql: string, params: ReadonlyArray<unknown>, transformRows: TransformRows) =>
    run(sql, params, "objects", transformRows)

  const connection: Connection = {
    execute,
    executeUnprepared: (sql, params, transformRows) => run(sql, params, "unprepared", transformRows),
    executeRaw: (sql, params) => Effect.tryPromise({ try: () => runner.raw(sql, params), catch: failed }),
    executeValues: (sql, params) =>
      run(sql, params, "arrays", undefined) as Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError>,
    executeStream: (sql, params, transformRows) =>
      // PGlite hands back whole result sets (it runs in-process, there is no socket to
      // backpressure), so the stream emits the materialized rows in chunks.
      Stream.flatMap(
        Stream.fromEffect(execute(sql, params, transformRows)),
        (rows) => Stream.fromIterable(rows as Rows),
        { concurrency: 1 }
      )
  }
  return connection
}

type Rows = ReadonlyArray<Record<string, unknown>>
type TransformRows = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

const failed = (cause: unknown) => toSqlError(cause, "Failed to execute statement")

// PGlite only reads the parameters (its signature asks for a mutable array): no copy per query.
const mutable = (params: ReadonlyArray<unknown>): Array<unknown> => params as Array<unknown>

const rowsOf = (results: ReadonlyArray<Results>): ReadonlyArray<unknown> => {
  // Like `pg`: one statement gives its rows, several (simple protocol) give one array each.
  if (results.length === 1) return results[0]!.rows
  return results.map((result) => result.rows)
}
