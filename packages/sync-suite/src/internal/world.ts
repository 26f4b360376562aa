/**
 * The pieces a scenario is built from: a server and replicas on fresh databases, connected by
 * the harness's transport, each a `ManagedRuntime` a test drives with promises.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type Action, ActionExecutor, ActionRegistry, SyncEngine, SyncSchema, SyncTransport, Tracking } from "@reprise/core"
import { SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type { Harness, ServerServices } from "../SyncSuite.js"

/** An app under test: its tables, the ones tracked, its actions. */
export interface App {
  /** SQL creating the app's tables, run on the server and on every replica. */
  readonly tables: string
  readonly tracked: ReadonlyArray<string>
  readonly actions: ReadonlyArray<Action.Any>
}

/** The server: its services and its database. */
export type Server = ManagedRuntime.ManagedRuntime<ServerServices | SqlClient.SqlClient, unknown>

/** A replica: its engine, its executor and its database. */
export type Replica = ManagedRuntime.ManagedRuntime<
  SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient,
  unknown
>

/** A server on a fresh database from the harness, with the app's tables tracked. */
export const startServer = async (harness: Harness, app: App, options: SyncService.Options = {}): Promise<Server> => {
  const runtime = ManagedRuntime.make(Layer.provideMerge(SyncService.layer(options), harness.serverDatabase()))
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(app.tables)
    yield* Tracking.install(app.tracked)
  }))
  return runtime
}

/** Options of a replica. */
export interface ReplicaOptions {
  /** The actions it knows; the app's by default. */
  readonly actions?: ReadonlyArray<Action.Any>
  readonly engine?: SyncEngine.Options
}

/** A replica signed in as `userId` on a fresh PGlite, syncing with `server` through the harness's transport. */
export const startReplica = async (
  harness: Pick<Harness, "transport">,
  server: Server,
  app: App,
  userId: string,
  options: ReplicaOptions = {}
): Promise<Replica> => {
  const served = await server.runPromise(Effect.context<ServerServices>())
  const base = Layer.merge(PgliteClient.layer({}), ActionRegistry.layer(options.actions ?? app.actions))
  const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
  const transport = harness.transport(userId).pipe(Layer.provide(Layer.succeedContext(served)))
  const runtime = ManagedRuntime.make(
    Layer.provideMerge(SyncEngine.layer(options.engine ?? {}), Layer.merge(executor, transport))
  )
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(app.tables)
    yield* SyncSchema.install()
    yield* Tracking.install(app.tracked)
  }))
  return runtime
}

/** Runs `f` on a transport signed in as `userId`: what the server answers that user, through the transport under test. */
export const asUser = <A, E>(
  harness: Pick<Harness, "transport">,
  server: Server,
  userId: string,
  f: (transport: SyncTransport.SyncTransportShape) => Effect.Effect<A, E>
): Promise<A> =>
  server.runPromise(Effect.flatMap(SyncTransport.SyncTransport, f).pipe(Effect.provide(harness.transport(userId))))

/** Executes `action` on a replica. */
export const exec = <A, I, Out, E>(runtime: Replica, action: Action.Action<string, A, I, Out, E, Action.Provided>, args: A) =>
  runtime.runPromise(ActionExecutor.execute(action, args))

/** A table's rows as Postgres renders them, by id: equal text means equal rows. */
export const rows = (runtime: Server | Replica, table: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM ${sql(table)} t ORDER BY id`, (rs) => rs.map((x) => x.r)))
  )

/** A few milliseconds, so that the next action's HLC is later on every replica. */
export const tick = (ms = 3) => new Promise((resolve) => setTimeout(resolve, ms))

/** The ids of a table's rows, in order. */
export const idsOf = (runtime: Server | Replica, table: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ id: string }>`SELECT id FROM ${sql(table)} ORDER BY id`, (rs) => rs.map((r) => r.id))))

/** One replica per user, started together against one server; `sync(user)` runs one's full sync. */
export const replicaGroup = (harness: Pick<Harness, "transport">, app: App, users: ReadonlyArray<string>, options: ReplicaOptions = {}) => {
  const replicas = new Map<string, Replica>()
  const replica = (user: string): Replica => {
    const runtime = replicas.get(user)
    if (runtime === undefined) throw new Error(`no replica for ${user}: start the group first`)
    return runtime
  }
  return {
    start: async (server: Server) => {
      for (const user of users) replicas.set(user, await startReplica(harness, server, app, user, options))
    },
    replica,
    sync: (user: string) => replica(user).runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync)),
    dispose: async () => {
      for (const runtime of replicas.values()) await runtime.dispose()
    }
  }
}
