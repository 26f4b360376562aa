/**
 * The client an app opens: ONE layer that composes everything a replica needs, in the order it
 * needs it. PGlite on the chosen storage (with live queries), the `@effect/sql` client over it,
 * the app's migrations, the sync schema (and this database's client id), tracking of the app's
 * tables, the action registry, the executor, the sync engine over the given transport, the
 * quarantine of rejected actions (R-REC-3) and inspection (R-CLI-5).
 *
 * The client id is created with the database (core's `reprise.client_state`, a random UUID on
 * first open) and read back on every open after, so it survives reloads and restarts and
 * belongs to that database: two databases never share one. It is not configurable, because two
 * databases given the same id would corrupt each other's sync.
 *
 * Without a `transport` the client is local-only: actions run and are recorded (pending), and
 * a sync fails with a `TransportError` saying there is no transport; give one later on the same
 * database and the pending actions upload then.
 *
 * @example
 * ```ts
 * const ClientLive = Client.layer({
 *   storage: Storage.indexedDb("notes-app"),
 *   migrations: [{ name: "notes", sql: "CREATE TABLE notes (id text PRIMARY KEY, title text NOT NULL, audience_key text)" }],
 *   tables: ["notes"],
 *   actions: [createNote],
 *   userId: "user-1"
 * })
 * const id = yield* Client.run(createNote, { title: "Hello" })
 * ```
 */
import type { PGliteWithLive } from "@electric-sql/pglite/live"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type Action,
  ActionExecutor,
  ActionRegistry,
  Quarantine,
  SyncEngine,
  SyncSchema,
  SyncTransport,
  Tracking
} from "@reprise/core"
import type { PgliteClient } from "@reprise/sql-pglite"
import type { SqlCapabilities } from "@reprise/core"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ClientDatabase from "./ClientDatabase.js"
import * as Connection from "./Connection.js"
import { type DatabaseOpenFailed, DatabaseTooNew, type InvalidStorage } from "./errors.js"
import * as Inspect from "./Inspect.js"
import * as Migrations from "./Migrations.js"
import * as SyncLoop from "./SyncLoop.js"
import * as SyncStatus from "./SyncStatus.js"
import type * as Storage from "./Storage.js"

/** What a client is made of. */
export interface Config {
  /** Where the database lives (`Storage.indexedDb(name)` in a browser, `Storage.directory(path)` in Node). */
  readonly storage: Storage.Storage
  /** The app's schema as ordered SQL steps, applied once each (see `Migrations`). */
  readonly migrations: ReadonlyArray<Migrations.Migration>
  /** The tables whose writes sync (`Tracking.install`'s list); the migrations create them. */
  readonly tables: ReadonlyArray<string | Tracking.TableConfig>
  /** Every action this app can run or receive. */
  readonly actions: ReadonlyArray<Action.Any>
  /** The signed-in user, recorded as the author of this client's actions (the server checks it against the token). */
  readonly userId: string
  /** Run every action twice and report nondeterminism (R-ACT-4); for development and tests. */
  readonly development?: boolean
  /** The sync engine's options (page size, upload retries). */
  readonly engine?: SyncEngine.Options
  /**
   * How to reach the server: `Transport.webSocket(...)` or `Transport.http(...)` (which also
   * provide `Connection`: the client then syncs by itself through `SyncLoop` and reports
   * `SyncStatus`), or any layer providing `SyncTransport` (synced only when asked). Omitted: a
   * local-only client.
   */
  readonly transport?: Layer.Layer<SyncTransport.SyncTransport>
  /** With a `Transport.*` transport: the sync loop's fallback interval (30 s by default). */
  readonly syncInterval?: Duration.DurationInput
}

/** The client's shape. */
export interface ClientShape {
  /** This database's client id (its HLC node id): created with the database, kept across reopens. */
  readonly clientId: string
  /** The signed-in user. */
  readonly userId: string
  /** Executes an action (one transaction with its record and patches) and returns its result. */
  readonly run: <A, I, Out, E, R>(
    action: Action.Action<string, A, I, Out, E, R>,
    args: A
  ) => Effect.Effect<Out, E | ActionExecutor.ExecutionError, Exclude<R, Action.Provided>>
  /** Executes the registered action `tag` with encoded (JSON) args, as a facade or devtools send them. */
  readonly runTag: (tag: string, args: unknown) => Effect.Effect<unknown, unknown>
  /**
   * Read-only SQL on the local database (`$1`-style parameters), in a read-only transaction:
   * a write fails (data changes only through actions).
   */
  readonly query: <Row extends object = Record<string, unknown>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<Row>, SqlError>
  /** The PGlite instance, with live queries, for UI bindings (`@electric-sql/pglite-react`). */
  readonly pglite: PGliteWithLive
  /** Where the database lives. */
  readonly storage: Storage.Storage
}

/** The client. */
export class Client extends Context.Tag("@reprise/client/Client")<Client, ClientShape>() {}

/** What `layer` provides. */
export type Services =
  | Client
  | Inspect.Inspect
  | Quarantine.Quarantine
  | SyncEngine.SyncEngine
  | SyncTransport.SyncTransport
  | ActionExecutor.ActionExecutor
  | ActionRegistry.ActionRegistry
  | ClientDatabase.ClientDatabase
  | PgliteClient.PgliteClient
  | SqlClient.SqlClient
  | SqlCapabilities.SqlCapabilities

