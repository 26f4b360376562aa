/** The executor's size limits (R-SRV-7) on PGlite (`suites/actionTooLarge.ts`): the capture trigger checks each patch as it writes it. */
import { PgliteClient } from "@reprise/sql-pglite"
import { actionTooLargeTests } from "./suites/actionTooLarge.js"

actionTooLargeTests("PGlite", () => PgliteClient.layer({}))
