import { PgliteClient } from "@reprise/sql-pglite"
import { captureSuite } from "./suites/capture.js"

captureSuite("PGlite", PgliteClient.layer({}))