/** Everything opening a client can fail with, each naming what to fix. */
export type ClientError =
  | InvalidStorage
  | DatabaseOpenFailed
  | Migrations.MigrationError
  | DatabaseTooNew
  | Tracking.TrackingError
  | SqlError

/**
 * The client: opens the database on `config.storage`, applies the migrations, installs the sync
 * schema and tracking, and builds the registry, executor, engine and inspector, in that order.
 * Closing the layer's scope closes the database.
 */
export const layer = (config: Config): Layer.Layer<Services, ClientError> => {
  const database = ClientDatabase.layer(config.storage)
  const migrated = Layer.effectDiscard(migrate(config)).pipe(Layer.provideMerge(database))
  const executor = Layer.effect(
    ActionExecutor.ActionExecutor,
    ActionExecutor.make({ userId: config.userId, devMode: config.development ?? false }).pipe(
      Effect.catchTags({
        SchemaVersionTooNew: (e) =>
          new DatabaseTooNew({ what: "sync-schema", installed: e.installed, supported: e.supported, unknown: [] }),
        // The database's own client state does not decode: not something the app can fix.
        ParseError: (e) => Effect.die(e),
        InvalidClientId: (e) => Effect.die(e)
      })
    )
  )
  const tracked = Layer.effectDiscard(Tracking.install(config.tables)).pipe(
    Layer.provideMerge(executor),
    Layer.provideMerge(ActionRegistry.layer(config.actions)),
    Layer.provideMerge(migrated)
  )
  const engine = Inspect.layer.pipe(
    Layer.provide(SyncEngine.layer(config.engine ?? {})),
    Layer.provideMerge(Quarantine.layer),
    Layer.provideMerge(config.transport ?? localOnly)
  )
  // With a transport that has a Connection (Transport.webSocket / http), the loop and status too.
  const syncing = Layer.unwrapEffect(Effect.map(Effect.serviceOption(Connection.Connection), (connection) =>
    Option.isNone(connection) ? Layer.empty : SyncStatus.layer.pipe(
      Layer.provideMerge(SyncLoop.layer(config.syncInterval === undefined ? {} : { interval: config.syncInterval })),
      Layer.provide(Layer.succeed(Connection.Connection, connection.value))
    ))).pipe(Layer.provideMerge(engine))
  const client = Layer.effect(Client, make(config)).pipe(Layer.provideMerge(syncing))
  return client.pipe(Layer.provideMerge(tracked))
}

/** Runs `action` with `args` on the client in context. */
export const run = <A, I, Out, E, R>(
  action: Action.Action<string, A, I, Out, E, R>,
  args: A
): Effect.Effect<Out, E | ActionExecutor.ExecutionError, Exclude<R, Action.Provided> | Client> =>
  Effect.flatMap(Client, (client) => client.run(action, args))

/** Read-only SQL on the local database of the client in context. */
export const query = <Row extends object = Record<string, unknown>>(
  sql: string,
  params?: ReadonlyArray<unknown>
): Effect.Effect<ReadonlyArray<Row>, SqlError, Client> => Effect.flatMap(Client, (client) => client.query<Row>(sql, params))

/**
 * The transport of a client given none: every exchange fails, so actions stay pending (and
 * upload once the same database is opened with a transport).
 */
const localOnly: Layer.Layer<SyncTransport.SyncTransport> = Layer.sync(SyncTransport.SyncTransport, () => {
  const refuse = Effect.fail(
    new SyncTransport.TransportError({
      detail: "this client is local-only (Client.layer was given no transport); its actions stay pending until it is " +
        "opened with one"
    })
  )
  return { upload: () => refuse, fetch: () => refuse }
})

/** Checks the sync schema is one this build reads, then applies the app's migrations. */
const migrate = (config: Config) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const installed = yield* SyncSchema.installedVersion(sql)
    if (installed > SyncSchema.CURRENT_VERSION) {
      return yield* new DatabaseTooNew({
        what: "sync-schema",
        installed,
        supported: SyncSchema.CURRENT_VERSION,
        unknown: []
      })
    }
    yield* Migrations.apply(config.migrations)
  })

const make = (config: Config) =>
  Effect.gen(function*() {
    const executor = yield* ActionExecutor.ActionExecutor
    const sql = yield* SqlClient.SqlClient
    const database = yield* ClientDatabase.ClientDatabase
    const loop = yield* Effect.serviceOption(SyncLoop.SyncLoop)
    const nudge = Option.match(loop, { onNone: () => Effect.void, onSome: (l) => l.nudge })
    const client: ClientShape = {
      clientId: executor.clientId,
      userId: config.userId,
      run: (action, args) => Effect.tap(executor.execute(action, args), () => nudge),
      runTag: (tag, args) => Effect.tap(executor.executeTag(tag, args), () => nudge),
      query: <Row extends object>(text: string, params?: ReadonlyArray<unknown>) =>
        sql.withTransaction(
          Effect.zipRight(sql`SET TRANSACTION READ ONLY`, sql.unsafe<Row>(text, params === undefined ? [] : [...params]))
        ),
      pglite: database.pglite,
      storage: database.storage
    }
    return client
  })
