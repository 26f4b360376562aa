/** The executor's size limits (R-SRV-7) on Postgres (`suites/actionTooLarge.ts`): the capture trigger checks each patch as it writes it. */
import * as PgFixture from "@reprise/pg-fixture"
import { actionTooLargeTests } from "./suites/actionTooLarge.js"

actionTooLargeTests(`PostgreSQL ${PgFixture.serverVersion()}`, () => PgFixture.layer())
