/**
 * The transport contract suite against each transport a client can sync through: WebSocket
 * and HTTP (through a TCP proxy the cases cut), and the server's in-process transport.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { InProcessTransport } from "@reprise/server"
import * as Transport from "../src/Transport.js"
import { transportContract } from "./transportContract.js"

const backoff = { initial: "50 millis", max: "500 millis" } as const

transportContract({
  name: "WebSocket",
  connection: true,
  layer: (port, getToken) =>
    Transport.webSocket({
      url: `ws://127.0.0.1:${port}/rpc/ws`,
      getToken,
      backoff,
      webSocketConstructor: NodeSocket.layerWebSocketConstructor
    })
})

transportContract({
  name: "HTTP",
  connection: true,
  layer: (port, getToken) => Transport.http({ url: `http://127.0.0.1:${port}/rpc`, getToken, backoff, pollInterval: "100 millis" })
})

transportContract({
  name: "in-process",
  connection: false,
  layer: () => {
    throw new Error("the in-process transport takes no token: userOf is used")
  },
  userOf: (userId) => InProcessTransport.layer(userId)
})
