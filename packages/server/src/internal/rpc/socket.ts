/**
 * A guard around a server-side WebSocket: every message a client sends is checked for size
 * and shape before `@effect/rpc` reads it. A message over the limit closes the connection with
 * 1009 (message too big), one that is not a message of the protocol with 1007 (invalid
 * payload), each with a close reason saying what was wrong; nothing of it reaches a handler.
 */
import * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { checkSocketMessage } from "./envelope.js"

/** A WebSocket close reason is at most 123 bytes of UTF-8. */
const closeReason = (text: string): string => {
  let reason = text
  while (Buffer.byteLength(reason) > 123) reason = `${reason.slice(0, reason.length - 2)}…`
  return reason
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** `socket`, refusing messages over `maxMessageBytes` or not of the protocol. */
export const guard = (socket: Socket.Socket, maxMessageBytes: number): Socket.Socket => {
  const runRaw = <_, E = never, R = never>(
    handler: (data: string | Uint8Array) => Effect.Effect<_, E, R> | void,
    options?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.scoped(Effect.flatMap(socket.writer, (write) =>
      socket.runRaw((data): Effect.Effect<unknown, E | Socket.SocketError, R> | void => {
        const size = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength
        if (size > maxMessageBytes) {
          return write(
            new Socket.CloseEvent(1009, closeReason(`LimitExceeded: maxMessageBytes is ${maxMessageBytes}, got ${size}`))
          )
        }
        const checked = checkSocketMessage(typeof data === "string" ? data : decoder.decode(data))
        if (Either.isLeft(checked)) return write(new Socket.CloseEvent(1007, closeReason(`Malformed: ${checked.left}`)))
        return handler(data)
      }, options)))

  return {
    [Socket.TypeId]: Socket.TypeId,
    runRaw,
    run: (handler, options) =>
      runRaw((data) => handler(typeof data === "string" ? encoder.encode(data) : data), options),
    writer: socket.writer
  }
}
