/** Hostile clients over loopback HTTP and WebSocket, server on PGlite (`hostileNetwork.ts`). */
import { PgliteClient } from "@reprise/sql-pglite"
import { hostileNetworkTests } from "./hostileNetwork.js"

hostileNetworkTests("PGlite", PgliteClient.layer({}))
