/**
 * A `SyncTransport` that calls the server in the same process, for tests, simulations and
 * single-process apps. Requests and responses still cross the protocol boundary as a network
 * transport's would: the client's side encodes each request to JSON text, the server's side
 * parses and decodes it (`SyncCodec`: a body that does not decode is a typed rejection) before
 * calling the server, and encodes the answer to JSON text, which the client's side decodes.
 *
 * A fetch uses the server's fast path (`SyncCodec.EncodedFetch`, which `SyncService.layer`
 * provides) when it is in context, else it encodes `SyncServer.fetch`'s answer.
 *
 * @example
 * ```ts
 * const ClientTransport = InProcessTransport.layer("user-1") // needs SyncService
 * ```
 */
import { SyncProtocol, type SyncServer, SyncTransport } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SyncCodec from "./SyncCodec.js"
import * as SyncService from "./SyncService.js"

const encodeUploadRequest = Schema.encode(Schema.parseJson(SyncProtocol.UploadRequest))
const encodeFetchRequest = Schema.encode(Schema.parseJson(SyncProtocol.FetchRequest))
const decodeUploadResponse = Schema.decode(Schema.parseJson(SyncProtocol.UploadResponse))
const decodeFetchResponse = Schema.decode(Schema.parseJson(SyncProtocol.FetchResponse))

/** The server's side receives JSON text: one that does not parse is a malformed body. */
const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const transportError = (error: { readonly message: string }) =>
  new SyncTransport.TransportError({ detail: error.message })

/**
 * The transport of a caller authenticated as `userId`, over `server` (any
 * `SyncServer.SyncServerShape`), using `encodedFetch` for fetches when given.
 */
export const fromServer = (
  userId: string,
  server: SyncServer.SyncServerShape,
  encodedFetch?: SyncCodec.EncodedFetchShape
): SyncTransport.SyncTransportShape => {
  const fetchText = (request: SyncProtocol.FetchRequest) =>
    encodedFetch === undefined
      ? Effect.map(server.fetch(userId, request), SyncCodec.encodeFetchResponse)
      : encodedFetch.fetch(userId, request)
  return {
    upload: (request) =>
      encodeUploadRequest(request).pipe(
        Effect.flatMap((text) => SyncCodec.decodeUploadRequest(parse(text))),
        Effect.flatMap((decoded) => server.upload(userId, decoded)),
        Effect.flatMap(SyncCodec.encodeUploadResponse),
        Effect.flatMap(decodeUploadResponse),
        Effect.catchTags({ ParseError: transportError, ServerFailure: transportError })
      ),
    fetch: (request) =>
      encodeFetchRequest(request).pipe(
        Effect.flatMap((text) => SyncCodec.decodeFetchRequest(parse(text))),
        Effect.flatMap(fetchText),
        Effect.flatMap(decodeFetchResponse),
        Effect.catchTags({ ParseError: transportError, ServerFailure: transportError, FetchRejected: transportError })
      )
  }
}

/** The transport for a caller authenticated as `userId`, over the `SyncService` in context. */
export const make = (userId: string): Effect.Effect<SyncTransport.SyncTransportShape, never, SyncService.SyncService> =>
  Effect.gen(function*() {
    const server = yield* SyncService.SyncService
    const encodedFetch = yield* Effect.serviceOption(SyncCodec.EncodedFetch)
    return fromServer(userId, server, Option.getOrUndefined(encodedFetch))
  })

/** `SyncTransport` for `userId`, over the `SyncService` in context. */
export const layer = (userId: string): Layer.Layer<SyncTransport.SyncTransport, never, SyncService.SyncService> =>
  Layer.effect(SyncTransport.SyncTransport, make(userId))
