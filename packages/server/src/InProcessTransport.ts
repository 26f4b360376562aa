/**
 * A `SyncTransport` that calls a `SyncService` in the same process, for tests, simulations and
 * single-process apps. Requests and responses still cross the protocol boundary: they are
 * encoded to JSON text and decoded on the other side, exactly as a network transport would.
 *
 * @example
 * ```ts
 * const ClientTransport = InProcessTransport.layer("user-1") // needs SyncService
 * ```
 */
import { SyncProtocol, SyncTransport } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SyncService from "./SyncService.js"

const toWire = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Effect.map(Schema.encode(schema)(value), (encoded) => JSON.parse(JSON.stringify(encoded)) as unknown)

const fromWire = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Effect.flatMap(toWire(schema, value), Schema.decodeUnknown(schema))

// A fetch page travels as the JSON text the service builds from the stored actions (never
// decoded and encoded again on the server); the receiving side decodes it with the Schema, so
// a malformed page still fails there.
const decodeFetchResponse = Schema.decodeUnknown(SyncProtocol.FetchResponse)

const transportError = (error: { readonly message: string }) =>
  new SyncTransport.TransportError({ detail: error.message })

/** The transport for a caller authenticated as `userId`. */
export const make = (userId: string) =>
  Effect.map(SyncService.SyncService, (service): SyncTransport.SyncTransportShape => ({
    upload: (request) =>
      toWire(SyncProtocol.UploadRequest, request).pipe(
        Effect.flatMap((body) => service.upload(userId, body)),
        Effect.flatMap((response) => fromWire(SyncProtocol.UploadResponse, response)),
        Effect.catchTags({ ParseError: transportError, SqlError: transportError })
      ),
    fetch: (request) =>
      toWire(SyncProtocol.FetchRequest, request).pipe(
        Effect.flatMap((body) => service.fetchEncoded(userId, body)),
        Effect.flatMap((text) => decodeFetchResponse(JSON.parse(text))),
        Effect.catchTags({ ParseError: transportError, SqlError: transportError, FetchRejected: transportError })
      )
  }))

/** `SyncTransport` for `userId`, over the `SyncService` in context. */
export const layer = (userId: string): Layer.Layer<SyncTransport.SyncTransport, never, SyncService.SyncService> =>
  Layer.effect(SyncTransport.SyncTransport, make(userId))
