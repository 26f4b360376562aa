/**
 * The sync suite over the in-process transport, with the server on PGlite. The scenarios cite
 * the requirements they verify (R-SYNC-1..6, R-ACT-1, R-SRV-3).
 */
import { InProcessTransport } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import { SyncSuite } from "../src/index.js"

SyncSuite.run({
  name: "in-process transport, server on PGlite",
  serverDatabase: () => PgliteClient.layer({}),
  transport: InProcessTransport.layer
})
