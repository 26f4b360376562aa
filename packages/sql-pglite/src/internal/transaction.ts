import type { PGliteInterface, Transaction } from "@electric-sql/pglite"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { toSqlError } from "./errors.js"

const ROLLBACK = Symbol.for("@reprise/sql-pglite/rollback")

/**
 * An open PGlite transaction held across Effect code.
 *
 * PGlite has a single connection and guards it with a transaction mutex: `pglite.query` and
 * `pglite.exec` wait while a `pglite.transaction(...)` callback runs. Keeping that callback
 * pending for the whole Effect transaction is what guarantees that no other fiber's statement
 * (nor a live query, nor any other PGlite user) lands inside it.
 *
 * @internal
 */
export interface OpenTransaction {
  readonly tx: Transaction
  /** Commits; fails with the database's error when COMMIT does. */
  readonly commit: Effect.Effect<void, SqlError>
  /** Rolls back; never fails (a failed ROLLBACK leaves nothing committed either). */
  readonly rollback: Effect.Effect<void>
}

/** @internal */
export const openTransaction = (pglite: PGliteInterface): Effect.Effect<OpenTransaction, SqlError> =>
  Effect.async<OpenTransaction, SqlError>((resume) => {
    let settle: (commit: boolean) => void = () => {}
    const finished = new Promise<void>((resolve, reject) => {
      settle = (commit) => (commit ? resolve() : reject(ROLLBACK))
    })
    let opened = false
    const outcome = pglite.transaction(async (tx) => {
      opened = true
      resume(Effect.succeed({ tx, commit, rollback }))
      await finished
    })
    const commit = Effect.tryPromise({
      try: () => {
        settle(true)
        return outcome
      },
      catch: (cause) => toSqlError(cause, "Failed to commit transaction")
    })
    const rollback = Effect.promise(() => {
      settle(false)
      return outcome.then(() => undefined, () => undefined)
    })
    outcome.catch((cause: unknown) => {
      if (!opened) resume(Effect.fail(toSqlError(cause, "Failed to begin transaction")))
    })
  })
