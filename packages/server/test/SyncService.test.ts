import { PgliteClient } from "@reprise/sql-pglite"
import { syncServiceSuite } from "./suites/syncService.js"

syncServiceSuite("PGlite", PgliteClient.layer({}))
