import { PgliteClient } from "@reprise/sql-pglite"
import { syncEngineScenarios } from "./suites/syncEngine.js"

syncEngineScenarios("PGlite", () => PgliteClient.layer({}))
