/**
 * The network on PGlite: the sync suite with every replica syncing through `RpcTransport`
 * over loopback HTTP to a `SyncRpcServer` (WebSocket: network.pg.test.ts) (R-SYNC-1..6, R-ACT-1, R-SRV-3),
 * and the server's own cases (R-SRV-3, R-SRV-4, R-SRV-5, R-SRV-7).
 */
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import { SyncSuite } from "../../sync-suite/src/index.js"
import { healthWhenDatabaseGone, networkCases } from "./networkCases.js"
import { harness } from "./networkWorld.js"

// The sync suite runs once per transport: over HTTP here, over WebSocket on Postgres
// (network.pg.test.ts); each run takes minutes of PGlite replicas, the same on either database.
// Paging's scenarios (R-SYNC-10, the engine's pull) run in-process only (sync-suite's InProcess).
SyncSuite.run(harness("http", "RPC over HTTP, server on PGlite", () => PgliteClient.layer({})), { paging: false })

networkCases("PGlite", () => PgliteClient.layer({}))

healthWhenDatabaseGone(
  "PGlite",
  () => PgliteClient.layer({}),
  Effect.flatMap(PgliteClient.PgliteClient, (client) => Effect.promise(() => client.pglite.close()))
)
