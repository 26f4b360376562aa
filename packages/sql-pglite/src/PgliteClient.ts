/**
 * An `@effect/sql` driver for PGlite (Postgres compiled to WebAssembly, running in-process in
 * browsers and Node).
 *
 * It compiles statements exactly as `@effect/sql-pg` does and returns the same JavaScript
 * values as `pg`, so one query runs identically against the client's PGlite and the server's
 * Postgres. The layer provides both `PgliteClient` (with the PGlite instance, for live queries
 * and extensions) and the generic `SqlClient`, and declares what the driver offers beyond it
 * (`SqlCapabilities`: one session, a statement queue on the transactions it holds).
 *
 * @example
 * ```ts
 * import { PgliteClient } from "@reprise/sql-pglite"
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql`CREATE TABLE notes (id text PRIMARY KEY, title text)`
 *   yield* sql.withTransaction(sql`INSERT INTO notes ${sql.insert({ id: "n1", title: "Hello" })}`)
 *   return yield* sql<{ id: string; title: string }>`SELECT * FROM notes`
 * })
 *
 * Effect.runPromise(Effect.provide(program, PgliteClient.layer({})))
 * ```
 */
import type {
  Extensions,
  ParserOptions,
  PGliteInterface,
  PGliteOptions,
  SerializerOptions,
  Transaction
} from "@electric-sql/pglite"
import { PGlite } from "@electric-sql/pglite"
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlCapabilities } from "@reprise/core"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { makeCompiler as makeCompilerInternal, PgliteJson } from "./internal/compiler.js"
import type { Runner } from "./internal/connection.js"
import { makeConnection, pgliteRunner, wireRunner } from "./internal/connection.js"
import { toSqlError } from "./internal/errors.js"
import { makeListener } from "./internal/listen.js"
import type { OpenTransaction } from "./internal/transaction.js"
import { openTransaction, openWireTransaction } from "./internal/transaction.js"
import { pgCompatibleParsers } from "./internal/types.js"
import { isWirePglite, makeWire, type WireTransaction } from "./internal/wire.js"

/** @category type ids */
export const TypeId: unique symbol = Symbol.for("@reprise/sql-pglite/PgliteClient")

/** @category type ids */
export type TypeId = typeof TypeId

/**
 * The PGlite flavour of `SqlClient`: everything `SqlClient` does, plus the PGlite instance and
 * Postgres `LISTEN`/`NOTIFY`.
 *
 * @category models
 */
export interface PgliteClient extends Client.SqlClient {
  readonly [TypeId]: TypeId
  readonly config: PgliteClientConfig
  /** The PGlite instance, for live queries, extensions and `dumpDataDir`. */
  readonly pglite: PGliteInterface
  /** A JSON parameter (for `json`/`jsonb` columns); any JSON value, including arrays. */
  readonly json: (value: unknown) => Statement.Fragment
  /** Notifications on `channel` (case-sensitive, any characters) as a stream of payloads. */
  readonly listen: (channel: string) => Stream.Stream<string, SqlError>
  /** Sends `payload` on `channel`; listeners receive it when the current transaction commits. */
  readonly notify: (channel: string, payload: string) => Effect.Effect<void, SqlError>
  /**
   * What this client offers beyond `SqlClient`: PGlite has one session, and a transaction held
   * over PGlite's wire protocol can queue a statement ahead of its next exchange. The layers
   * provide it as `SqlCapabilities`, and so do the client's transactions, to the code they run.
   */
  readonly capabilities: SqlCapabilities.SqlCapabilitiesShape
}

/** @category tags */
export const PgliteClient = Context.GenericTag<PgliteClient>("@reprise/sql-pglite/PgliteClient")

/**
 * How to open PGlite and how to map names.
 *
 * @category models
 */
