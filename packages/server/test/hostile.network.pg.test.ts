/** Hostile clients over loopback HTTP and WebSocket, server on real Postgres (`hostileNetwork.ts`). */
import * as PgFixture from "@reprise/pg-fixture"
import { hostileNetworkTests } from "./hostileNetwork.js"

hostileNetworkTests(`PostgreSQL ${PgFixture.serverVersion()}`, PgFixture.layer())
