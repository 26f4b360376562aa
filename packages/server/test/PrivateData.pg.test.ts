import * as PgFixture from "@reprise/pg-fixture"
import { privateDataScenarios } from "./suites/privateData.js"

privateDataScenarios(`PostgreSQL ${PgFixture.serverVersion()}`, () => PgFixture.layer())