export interface PgliteClientConfig {
  /**
   * Where the database lives: omitted or `memory://` for in-memory, a directory path in Node,
   * `idb://name` for IndexedDB in browsers.
   */
  readonly dataDir?: string | undefined
  /** PGlite extensions, e.g. `{ live }` from `@electric-sql/pglite/live`. */
  readonly extensions?: Extensions | undefined
  /** Restore the database from a `dumpDataDir()` tarball instead of running initdb. */
  readonly loadDataDir?: Blob | File | undefined
  /** Flush to storage asynchronously after each query (faster, may lose the last writes). */
  readonly relaxedDurability?: boolean | undefined
  readonly username?: string | undefined
  readonly database?: string | undefined
  readonly debug?: PGliteOptions["debug"] | undefined
  readonly initialMemory?: number | undefined
  /** Extra result parsers by type OID, applied over the `pg`-compatible defaults. */
  readonly parsers?: ParserOptions | undefined
  /** Extra parameter serializers by type OID. */
  readonly serializers?: SerializerOptions | undefined
  /**
   * Keep each parameterized SQL text prepared (a named statement, up to 256, least recently
   * used closed first) so that later executions skip parsing and planning. Default `true`;
   * turn it off if other code changes the schema of this instance behind the client's back
   * while its transactions are open (see the README).
   */
  readonly preparedStatements?: boolean | undefined

  readonly spanAttributes?: Record<string, unknown> | undefined
  readonly transformResultNames?: ((str: string) => string) | undefined
  readonly transformQueryNames?: ((str: string) => string) | undefined
  readonly transformJson?: boolean | undefined
}

/**
 * The statement compiler, identical in output to `@effect/sql-pg`'s (placeholders,
 * identifiers, `sql.insert`, `sql.update`, `sql.in`, ...), except that JSON parameters are
 * always sent as JSON text.
 *
 * @category constructors
 */
export const makeCompiler: (transform?: (_: string) => string, transformJson?: boolean) => Statement.Compiler =
  makeCompilerInternal

/**
 * Opens a PGlite database and wraps it; the database is closed when the scope closes.
 *
 * @category constructors
 */
export const make = (config: PgliteClientConfig): Effect.Effect<PgliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.flatMap(
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () => PGlite.create(pgliteOptions(config)),
        catch: (cause) => toSqlError(cause, "PgliteClient: failed to open the database")
      }),
      (pglite) => Effect.promise(() => (pglite.closed ? Promise.resolve() : pglite.close()))
    ),
    (pglite) => fromPglite(pglite, config)
  )

/**
 * Result parsers by type OID that make PGlite return what `pg` returns (see the package
 * README). Pass them when you create a PGlite instance yourself,
 * `PGlite.create({ parsers: PgliteClient.parsers })`, so `fromPglite` need not add them to
 * every query (which costs PGlite a copy of its parser table per query).
 *
 * @category constructors
 */
export const parsers: ParserOptions = pgCompatibleParsers

/**
 * Wraps a PGlite instance that the caller opened and will close (for example one shared with
 * a live-query UI). The `pg`-compatible result parsers are applied by the client (over the
 * instance's own), so the instance's defaults are left untouched for its other users.
 *
 * @category constructors
 */
