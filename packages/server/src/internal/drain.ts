/**
 * A graceful shutdown for a Node HTTP server that also serves WebSockets: stop accepting
 * connections, let the HTTP requests in flight finish (for at most a grace period), then close
 * every WebSocket with 1001 (going away), so clients reconnect elsewhere.
 *
 * Needed because `@effect/platform-node`'s `NodeHttpServer` (0.108) creates its WebSocket server
 * lazily, at the first upgrade, so its finalizer (`wss.close`, which waits for every client to
 * close) runs before the finalizer that interrupts the connections' fibers: with one WebSocket
 * open, closing the scope never ended. Its request fibers are also interrupted before the
 * server stops listening, so requests in flight were cut instead of drained. Running this
 * before the server's scope closes avoids both.
 */
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import type { Duplex } from "node:stream"

/** What `track` returns: the shutdown to run before the server's scope closes. */
export interface Drain {
  /** Stops accepting, waits for requests in flight (at most `graceMs`), closes WebSockets. */
  readonly shutdown: (graceMs: number) => Effect.Effect<void>
}

/** A WebSocket close frame (server to client, unmasked): 1001 with a short reason. */
const goingAway = (() => {
  const reason = Buffer.from("server shutting down", "utf8")
  return Buffer.concat([Buffer.from([0x88, 2 + reason.length, 0x03, 0xe9]), reason])
})()

/** Starts tracking `server`'s requests and upgraded sockets; call before it serves anything. */
export const track = (server: Http.Server): Drain => {
  let inFlight = 0
  let onIdle: (() => void) | undefined
  const sockets = new Set<Duplex>()
  server.on("request", (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
    inFlight++
    response.once("close", () => {
      inFlight--
      if (inFlight === 0) onIdle?.()
    })
  })
  server.on("upgrade", (_request: Http.IncomingMessage, socket: Duplex) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })

  const shutdown = (graceMs: number) =>
    Effect.async<void>((resume) => {
      // Stops listening; the server's own finalizer finds it closed and does not wait again.
      if (server.listening) server.close()
      server.closeIdleConnections()
      const finish = () => {
        clearTimeout(timer)
        onIdle = undefined
        server.closeAllConnections()
        for (const socket of sockets) {
          socket.end(goingAway)
          setTimeout(() => socket.destroy(), 1000).unref()
        }
        resume(Effect.void)
      }
      const timer = setTimeout(finish, graceMs)
      if (inFlight === 0) finish()
      else onIdle = finish
    })

  return { shutdown }
}
