/**
 * Auth over the network with the server on real Postgres (R-SRV-4): see `auth.network.cases.ts`.
 */
import * as PgFixture from "@reprise/pg-fixture"
import { Realtime } from "../src/index.js"
import { authNetworkCases } from "./auth.network.cases.js"

authNetworkCases(`PostgreSQL ${PgFixture.serverVersion()}`, () => PgFixture.layer(), Realtime.layer())
