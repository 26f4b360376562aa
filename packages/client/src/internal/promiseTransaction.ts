/**
 * The transaction handle and context a promise action's code is given: `tx.query` runs SQL on
 * the connection of the action's transaction (the `SqlClient` and `TransactionConnection` in
 * the action's Effect context, captured as a `Runtime`), one statement at a time in the order
 * they were called; `ctx` reads the action's frozen time, seeded `Random` and `ActionIds`.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Random from "effect/Random"
import * as Runtime from "effect/Runtime"
import type { ActionIds } from "@reprise/core"
import { RepriseError } from "./promiseErrors.js"

/** The transaction a promise action runs in. */
export interface Transaction {
  /**
   * Runs one SQL statement (`$1`, `$2`, ... for `params`) in the action's transaction and
   * resolves with its rows. Statements run one at a time, in the order they were called.
   * Rejects with a `RepriseError` tagged `"SqlError"` (its cause the `SqlError`, with the
   * SQLSTATE), or `"TransactionClosed"` when called after the action has returned.
   */
  readonly query: <Row extends object = Record<string, unknown>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Promise<ReadonlyArray<Row>>
}

/** What a promise action reads instead of the clock, `Math.random` and random ids (R-ACT-3). */
export interface ActionContext {
  /** The id of this action (the same on every replay). */
  readonly actionId: string
  /** The time the action was first executed, in epoch milliseconds; frozen, the same on every replay. */
  readonly now: () => number
  /** A number in [0, 1) from a generator seeded by the action id: the same sequence on every replay. */
  readonly random: () => number
  /**
   * A UUID derived from the action id and `key`, the same on every replay: give each row the
   * action creates its own key (`"todo"`, `"item:3"`). Without a key, the n-th keyless call
   * gets the n-th id of a sequence, which is stable as long as the calls come in the same order.
   */
  readonly id: (key?: string) => string
}

/** The handle, and what the action's Effect needs to close it. */
export interface OpenTransaction {
  readonly tx: Transaction
  /**
   * Refuses further statements, cancels those not yet started and waits for the one running.
   * Resolves with what the action left behind.
   */
  readonly close: () => Promise<{
    /** Statements called but not finished when the action returned (it did not await them). */
    readonly unfinished: ReadonlyArray<string>
    /** The first statement that failed (it aborted the transaction, even if the code caught it). */
    readonly failure: SqlError | undefined
  }>
}

/** Opens the handle over the action's `sql` and the `runtime` of its transaction. */
export const open = (tag: string, sql: SqlClient.SqlClient, runtime: Runtime.Runtime<never>): OpenTransaction => {
  const runExit = Runtime.runPromiseExit(runtime)
  let closed = false
  let tail: Promise<void> = Promise.resolve()
  let failure: SqlError | undefined
  const unfinished = new Set<{ readonly sql: string }>()

  const closedError = (text: string) =>
    new RepriseError({
      tag: "TransactionClosed",
      message: `Action ${JSON.stringify(tag)} ran a statement after it returned ` +
        `(${JSON.stringify(text.slice(0, 200))}): its transaction is over, so the statement was not run. ` +
        `Await every tx.query(...) inside the action, and do not keep tx for later.`
    })

  const query = <Row extends object>(text: string, params: ReadonlyArray<unknown> = []): Promise<ReadonlyArray<Row>> => {
    if (closed) return Promise.reject(closedError(text))
    const entry = { sql: text }
    unfinished.add(entry)
    const result = tail.then(async (): Promise<ReadonlyArray<Row>> => {
      // Cancelled by close(): the transaction is ending or over, and this connection may be
      // outside it by the time the statement would reach the database.
      if (closed) throw closedError(text)
      const exit = await runExit(sql.unsafe<Row>(text, params))
      if (Exit.isSuccess(exit)) return exit.value
      const cause = Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.squash(exit.cause))
      if (cause instanceof SqlError) {
        failure ??= cause
        throw new RepriseError({ tag: "SqlError", message: cause.message, cause })
      }
      throw RepriseError.from(cause)
    }).finally(() => unfinished.delete(entry))
    tail = result.then(() => undefined, () => undefined)
    return result
  }

  return {
    tx: { query },
    close: async () => {
      const left = [...unfinished].map((entry) => entry.sql)
      closed = true
      await tail
      return { unfinished: left, failure }
    }
  }
}

/** The context over the action's ids, frozen time and seeded random generator. */
export const context = (ids: ActionIds.ActionIdsShape, now: number, random: Random.Random): ActionContext => {
  let keyless = 0
  return {
    actionId: ids.actionId,
    now: () => now,
    random: () => Effect.runSync(random.next),
    id: (key) => ids.id(key ?? `#${++keyless}`)
  }
}
