import type { ParserOptions, PGliteInterface, SerializerOptions } from "@electric-sql/pglite"
import { type messages, protocol, types } from "@electric-sql/pglite"
import { globalValue } from "effect/GlobalValue"
import { decode, type Decoded, type ParserLookup } from "./decode.js"

/**
 * The members of an in-process `PGlite` that its own `query` is built on and that the wire
 * path needs beyond `PGliteInterface`. (`PGliteWorker` has most of them too, but its
 * `execProtocolStream` drops the options and returns structured clones; it keeps using
 * `query`/`exec`.)
 *
 * @internal
 */
export interface WireMembers {
  execProtocolRawSync(message: Uint8Array): Uint8Array
  readonly parsers: Readonly<Record<string, (value: string, typeId: number) => unknown>>
  readonly serializers: Readonly<Record<string, (value: never) => string>>
  execProtocolStream(
    message: Uint8Array,
    options: { readonly syncToFs: boolean; readonly throwOnError: boolean }
  ): Promise<Array<messages.BackendMessage>>
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>
  _checkReady(): Promise<void>
}

/** @internal */
export type WirePglite = PGliteInterface & WireMembers

/** @internal */
export const isWirePglite = (pglite: PGliteInterface): pglite is WirePglite =>
  "execProtocolRawSync" in pglite && typeof pglite.execProtocolRawSync === "function" &&
  "execProtocolStream" in pglite && typeof pglite.execProtocolStream === "function" &&
  "_runExclusiveTransaction" in pglite && typeof pglite._runExclusiveTransaction === "function" &&
  "_checkReady" in pglite && typeof pglite._checkReady === "function" &&
  "parsers" in pglite && typeof pglite.parsers === "object" && pglite.parsers !== null &&
  "serializers" in pglite && typeof pglite.serializers === "object" && pglite.serializers !== null

/** How a statement runs: inside the connection's held transaction or not, rows as arrays. @internal */
export interface RunMode {
  readonly inTransaction: boolean
  readonly arrays: boolean
  /** Keep the statement prepared for the next execution of the same SQL text. */
  readonly prepare: boolean
  /** The held transaction the statement runs in, whose BEGIN may not have been sent yet. */
  readonly transaction?: WireTransaction | undefined
}

/**
 * A transaction held over the wire. Its BEGIN is sent lazily, in front of its first statement
 * in the same exchange (`begun` turns true once Postgres is in the block), so a transaction
 * costs no exchange of its own to open and an empty one none at all. Statements queued on it
 * (see `Runner.queue`) ride the same way, after BEGIN, ahead of the next statement or COMMIT.
 *
 * @internal
 */
export interface WireTransaction {
  begun: boolean
  /** Parameterless statements waiting to go ahead of the transaction's next exchange. */
  queued: Array<string>
  /** The first failure of a queued statement: a COMMIT that it turned into a rollback reports it. */
  failed: messages.DatabaseError | undefined
}

/** A new held transaction: nothing sent, nothing queued. @internal */
export const wireTransaction = (): WireTransaction => ({ begun: false, queued: [], failed: undefined })

/**
 * Statements over PGlite's wire protocol, one round trip into the engine per execution.
 *
 * `PGlite.query` sends PARSE, DESCRIBE, BIND, DESCRIBE, EXECUTE and SYNC as six separate calls
 * and plans the statement every time. Here each SQL text with parameters is prepared once as a
 * named statement (its parameter types and result columns learned from one DESCRIBE), and each
 * execution sends BIND, EXECUTE and SYNC together. Parameterless statements use the simple
 * protocol (several statements allowed, as with `pg`) in one call.
 *
 * Prepared statements are per PGlite session, so they are shared by every client over the same
 * instance. A statement's cached plan goes stale when the schema changes: any command other
 * than plain DML and transaction control (CREATE, ALTER, DROP, DO, SET, DISCARD, ...) seen here
 * forgets them all, again when a transaction that ran one ends (its rollback may undo it), and
 * an execution that fails because its statement went stale anyway (DDL issued around this
 * client) is re-prepared and retried once when no transaction block is open.
 *
 * @internal
 */
