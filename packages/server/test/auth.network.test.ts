/**
 * Auth over the network with the server on PGlite (R-SRV-4): see `auth.network.cases.ts`.
 */
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Realtime } from "../src/index.js"
import { authNetworkCases } from "./auth.network.cases.js"

authNetworkCases(
  "PGlite",
  () => PgliteClient.layer({}),
  Layer.unwrapEffect(Effect.map(PgliteClient.PgliteClient, (client) => Realtime.layerWithListen(client.listen)))
)
