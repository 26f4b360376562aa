/**
 * The network on real Postgres (a fresh database per group from `@reprise/pg-fixture`): the
 * sync suite with every replica syncing through `RpcTransport` over loopback WebSocket to a
 * `SyncRpcServer` (HTTP: network.test.ts) (R-SYNC-1..6, R-ACT-1, R-SRV-3), the server's own cases
 * (R-SRV-3, R-SRV-4, R-SRV-5 with Postgres's LISTEN, R-SRV-7), and the health check once the
 * database refuses connections.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgFixture from "@reprise/pg-fixture"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { SyncSuite } from "../../sync-suite/src/index.js"
import { healthWhenDatabaseGone, networkCases } from "./networkCases.js"
import { harness } from "./networkWorld.js"

const version = `PostgreSQL ${PgFixture.serverVersion()}`

// The sync suite runs once per transport: over WebSocket here, over HTTP on PGlite
// (network.test.ts); each run takes minutes of PGlite replicas, the same on either database.
SyncSuite.run(harness("websocket", `RPC over WebSocket, server on ${version}`, () => PgFixture.layer()), { paging: false })

networkCases(version, () => PgFixture.layer())

/**
 * The database stops accepting connections and every session on it is ended (through the
 * admin connection: a database cannot refuse connections from inside itself).
 */
const refuseConnections = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ name: string }>`SELECT current_database() AS name`
  const name = row!.name
  yield* Effect.scoped(Effect.gen(function*() {
    const admin = yield* Layer.build(PgClient.layer({ url: Redacted.make(PgFixture.adminUrl()), maxConnections: 1 }))
    const adminSql = Context.get(admin, SqlClient.SqlClient)
    yield* adminSql.unsafe(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`)
    yield* adminSql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${name}`
  }))
})

healthWhenDatabaseGone(version, () => PgFixture.layer(), refuseConnections)