export interface Wire {
  readonly run: (sql: string, params: ReadonlyArray<unknown>, mode: RunMode) => Promise<ReadonlyArray<unknown>>
  /**
   * PGlite-shaped results, as `query` (with parameters: one `Results`) or `exec` (without:
   * one per statement) return them, for `executeRaw` inside a transaction this client holds.
   */
  readonly raw: (sql: string, params: ReadonlyArray<unknown>, mode: RunMode) => Promise<RawResults | Array<RawResults>>
  /**
   * Ends a held transaction whose PGlite transaction mutex the caller holds (nothing to send
   * if its BEGIN never was). It flushes to storage, as PGlite does at the end of its own
   * transactions; a COMMIT that Postgres turned into a rollback (a statement in the
   * transaction failed) fails, as PGlite's `transaction()` does.
   */
  readonly end: (transaction: WireTransaction, command: "COMMIT" | "ROLLBACK") => Promise<void>
  /** Called after a held transaction commits or rolls back. */
  readonly transactionEnded: () => void
}

/** What PGlite's `query` returns for one statement. @internal */
export interface RawResults {
  readonly rows: Array<unknown>
  readonly fields: Array<{ readonly name: string; readonly dataTypeID: number }>
  readonly command: string
  readonly affectedRows: number
  readonly rowCount?: number
}

