/**
 * The server's serialization layer, for transports: decodes the request bodies a transport
 * received into the typed requests `SyncServer` takes (a body that does not decode is a typed
 * `UploadRejected` or `FetchRejected`, as the protocol says), and encodes responses as the
 * JSON text a transport sends.
 *
 * It also declares `EncodedFetch`, the fetch fast path: a page answered as JSON text built from
 * the JSON the log stores, without decoding and encoding it again on the server (BENCHMARKS.md,
 * "Fetch", shows what that saves). `SyncService.layer` provides it; a transport that sends JSON
 * uses it when it is in context and otherwise encodes `SyncServer.fetch`'s answer. The receiver
 * decodes either with the Schema, as it would any message.
 *
 * @example
 * ```ts
 * // A transport's upload handler, on the server:
 * const handle = (userId: string, body: unknown) =>
 *   SyncCodec.decodeUploadRequest(body).pipe(
 *     Effect.flatMap((request) => server.upload(userId, request)),
 *     Effect.flatMap(SyncCodec.encodeUploadResponse)
 *   )
 * ```
 */
import { SyncProtocol, type SyncServer } from "@reprise/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { checkSizes } from "./internal/validate.js"

const decodeUpload = Schema.decodeUnknown(SyncProtocol.UploadRequest, { errors: "all", onExcessProperty: "ignore" })
const decodeFetch = Schema.decodeUnknown(SyncProtocol.FetchRequest, { errors: "all" })
const encodeUpload = Schema.encode(Schema.parseJson(SyncProtocol.UploadResponse))

/** The longest Schema account of a malformed body a rejection carries, in characters. */
export const maxDetailChars = 4000

/** A Schema's account of a body's problems, cut to `maxDetailChars` (a garbage body can have thousands). */
export const boundedDetail = (detail: string): string =>
  detail.length <= maxDetailChars
    ? detail
    : `${detail.slice(0, maxDetailChars)}… (${detail.length - maxDetailChars} more characters of problems)`

/**
 * Decodes an upload body (parsed JSON). Counts and string lengths are checked first
 * (`SyncProtocol.Limits`), so an oversized body is `TooLarge` naming the field and the limit,
 * and is never walked in full; anything else that does not decode is `Malformed`, with the
 * Schema's account of the problems. The service checks the rest (JSON depth and size,
 * authorship, ...) when it is called.
 */
export const decodeUploadRequest = (
  body: unknown
): Effect.Effect<SyncProtocol.UploadRequest, SyncProtocol.UploadRejected> => {
  const tooLarge = checkSizes(body)
  if (tooLarge !== undefined) return Effect.fail(tooLarge)
  return Effect.mapError(
    decodeUpload(body),
    (error) => new SyncProtocol.UploadRejected({ reason: "Malformed", actionId: null, detail: boundedDetail(error.message) })
  )
}

/** Decodes a fetch body (parsed JSON); one that does not decode is `FetchRejected`. */
export const decodeFetchRequest = (
  body: unknown
): Effect.Effect<SyncProtocol.FetchRequest, SyncProtocol.FetchRejected> =>
  Effect.mapError(decodeFetch(body), (error) => new SyncProtocol.FetchRejected({ detail: boundedDetail(error.message) }))

/** An upload's response as the JSON text of its encoded form. */
export const encodeUploadResponse = (
  response: SyncProtocol.UploadResponse
): Effect.Effect<string, ParseResult.ParseError> => encodeUpload(response)

/**
 * A fetch response as the JSON text of its encoded form, each action encoded field by field
 * (`SyncProtocol.encodeRemoteAction`, equal to the Schema's encoding and cheaper on whole pages).
 */
export const encodeFetchResponse = (response: SyncProtocol.FetchResponse): string =>
  JSON.stringify({
    actions: response.actions.map(SyncProtocol.encodeRemoteAction),
    next: response.next,
    head: response.head,
    hasMore: response.hasMore,
    audiences: response.audiences
  })

/** The shape of `EncodedFetch`. */
export interface EncodedFetchShape {
  /**
   * `SyncServer.fetch`, answered as the JSON text of the encoded `SyncProtocol.FetchResponse`,
   * built from the stored JSON: the same page, filtered and checked the same way.
   */
  readonly fetch: (
    callerUserId: string,
    request: SyncProtocol.FetchRequest
  ) => Effect.Effect<string, SyncServer.FetchError>
}

/**
 * The fetch fast path a server offers to transports that send JSON (`SyncService.layer`
 * provides it); a transport without it encodes `SyncServer.fetch`'s answer instead.
 */
export class EncodedFetch extends Context.Tag("@reprise/server/SyncCodec/EncodedFetch")<
  EncodedFetch,
  EncodedFetchShape
>() {}
