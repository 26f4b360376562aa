import { PgliteClient } from "@reprise/sql-pglite"
import { canonicalSuite } from "./suites/canonical.js"

canonicalSuite("PGlite", PgliteClient.layer({}))
