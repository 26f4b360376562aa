import * as PgFixture from "@reprise/pg-fixture"
import { actionsSuite } from "./suites/actions.js"

actionsSuite(`PostgreSQL ${PgFixture.serverVersion()}`, PgFixture.layer())
