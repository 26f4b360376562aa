/**
 * What a simulator builds once and every schedule reuses: the server's database and service,
 * one client database per replica and one for the oracle, each with the app's tables and
 * Reprise installed. Building a PGlite database takes seconds; emptying one takes
 * milliseconds, so schedules reset them instead.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SyncSchema from "../../SyncSchema.js"
import * as Tracking from "../../Tracking.js"
import type { Config } from "../Simulation.js"
import * as Oracle from "./oracle.js"
import * as Replicas from "./replica.js"
import * as Sql from "./sql.js"
import type { ServerHandle } from "./world.js"

/** The databases and the server's service. @internal */
export interface Rig {
  readonly server: ServerHandle
  readonly replicaDbs: ReadonlyArray<Context.Context<SqlClient.SqlClient>>
  readonly oracleDb: Context.Context<SqlClient.SqlClient>
  /** The tracked tables, read once: every database installs the same. */
  readonly tables: ReadonlyArray<Sql.TrackedTable>
}

/** Builds the server's database and service, then each replica's database and the oracle's. @internal */
export const build = (config: Config) =>
  Effect.gen(function*() {
    const serverDb = yield* database(config, config.serverDatabase, undefined)
    const server: ServerHandle = { db: serverDb, current: yield* Effect.provide(config.server.make, serverDb) }
    const replicaDbs = yield* Effect.forEach(config.users, (_, i) => database(config, config.clientDatabase, Replicas.clientIdOf(i)))
    const oracleDb = yield* database(config, config.clientDatabase, Oracle.CLIENT_ID)
    const tables = yield* Effect.provide(Sql.trackedTables, serverDb)
    const rig: Rig = { server, replicaDbs, oracleDb, tables }
    return rig
  })

/** A new server handle on the rig's server database, with `config`'s driver (for a variant of a simulator). @internal */
export const serverOn = (rig: Rig, config: Config) =>
  Effect.map(Effect.provide(config.server.make, rig.server.db), (current): ServerHandle => ({ db: rig.server.db, current }))

/** Empties the server's database (the app's tables and the server's log) for the next schedule. @internal */
export const resetServer = (rig: Rig, config: Config) =>
  Effect.gen(function*() {
    yield* Effect.provide(Sql.reset(rig.tables, false), rig.server.db)
    yield* Effect.provide(config.server.reset, rig.server.db)
  })

/** One database, with the app's tables, Reprise's schema (as `clientId` when a client) and tracking installed. */
const database = (config: Config, layer: Layer.Layer<SqlClient.SqlClient, unknown>, clientId: string | undefined) =>
  Effect.gen(function*() {
    const db = yield* Layer.build(layer)
    yield* Effect.provide(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(config.setup)
        yield* SyncSchema.install(clientId === undefined ? {} : { clientId })
        yield* Tracking.install(config.tables)
      }),
      db
    )
    return db
  })
