/**
 * A TCP proxy the tests control, standing for the network between clients and a server:
 * `cut()` drops every connection and refuses new ones (they are accepted and closed at once,
 * as a dead link looks to a client), `restore()` lets them through again. It forwards to a
 * port that can change (`target`), so a restarted server stays behind the same address.
 */
import * as net from "node:net"

/** A running proxy. */
export interface Proxy {
  /** The port clients connect to. */
  readonly port: number
  /** Forwards to `port` from now on. */
  readonly target: (port: number) => void
  /** Drops every connection and refuses new ones until `restore`. */
  readonly cut: () => void
  /** Lets connections through again. */
  readonly restore: () => void
  /** How many connections it has accepted while up (each client reconnect is one or more). */
  readonly accepted: () => number
  readonly close: () => Promise<void>
}

/** Starts a proxy on 127.0.0.1 (a free port) forwarding to `targetPort`. */
export const start = async (targetPort: number): Promise<Proxy> => {
  let target = targetPort
  let down = false
  let accepted = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    if (down) {
      client.destroy()
      return
    }
    accepted += 1
    const upstream = net.connect({ host: "127.0.0.1", port: target })
    sockets.add(client)
    sockets.add(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("close", close)
    upstream.on("close", close)
    client.on("error", close)
    upstream.on("error", close)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = address !== null && typeof address === "object" ? address.port : 0
  return {
    port,
    target: (p) => {
      target = p
    },
    cut: () => {
      down = true
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    restore: () => {
      down = false
    },
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
