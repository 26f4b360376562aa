import type { PGliteInterface, Transaction } from "@electric-sql/pglite"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { toSqlError } from "./errors.js"
import { type Wire, type WirePglite, type WireTransaction, wireTransaction } from "./wire.js"

const ROLLBACK = Symbol.for("@reprise/sql-pglite/rollback")

/** What a transaction's `executeRaw` runs on: PGlite's own `query`/`exec` or the wire's. @internal */
export type RawTarget = Pick<Transaction, "query" | "exec">

/**
 * An open PGlite transaction held across Effect code.
 *
 * PGlite has a single connection and guards it with a transaction mutex: `pglite.query` and
 * `pglite.exec` wait while a transaction holds it. Holding that mutex for the whole Effect
 * transaction is what guarantees that no other fiber's statement (nor a live query, nor any
 * other PGlite user) lands inside it.
 *
 * @internal
 */
export interface OpenTransaction {
  /** Where `executeRaw` runs inside the transaction. */
  readonly target: RawTarget
  /** For a wire transaction: its state, which the statements in it share. */
  readonly transaction?: WireTransaction
  /** Commits; fails with the database's error when COMMIT does. */
  readonly commit: Effect.Effect<void, SqlError>
  /** Rolls back; never fails (a failed ROLLBACK leaves nothing committed either). */
  readonly rollback: Effect.Effect<void>
}

/**
 * A transaction through PGlite's own `transaction()`, for instances without the wire members
 * (a `PGliteWorker`): its callback stays pending until `commit` or `rollback`.
 *
 * @internal
 */
export const openTransaction = (pglite: PGliteInterface): Effect.Effect<OpenTransaction, SqlError> =>
  Effect.async<OpenTransaction, SqlError>((resume) => {
    let settle: (commit: boolean) => void = () => {}
    const finished = new Promise<void>((resolve, reject) => {
      settle = (commit) => (commit ? resolve() : reject(ROLLBACK))
    })
    let opened = false
    const outcome = pglite.transaction(async (tx) => {
      opened = true
      resume(Effect.succeed({ target: tx, commit, rollback }))
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

/**
 * A transaction over the wire: it takes PGlite's transaction mutex as `transaction()` does,
 * but its BEGIN rides in front of its first statement and COMMIT or ROLLBACK is one exchange
 * (none if no statement ran), instead of each going through PGlite's `exec` (which
 * serializes, parses and flushes each one through its generic path: about as much time as a
 * whole small insert). Raw results inside it come from the wire too, shaped as PGlite's.
 *
 * @internal
 */
export const openWireTransaction = (pglite: WirePglite, wire: Wire): Effect.Effect<OpenTransaction, SqlError> =>
  Effect.async<OpenTransaction, SqlError>((resume) => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    let opened = false
    const transaction = wireTransaction()
    const end = (command: "COMMIT" | "ROLLBACK") => () => wire.end(transaction, command).finally(release)
    const commit = Effect.tryPromise({ try: end("COMMIT"), catch: (cause) => toSqlError(cause, "Failed to commit transaction") })
    const rollback = Effect.promise(() => end("ROLLBACK")().catch(() => undefined))
    const mode = { inTransaction: true, arrays: false, prepare: false, transaction } as const
    const target: RawTarget = {
      query: ((sql: string, params?: Array<unknown>) => wire.raw(sql, params ?? [], mode)) as RawTarget["query"],
      exec: ((sql: string) => wire.raw(sql, [], mode)) as RawTarget["exec"]
    }
    const hold = () =>
      pglite._runExclusiveTransaction(() => {
        opened = true
        resume(Effect.succeed({ target, transaction, commit, rollback }))
        return held
      })
    const outcome = pglite.ready ? hold() : pglite._checkReady().then(hold)
    outcome.catch((cause: unknown) => {
      if (!opened) resume(Effect.fail(toSqlError(cause, "Failed to begin transaction")))
    })
  })
