/**
 * Hostile requests against the sync service on real Postgres (R-SRV-7): the same cases as on
 * PGlite (`hostileCases.ts`).
 */
import { layer } from "@effect/vitest"
import * as PgFixture from "@reprise/pg-fixture"
import { hostileCaseTests } from "./hostileCases.js"

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "120 seconds" })(
  `SyncService, hostile requests (PostgreSQL ${PgFixture.serverVersion()})`,
  hostileCaseTests
)
