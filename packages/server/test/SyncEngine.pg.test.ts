import * as PgFixture from "@reprise/pg-fixture"
import { syncEngineScenarios } from "./suites/syncEngine.js"

syncEngineScenarios(`PostgreSQL ${PgFixture.serverVersion()}`, () => PgFixture.layer())
