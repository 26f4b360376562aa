import * as PgFixture from "@reprise/pg-fixture"
import { canonicalSuite } from "./suites/canonical.js"

canonicalSuite(`PostgreSQL ${PgFixture.serverVersion()}`, PgFixture.layer())
