/**
 * The sync suite over the in-process transport, with the server on real Postgres (a fresh
 * database per scenario group from `@reprise/pg-fixture`).
 */
import * as PgFixture from "@reprise/pg-fixture"
import { InProcessTransport } from "@reprise/server"
import { SyncSuite } from "../src/index.js"

SyncSuite.run({
  name: `in-process transport, server on PostgreSQL ${PgFixture.serverVersion()}`,
  serverDatabase: () => PgFixture.layer(),
  transport: InProcessTransport.layer
})