export const fromPglite = (
  pglite: PGliteInterface,
  config: Omit<PgliteClientConfig, "dataDir" | "extensions" | "loadDataDir"> = {}
): Effect.Effect<PgliteClient, never, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const compiler = makeCompiler(config.transformQueryNames, config.transformJson)
    const { begin, runnerFor, transactionEnded } = yield* runners(pglite, config)
    const connection = makeConnection(runnerFor(pglite, false))
    // The statement queues of the transaction connections this client holds, by connection.
    const queues = new WeakMap<Connection, SqlCapabilities.QueueStatement>()
    const transactionConnection = (open: OpenTransaction): Connection => {
      const runner = runnerFor(open.target, true, open.transaction)
      const conn = makeConnection(runner)
      const queue = runner.queue
      if (queue !== undefined) queues.set(conn, (statement) => Effect.sync(() => queue(statement)))
      return conn
    }
    const capabilities: SqlCapabilities.SqlCapabilitiesShape = {
      singleSession: true,
      statementQueue: (conn) => queues.get(conn)
    }

    const spanAttributes: ReadonlyArray<readonly [string, unknown]> = [
      ...(config.spanAttributes ? Object.entries(config.spanAttributes) : []),
      ["db.system.name", "postgresql"],
      ["db.namespace", config.database ?? "postgres"],
      ["server.address", "pglite"]
    ]

    const openTransactions = new WeakMap<Connection, OpenTransaction>()
    const transactionOf = (conn: Connection) => {
      const open = openTransactions.get(conn)
      return open === undefined
        ? Effect.dieMessage("PgliteClient: a transaction connection lost its PGlite transaction")
        : Effect.succeed(open)
    }

    // A transaction holds PGlite's transaction mutex from `openTransaction` until `commit` or
    // `rollback` below, which `withTransaction` runs on every exit (it is uninterruptible
    // around them), so no scope is needed to release it.
    const inTransaction = Client.makeWithTransaction({
      transactionTag: Client.TransactionConnection,
      spanAttributes,
      acquireConnection: Effect.map(begin, (open) => {
        const conn = transactionConnection(open)
        openTransactions.set(conn, open)
        return [undefined, conn] as const
      }),
      // BEGIN is not ours to send: PGlite's `transaction()` has sent it, and over the wire it
      // rides with the transaction's first statement. Commit and rollback end either kind.
      begin: () => Effect.void,
      savepoint: (conn, id) => Effect.asVoid(conn.executeUnprepared(`SAVEPOINT effect_sql_${id}`, [], undefined)),
      commit: (conn) => Effect.flatMap(transactionOf(conn), (open) => Effect.ensuring(open.commit, transactionEnded)),
      rollback: (conn) => Effect.flatMap(transactionOf(conn), (open) => Effect.ensuring(open.rollback, transactionEnded)),
      rollbackSavepoint: (conn, id) =>
        Effect.asVoid(conn.executeUnprepared(`ROLLBACK TO SAVEPOINT effect_sql_${id}`, [], undefined))
    })
    // The code a transaction runs sees what its connection offers, however the layers that
    // built it were composed.
    const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
      inTransaction(Effect.provideService(effect, SqlCapabilities.SqlCapabilities, capabilities))

    const reserve = Effect.flatMap(
      Effect.acquireRelease(
        begin,
        (open) => Effect.ensuring(Effect.orElse(open.commit, () => open.rollback), transactionEnded)
      ),
      (open) => Effect.succeed(transactionConnection(open))
    )

    const base = yield* Client.make({
      acquirer: Effect.succeed(connection),
      transactionAcquirer: reserve,
      compiler,
      spanAttributes,
      transformRows: config.transformResultNames
        ? Statement.defaultTransforms(config.transformResultNames, config.transformJson).array
        : undefined
    })

    const client: PgliteClient = Object.assign(base, {
      [TypeId]: TypeId as TypeId,
      config,
      capabilities,
      pglite,
      withTransaction,
      reserve,
      json: (value: unknown) => PgliteJson(value),
      listen: makeListener(pglite),
      notify: (channel: string, payload: string) =>
        Effect.asVoid(base`SELECT pg_notify(${channel}, ${payload})`)
    })
    return client
  })

/**
 * How connections run statements: over PGlite's wire protocol with prepared statements when the
 * instance has the members PGlite's own `query` is built on, else through `query`/`exec`.
 */
const runners = (
  pglite: PGliteInterface,
  config: Omit<PgliteClientConfig, "dataDir" | "extensions" | "loadDataDir">
): Effect.Effect<{
  readonly runnerFor: (
    target: Pick<Transaction, "query" | "exec">,
    inTransaction: boolean,
    transaction?: WireTransaction
  ) => Runner
  /** Opens a transaction (holding PGlite's transaction mutex until it ends). */
  readonly begin: Effect.Effect<OpenTransaction, SqlError>
  readonly transactionEnded: Effect.Effect<void>
}> => {
  const parsers = { ...pgCompatibleParsers, ...config.parsers }
  if (isWirePglite(pglite)) {
    const wire = makeWire(pglite, { parsers, serializers: config.serializers })
    const raw = { parsers, ...(config.serializers === undefined ? {} : { serializers: config.serializers }) }
    const prepare = config.preparedStatements ?? true
    return Effect.succeed({
      runnerFor: (target, inTransaction, transaction) =>
        wireRunner(wire, target, { inTransaction, prepare, raw, transaction }),
      begin: openWireTransaction(pglite, wire),
      transactionEnded: Effect.sync(wire.transactionEnded)
    })
  }
  return Effect.map(parsesLikePg(pglite), (likePg) => {
    // Per-query parsers cost PGlite a copy of its whole parser table on every query, so they
    // are added only when the instance does not already parse like `pg` (checked once).
    const installed = likePg && hasParsers(pglite, config.parsers ?? {})
    const options = {
      ...(installed ? {} : { parsers }),
      ...(config.serializers === undefined ? {} : { serializers: config.serializers })
    }
    const plain = Object.keys(options).length === 0
    return {
      runnerFor: (target) => pgliteRunner(target, plain ? undefined : options),
      begin: openTransaction(pglite),
      transactionEnded: Effect.void
    }
  })
}

