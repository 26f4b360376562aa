import * as PgFixture from "@reprise/pg-fixture"
import { captureSuite } from "./suites/capture.js"

captureSuite(`PostgreSQL ${PgFixture.serverVersion()}`, PgFixture.layer())
