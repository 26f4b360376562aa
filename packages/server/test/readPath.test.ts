import { PgliteClient } from "@reprise/sql-pglite"
import { readPathSuite } from "./readPathCases.js"

readPathSuite("PGlite", PgliteClient.layer({}))
