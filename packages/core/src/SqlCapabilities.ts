/**
 * What a SQL driver can do beyond `SqlClient`, declared by the driver's layer rather than
 * probed for: whether every statement runs in one database session, and whether a transaction
 * it holds can queue a statement ahead of its next exchange. Reprise uses them to save work on
 * an action's hot path (a prepared record statement, one exchange fewer per action); without
 * the service, it assumes neither (`none`), and everything still works, only with more
 * round trips.
 *
 * `@reprise/sql-pglite`'s layers provide it alongside `PgliteClient | SqlClient`.
 *
 * @example
 * ```ts
 * // A driver layer declares what it offers next to its client:
 * Layer.succeed(SqlCapabilities.SqlCapabilities, { singleSession: true, statementQueue: () => undefined })
 * // Reprise reads it, defaulting to none:
 * const capabilities = yield* SqlCapabilities.current
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * Queues a parameterless query (one or more statements, sent as one simple query) ahead of the
 * transaction's next exchange (its next statement, or its COMMIT), saving it an exchange of
 * its own. Its results are not returned. If it fails, the statement it went ahead of fails with
 * its error (the transaction is then aborted, so nothing after it takes effect), and so does
 * the COMMIT; a rollback drops it unsent.
 */
export type QueueStatement = (statement: string) => Effect.Effect<void>

/** The capabilities of the SQL client in context. */
export interface SqlCapabilitiesShape {
  /**
   * Every statement of the client runs in one database session (PGlite has one), so a
   * statement prepared once (`PREPARE`) stays prepared for all later ones. A pool has no such
   * guarantee: its connections may not have it.
   */
  readonly singleSession: boolean
  /**
   * The statement queue of a transaction connection (the `SqlClient.TransactionConnection`
   * in context) when the driver holds one for it, `undefined` otherwise.
   */
  readonly statementQueue: (connection: Connection) => QueueStatement | undefined
}

/** The capabilities a driver declares; absent, Reprise assumes `none`. */
export class SqlCapabilities extends Context.Tag("@reprise/core/SqlCapabilities")<SqlCapabilities, SqlCapabilitiesShape>() {}

/** No capability beyond `SqlClient`: many sessions, no statement queue. The default. */
export const none: SqlCapabilitiesShape = {
  singleSession: false,
  statementQueue: () => undefined
}

/** The capabilities in context, `none` when no driver declared any. */
export const current: Effect.Effect<SqlCapabilitiesShape> = Effect.map(
  Effect.serviceOption(SqlCapabilities),
  Option.getOrElse(() => none)
)

/**
 * The statement queue of the transaction in context, when there is a transaction and its
 * driver offers one.
 */
export const transactionQueue: Effect.Effect<Option.Option<QueueStatement>> = Effect.flatMap(
  Effect.serviceOption(SqlClient.TransactionConnection),
  (open) =>
    Option.isNone(open)
      ? Effect.succeed(Option.none())
      : Effect.map(current, (capabilities) => Option.fromNullable(capabilities.statementQueue(open.value[0])))
)