/** @internal */
export const makeWire = (
  pglite: WirePglite,
  options: { readonly parsers: ParserOptions; readonly serializers: SerializerOptions | undefined }
): Wire => {
  const cache = cacheOf(pglite)
  const parserFor: ParserLookup = (oid) => options.parsers[oid] ?? pglite.parsers[oid] ?? types.parsers[oid]
  const serializers = options.serializers
  const serialize = (value: unknown, oid: number | undefined): string | null => {
    if (value === null || value === undefined) return null
    const serializer = (oid === undefined ? undefined : serializers?.[oid] ?? pglite.serializers[oid]) as
      | ((value: unknown) => string)
      | undefined
    return serializer === undefined ? String(value) : serializer(value)
  }

  /**
   * One round trip. `ahead` is what the message starts with for its transaction (its BEGIN,
   * its queued statements): their results are dropped, a queued statement's failure is
   * reported as its own, and the transaction counts as begun once Postgres is in the block.
   */
  const exchange = async (
    message: Uint8Array,
    syncToFs: boolean,
    fields?: Fields,
    describe = false,
    ahead?: Ahead
  ): Promise<Decoded> => {
    const decoded = decode(
      await pglite.execProtocolStream(message, { syncToFs, throwOnError: false }),
      parserFor,
      fields,
      describe
    )
    if (ahead !== undefined) {
      // Each queued statement is a simple query, ended by its own ReadyForQuery, as is BEGIN in
      // its simple form; the extended BEGIN is one completed statement with none. Their results
      // are the sets completed by the last of those ReadyForQuery.
      const simpleBegin = ahead.begin && message[0] === QUERY
      const readies = (simpleBegin ? 1 : 0) + ahead.queued.length
      const count = readies === 0 ? 1 : decoded.ready[readies - 1] ?? decoded.sets.length
      const error = decoded.error
      if (error !== undefined) {
        // A failed extended BEGIN made Postgres skip everything up to the SYNC.
        const beginFailed = ahead.begin && (simpleBegin ? decoded.errorAfter.ready === 0 : decoded.errorAfter.sets === 0)
        const queuedAt = decoded.errorAfter.ready - (simpleBegin ? 1 : 0)
        if (!beginFailed && queuedAt >= 0 && queuedAt < ahead.queued.length) {
          withStatement(error, ahead.queued[queuedAt]!, undefined)
          ahead.transaction.failed ??= error
        }
      }
      decoded.sets.splice(0, count)
      decoded.described?.splice(0, count)
      if (ahead.begin && decoded.status !== "I") ahead.transaction.begun = true
    }
    if (decoded.schemaChanged || (cache.dirty && decoded.rolledBack)) cache.forgetAll()
    if (decoded.schemaChanged && decoded.status !== "I") cache.dirty = true
    else if (cache.dirty && decoded.status === "I") {
      cache.forgetAll()
      cache.dirty = false
    }
    return decoded
  }

  const prepare = async (sql: string, name: string, ahead: Ahead | undefined): Promise<Prepared> => {
    const decoded = await exchange(
      concat([
        ...cache.takeClosing(),
        ...aheadMessages(ahead, BEGIN_EXTENDED),
        protocol.serialize.parse({ name, text: sql }),
        describe(name),
        SYNC
      ]),
      false,
      undefined,
      false,
      ahead
    )
    if (decoded.error !== undefined) throw withStatement(decoded.error, sql, [])
    const prepared: Prepared = { name, paramTypes: decoded.paramTypes, fields: decoded.fields, used: 0 }
    if (name !== "") cache.remember(sql, prepared)
    return prepared
  }

  const extended = async (
    sql: string,
    params: ReadonlyArray<unknown>,
    mode: RunMode,
    retried: boolean,
    describe = false
  ): Promise<Decoded> => {
    const cached = mode.prepare ? cache.lookup(sql) : undefined
    // What the transaction has to send first (its BEGIN, queued statements) goes with the
    // PARSE when there is one, ahead of it: queued statements go over the simple protocol,
    // which drops the unnamed statement, so they must not come between a PARSE and its BIND.
    const first = ahead(mode)
    const prepared = cached ?? (await prepare(sql, mode.prepare ? cache.nextName() : "", first))
    const values = new Array<string | null>(params.length)
    for (let i = 0; i < params.length; i++) values[i] = serialize(params[i], prepared.paramTypes[i])
    const execution = bindExecuteSync(prepared.name, values)
    const carried = cached === undefined ? undefined : first
    const decoded = await exchange(
      cache.hasClosing || carried !== undefined
        ? concat([...cache.takeClosing(), ...aheadMessages(carried, BEGIN_EXTENDED), execution])
        : execution,
      !mode.inTransaction,
      { fields: prepared.fields, arrays: mode.arrays },
      describe,
      carried
    )
    if (decoded.error !== undefined) {
      if (cached !== undefined && STALE_ROUTINES.has(decoded.error.routine ?? "")) {
        cache.forget(sql, prepared)
        // Outside a transaction block nothing else was undone by the failure: try once more.
        if (!retried && decoded.status === "I") return extended(sql, params, mode, true, describe)
      }
      throw withStatement(decoded.error, sql, params)
    }
    return decoded
  }

  const simple = async (sql: string, mode: RunMode, describe = false): Promise<Decoded> => {
    const first = ahead(mode)
    // BEGIN as a query of its own, so that it runs even if the statement's text does not parse
    // (which then aborts the transaction, as it would have with BEGIN sent first). BEGIN only
    // fails in a session whose transaction is already aborted, where the statement fails too.
    const message = protocol.serialize.query(sql)
    const decoded = await exchange(
      first === undefined ? message : concat([...aheadMessages(first, BEGIN_QUERY), message]),
      !mode.inTransaction,
      undefined,
      describe,
      first
    )
    if (decoded.error !== undefined) throw withStatement(decoded.error, sql, undefined)
    return decoded
  }

  /**
   * Runs `go` alone on the session. Inside a held transaction its owner already has PGlite's
   * transaction mutex; otherwise take it, as `pglite.query` does, so the statement never lands
   * inside someone's transaction. The query mutex orders the protocol messages.
   */
  const exclusively = <A>(inTransaction: boolean, go: () => Promise<A>): Promise<A> => {
    const exclusive = inTransaction
      ? () => pglite.runExclusive(go)
      : () => pglite._runExclusiveTransaction(() => pglite.runExclusive(go))
    return pglite.ready ? exclusive() : pglite._checkReady().then(exclusive)
  }

  return {
    run: (sql, params, mode) =>
      exclusively(mode.inTransaction, async () => {
        if (params.length === 0 && !mode.arrays) {
          const { sets } = await simple(sql, mode)
          // Like `pg`: one statement gives its rows, several give one array each.
          return sets.length === 1 ? sets[0]! : sets.length === 0 ? [] : sets
        }
        return (await extended(sql, params, mode, false)).sets[0] ?? []
      }),
    raw: (sql, params, mode) =>
      exclusively(mode.inTransaction, async () => {
        if (params.length === 0) return rawResults(await simple(sql, mode, true))
        const results = rawResults(await extended(sql, params, { ...mode, arrays: false }, false, true))
        return results[0] ?? EMPTY_RESULTS
      }),
    end: (transaction, command) =>
      exclusively(true, async () => {
        // Queued statements go with the COMMIT (and, if nothing ran before them, with the
        // BEGIN too); a rollback drops them unsent.
        const first = command === "COMMIT" && transaction.queued.length > 0 ? ahead({ transaction }) : undefined
        const failed = transaction.failed
        transaction.queued = []
        transaction.failed = undefined
        if (!transaction.begun && first === undefined) return
        transaction.begun = false
        const decoded = await exchange(
          command === "COMMIT" ? concat([...aheadMessages(first, BEGIN_QUERY), COMMIT]) : ROLLBACK,
          true,
          undefined,
          false,
          first
        )
        if (decoded.error !== undefined) throw withStatement(decoded.error, command, undefined)
        if (command === "COMMIT" && decoded.rolledBack) {
          // A queued statement that failed where nobody saw it (its exchange's statement was
          // caught) is the cause; report it rather than only the rollback.
          if (failed !== undefined) throw failed
          throw new Error("COMMIT rolled the transaction back instead: a statement in it had failed")
        }
      }),
    transactionEnded: () => {
      if (cache.dirty) {
        cache.forgetAll()
        cache.dirty = false
      }
    }
  }
}

