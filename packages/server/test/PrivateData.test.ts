import { PgliteClient } from "@reprise/sql-pglite"
import { privateDataScenarios } from "./suites/privateData.js"

privateDataScenarios("PGlite", () => PgliteClient.layer({}))
