import type { PGlite, Transaction } from "@electric-sql/pglite"

/**
 * Counts the SQL statements sent to a PGlite instance, the way a network round trip would be
 * counted on a server: each `query`/`exec` call is one, and a `transaction()` adds its BEGIN
 * and COMMIT. Statements run by triggers inside the database are not round trips and are not
 * counted. Benchmark instrumentation only.
 */
export const countStatements = (pglite: PGlite): { readonly count: number } => {
  const counter = { count: 0 }
  const query = pglite.query.bind(pglite)
  const exec = pglite.exec.bind(pglite)
  const transaction = pglite.transaction.bind(pglite)
  const countTx = (tx: Transaction): Transaction => {
    const txQuery = tx.query.bind(tx)
    const txExec = tx.exec.bind(tx)
    return Object.assign(Object.create(tx) as Transaction, {
      query: (...args: Parameters<Transaction["query"]>) => {
        counter.count++
        return txQuery(...args)
      },
      exec: (...args: Parameters<Transaction["exec"]>) => {
        counter.count++
        return txExec(...args)
      }
    })
  }
  Object.assign(pglite, {
    query: (...args: Parameters<PGlite["query"]>) => {
      counter.count++
      return query(...args)
    },
    exec: (...args: Parameters<PGlite["exec"]>) => {
      counter.count++
      return exec(...args)
    },
    transaction: <T>(callback: (tx: Transaction) => Promise<T>) => {
      counter.count += 2
      return transaction((tx) => callback(countTx(tx)))
    }
  })
  return counter
}
