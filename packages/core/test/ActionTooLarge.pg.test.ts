/** The executor's size limits (R-SRV-7) on Postgres, where the check is a statement of its own (`suites/actionTooLarge.ts`). */
import * as PgFixture from "@reprise/pg-fixture"
import { actionTooLargeTests } from "./suites/actionTooLarge.js"

actionTooLargeTests(`PostgreSQL ${PgFixture.serverVersion()}`, () => PgFixture.layer())
