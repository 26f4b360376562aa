import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgFixture from "@reprise/pg-fixture"
import { sqlContract } from "./contract/sqlContract.js"

// The same contract as PgliteClient.test.ts, against @effect/sql-pg on real Postgres, which is
// what the Reprise server runs on.
sqlContract({
  name: `@effect/sql-pg (PostgreSQL ${PgFixture.serverVersion()})`,
  layer: PgFixture.layer(),
  pubsub: PgClient.PgClient
})