/** PGlite's result objects from a decoded exchange (affected rows accumulate, as PGlite counts them). */
const rawResults = (decoded: Decoded): Array<RawResults> => {
  const out: Array<RawResults> = []
  let affectedRows = 0
  decoded.sets.forEach((rows, i) => {
    const described = decoded.described?.[i]
    const tag = described?.command ?? ""
    const words = tag.split(" ")
    const command = words[0] ?? ""
    const count = parseInt(words[words.length - 1] ?? "", 10)
    if (COUNTED.has(command)) affectedRows += count
    const fields = (described?.fields ?? []).map((field) => ({ name: field.name, dataTypeID: field.dataTypeID }))
    out.push(Number.isNaN(count) ? { rows, fields, command, affectedRows } : { rows, fields, command, affectedRows, rowCount: count })
  })
  return out.length === 0 ? [EMPTY_RESULTS] : out
}

const COUNTED = new Set(["INSERT", "UPDATE", "DELETE", "COPY", "MERGE"])
const EMPTY_RESULTS: RawResults = { rows: [], fields: [], command: "", affectedRows: 0 }

/** Errors that mean a prepared statement went stale, by the Postgres routine raising them. */
const STALE_ROUTINES = new Set([
  "RevalidateCachedQuery", // cached plan must not change result type
  "FetchPreparedStatement", // prepared statement does not exist (DEALLOCATE / DISCARD)
  "transformAssignedExpr" // a parameter's type no longer fits its column
])

const CAPACITY = 256
/** The type byte of a simple query message ('Q'). */
const QUERY = 0x51
const SYNC = protocol.serialize.sync()
const BEGIN_QUERY = protocol.serialize.query("BEGIN")
const COMMIT = protocol.serialize.query("COMMIT")
const ROLLBACK = protocol.serialize.query("ROLLBACK")

/** What a message starts with for its held transaction: its BEGIN (if not sent yet), its queued statements. */
interface Ahead {
  readonly transaction: WireTransaction
  readonly begin: boolean
  readonly queued: ReadonlyArray<string>
}

/**
 * Takes what the next exchange of the statement's held transaction must send first, if
 * anything: the queue is emptied, since the caller sends it.
 */
const ahead = (mode: Pick<RunMode, "transaction">): Ahead | undefined => {
  const transaction = mode.transaction
  if (transaction === undefined || (transaction.begun && transaction.queued.length === 0)) return undefined
  const queued = transaction.queued
  if (queued.length > 0) transaction.queued = []
  return { transaction, begin: !transaction.begun, queued }
}

/** The messages for `ahead`: BEGIN in the given form, then each queued statement as a simple query. */
const aheadMessages = (ahead: Ahead | undefined, begin: Uint8Array): Array<Uint8Array> => {
  if (ahead === undefined) return NONE
  const messages = ahead.begin ? [begin] : []
  for (const sql of ahead.queued) messages.push(protocol.serialize.query(sql))
  return messages
}

type Fields = Parameters<typeof decode>[2]

interface Prepared {
  readonly name: string
  readonly paramTypes: ReadonlyArray<number>
  readonly fields: ReadonlyArray<messages.Field> | undefined
  used: number
}

/** The named statements prepared on one PGlite session; the least recently used is evicted. */
class StatementCache {
  private readonly statements = new Map<string, Prepared>()
  private closing: Array<string> = []
  private counter = 0
  private clock = 0
  /** A schema change happened inside a transaction block that has not ended yet. */
  dirty = false

  nextName(): string {
    return `reprise_${++this.counter}`
  }

  lookup(sql: string): Prepared | undefined {
    const prepared = this.statements.get(sql)
    // A use stamp instead of re-inserting into the Map: hits stay one lookup, evictions scan.
    if (prepared !== undefined) prepared.used = ++this.clock
    return prepared
  }