/** Whether the instance already returns `int8`, `date` and their arrays as `pg` does. */
const parsesLikePg = (pglite: PGliteInterface): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      const { rows } = await pglite.query<{ i: unknown; ia: unknown; d: unknown; da: unknown }>(
        "SELECT '9007199254740993'::int8 AS i, '{9007199254740993}'::int8[] AS ia, '2024-01-02'::date AS d, '{2024-01-02}'::date[] AS da"
      )
      const row = rows[0]
      const localMidnight = (value: unknown) =>
        value instanceof Date && value.getFullYear() === 2024 && value.getMonth() === 0 && value.getDate() === 2 &&
        value.getHours() === 0
      return row !== undefined && row.i === "9007199254740993" && Array.isArray(row.ia) &&
        row.ia[0] === "9007199254740993" && localMidnight(row.d) && Array.isArray(row.da) && localMidnight(row.da[0])
    } catch {
      return false
    }
  })

const hasParsers = (pglite: PGliteInterface, wanted: ParserOptions): boolean => {
  const installed: unknown = (pglite as { readonly parsers?: unknown }).parsers
  if (typeof installed !== "object" || installed === null) return false
  const table = installed as Record<string, unknown>
  return Object.entries(wanted).every(([oid, parser]) => table[oid] === parser)
}

const pgliteOptions = (config: PgliteClientConfig): PGliteOptions => {
  const options: { -readonly [K in keyof PGliteOptions]: PGliteOptions[K] } = {
    parsers: { ...pgCompatibleParsers, ...config.parsers }
  }
  if (config.dataDir !== undefined) options.dataDir = config.dataDir
  if (config.extensions !== undefined) options.extensions = config.extensions
  if (config.loadDataDir !== undefined) options.loadDataDir = config.loadDataDir
  if (config.relaxedDurability !== undefined) options.relaxedDurability = config.relaxedDurability
  if (config.username !== undefined) options.username = config.username
  if (config.database !== undefined) options.database = config.database
  if (config.debug !== undefined) options.debug = config.debug
  if (config.initialMemory !== undefined) options.initialMemory = config.initialMemory
  return options
}

const toContext = (client: PgliteClient) =>
  Context.make(PgliteClient, client).pipe(
    Context.add(Client.SqlClient, client),
    Context.add(SqlCapabilities.SqlCapabilities, client.capabilities)
  )

/**
 * Opens a PGlite database for the layer's lifetime; provides `PgliteClient`, `SqlClient` and
 * the driver's `SqlCapabilities`.
 *
 * @category layers
 */
export const layer = (
  config: PgliteClientConfig = {}
): Layer.Layer<PgliteClient | Client.SqlClient | SqlCapabilities.SqlCapabilities, SqlError> =>
  Layer.scopedContext(Effect.map(make(config), toContext)).pipe(Layer.provide(Reactivity.layer))

/**
 * `layer` with its configuration read from `Config`.
 *
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<PgliteClientConfig>
): Layer.Layer<PgliteClient | Client.SqlClient | SqlCapabilities.SqlCapabilities, ConfigError.ConfigError | SqlError> =>
  Layer.scopedContext(
    Effect.map(Effect.flatMap(Config.unwrap(config), make), toContext)
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * Provides `PgliteClient`, `SqlClient` and `SqlCapabilities` over a PGlite instance the caller
 * owns; closing the layer does not close the instance.
 *
 * @category layers
 */
export const layerFromPglite = (
  pglite: PGliteInterface,
  config: Omit<PgliteClientConfig, "dataDir" | "extensions" | "loadDataDir"> = {}
): Layer.Layer<PgliteClient | Client.SqlClient | SqlCapabilities.SqlCapabilities> =>
  Layer.scopedContext(Effect.map(fromPglite(pglite, config), toContext)).pipe(Layer.provide(Reactivity.layer))
