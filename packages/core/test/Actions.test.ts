import { PgliteClient } from "@reprise/sql-pglite"
import { actionsSuite } from "./suites/actions.js"

actionsSuite("PGlite", PgliteClient.layer({}))