  remember(sql: string, prepared: Prepared): void {
    prepared.used = ++this.clock
    this.statements.set(sql, prepared)
    if (this.statements.size <= CAPACITY) return
    let oldest: [string, Prepared] | undefined
    for (const entry of this.statements) if (oldest === undefined || entry[1].used < oldest[1].used) oldest = entry
    this.forget(oldest![0], oldest![1])
  }

  forget(sql: string, prepared: Prepared): void {
    if (this.statements.get(sql) === prepared) this.statements.delete(sql)
    this.closing.push(prepared.name)
  }

  forgetAll(): void {
    for (const prepared of this.statements.values()) this.closing.push(prepared.name)
    this.statements.clear()
  }

  /** CLOSE messages for forgotten statements, sent ahead of the next extended exchange. */
  takeClosing(): Array<Uint8Array> {
    if (this.closing.length === 0) return NONE
    const closes = this.closing.map((name) => protocol.serialize.close({ type: "S", name }))
    this.closing = []
    return closes
  }

  get hasClosing(): boolean {
    return this.closing.length > 0
  }
}

const NONE: Array<Uint8Array> = []

// One cache per PGlite instance: its prepared statements belong to its single session.
const caches = globalValue("@reprise/sql-pglite/StatementCaches", () => new WeakMap<object, StatementCache>())

const cacheOf = (pglite: object): StatementCache => {
  let cache = caches.get(pglite)
  if (cache === undefined) {
    cache = new StatementCache()
    caches.set(pglite, cache)
  }
  return cache
}

const encoder = new TextEncoder()
let scratch = new Uint8Array(1024)
let scratchView = new DataView(scratch.buffer)

/**
 * BIND (all parameters and results as text), EXECUTE and SYNC as one message, written straight
 * into one buffer: what `serialize.bind` + `execute` + `sync` produce, minus their per-message
 * buffers and the copy that joins them.
 */
export const bindExecuteSync = (statement: string, values: ReadonlyArray<string | null>): Uint8Array => {
  // Worst case: three UTF-8 bytes per UTF-16 unit.
  let bound = 32 + statement.length * 3
  for (const value of values) bound += 4 + (value === null ? 0 : value.length * 3)
  if (scratch.length < bound) {
    scratch = new Uint8Array(bound * 2)
    scratchView = new DataView(scratch.buffer)
  }
  const buffer = scratch
  const view = scratchView
  buffer[0] = 0x42 // B
  let offset = 5
  buffer[offset++] = 0 // unnamed portal
  offset = writeUtf8(statement, buffer, offset)
  buffer[offset++] = 0
  view.setInt16(offset, 0) // no parameter format codes: all text
  view.setInt16(offset + 2, values.length)
  offset += 4
  for (const value of values) {
    if (value === null) {
      view.setInt32(offset, -1)
      offset += 4
    } else {
      const end = writeUtf8(value, buffer, offset + 4)
      view.setInt32(offset, end - offset - 4)
      offset = end
    }
  }
  view.setInt16(offset, 0) // no result format codes: all text
  offset += 2
  view.setInt32(1, offset - 1)
  buffer.set(EXECUTE_SYNC, offset)
  return buffer.slice(0, offset + EXECUTE_SYNC.length)
}

/** Writes `text` as UTF-8 at `offset` (ASCII inline, the rest by `TextEncoder`); returns the end. */
const writeUtf8 = (text: string, buffer: Uint8Array, offset: number): number => {
  const length = text.length
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0x80) return offset + encoder.encodeInto(text.slice(i), buffer.subarray(offset)).written
    buffer[offset++] = code
  }
  return offset
}

const describe = (name: string) => protocol.serialize.describe({ type: "S", name })

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const EXECUTE_SYNC = concat([protocol.serialize.execute(), SYNC])

/**
 * BEGIN as an unnamed statement, ahead of a statement's own extended messages and before their
 * SYNC: if it fails, Postgres skips the rest up to the SYNC, so nothing runs outside the block.
 */
const BEGIN_EXTENDED = concat([
  protocol.serialize.parse({ text: "BEGIN" }),
  protocol.serialize.bind({}),
  protocol.serialize.execute()
])

/**
 * Like PGlite's own errors: the statement and its parameters ride on the database error. An
 * error already attributed (to a queued statement that went ahead of this one) keeps its own.
 */
const withStatement = (error: messages.DatabaseError, query: string, params: ReadonlyArray<unknown> | undefined) =>
  "query" in error ? error : Object.assign(error, { query, params })
