/**
 * The port between a replica's sync engine and the server: upload pending actions, fetch a
 * page of the log. Transports (in-process, HTTP, WebSocket) implement it; the engine does not
 * know which one it talks to.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SyncProtocol from "./SyncProtocol.js"

/** The server could not be reached or answered with something that is not the protocol. */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  detail: Schema.String
}) {
  override get message() {
    return `Sync transport failed: ${this.detail}`
  }
}

/** The transport's shape. */
export interface SyncTransportShape {
  readonly upload: (
    request: SyncProtocol.UploadRequest
  ) => Effect.Effect<
    SyncProtocol.UploadResponse,
    SyncProtocol.BehindHead | SyncProtocol.UploadRejected | TransportError
  >
  readonly fetch: (request: SyncProtocol.FetchRequest) => Effect.Effect<SyncProtocol.FetchResponse, TransportError>
}

/** The transport a replica syncs through. */
export class SyncTransport extends Context.Tag("@reprise/core/SyncTransport")<SyncTransport, SyncTransportShape>() {}
