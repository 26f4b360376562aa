/** The executor's size limits (R-SRV-7) on PGlite, where the check rides with the COMMIT (`suites/actionTooLarge.ts`). */
import { PgliteClient } from "@reprise/sql-pglite"
import { actionTooLargeTests } from "./suites/actionTooLarge.js"

actionTooLargeTests("PGlite", () => PgliteClient.layer({}))
