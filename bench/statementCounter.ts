import type { PGlite, Transaction } from "@electric-sql/pglite"

/**
 * Counts the SQL statements a client sends to a PGlite instance, as a server would count
 * statements from the network: each `query`/`exec` call is one, and so is each statement in a
 * protocol message a client sends directly (`execProtocolStream`: every simple `Query` and every
 * `Execute`; `@reprise/sql-pglite` sends its prepared statements that way, one bind + execute +
 * sync per call), including the BEGIN and COMMIT that `transaction()` sends. Protocol messages
 * PGlite sends inside its own `query`/`exec` are not counted again; neither are statements run
 * by triggers inside the database. Benchmark instrumentation only; it assumes one operation at
 * a time.
 */
export const countStatements = (pglite: PGlite): { readonly count: number } => {
  const counter = { count: 0 }
  let inside = 0
  const counted = <A extends ReadonlyArray<unknown>, R>(f: (...args: A) => Promise<R>) => (...args: A): Promise<R> => {
    counter.count++
    inside++
    let result: Promise<R>
    try {
      result = f(...args)
    } catch (error) {
      inside--
      throw error
    }
    return result.finally(() => {
      inside--
    })
  }
  const query = pglite.query.bind(pglite)
  const exec = pglite.exec.bind(pglite)
  const transaction = pglite.transaction.bind(pglite)
  const execProtocolStream = pglite.execProtocolStream.bind(pglite)
  const countTx = (tx: Transaction): Transaction =>
    Object.assign(Object.create(tx) as Transaction, {
      query: counted(tx.query.bind(tx) as (...args: Array<unknown>) => Promise<unknown>),
      exec: counted(tx.exec.bind(tx) as (...args: Array<unknown>) => Promise<unknown>)
    })
  Object.assign(pglite, {
    query: counted(query as (...args: Array<unknown>) => Promise<unknown>),
    exec: counted(exec as (...args: Array<unknown>) => Promise<unknown>),
    transaction: <T>(callback: (tx: Transaction) => Promise<T>) => transaction((tx) => callback(countTx(tx))),
    execProtocolStream: (...args: Parameters<PGlite["execProtocolStream"]>) => {
      if (inside === 0) counter.count += statementsIn(args[0])
      return execProtocolStream(...args)
    }
  })
  return counter
}

/** The `Query` ('Q') and `Execute` ('E') messages in a buffer of frontend protocol messages. */
const statementsIn = (message: Uint8Array): number => {
  let n = 0
  for (let i = 0; i + 5 <= message.length;) {
    const type = message[i]!
    const length = ((message[i + 1]! << 24) | (message[i + 2]! << 16) | (message[i + 3]! << 8) | message[i + 4]!) >>> 0
    if (type === 0x51 || type === 0x45) n++
    i += 1 + length
  }
  return n
}
