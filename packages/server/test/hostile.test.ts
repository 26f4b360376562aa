/**
 * Hostile clients on PGlite (R-SRV-7): the hostile-request cases (`hostileCases.ts`).
 */
import { layer } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import { hostileCaseTests } from "./hostileCases.js"

layer(PgliteClient.layer({}), { excludeTestServices: true, timeout: "120 seconds" })(
  "SyncService, hostile requests (PGlite)",
  hostileCaseTests
)
