/**
 * The shape of the messages a client may send to the RPC endpoints, checked before
 * `@effect/rpc` sees them. `@effect/rpc` answers a message that is not one of its own (not
 * JSON, an unknown tag, a request id that is not a number, headers that are not pairs) with a
 * defect, or throws on it; here such a message is refused with a typed account instead, and a
 * well-formed message goes on unchanged. The payload is not looked at: `SyncRpc.checked`
 * decodes it and the handler answers one that does not decode with the procedure's rejection.
 */
import { SyncRpc } from "@reprise/core"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * A header the server adds to every message of a WebSocket connection (naming the
 * connection, for the per-user connection limit); a client may not send it.
 */
export const connectionHeader = "x-reprise-connection"

/** Header names and values are bounded: a bearer token is at most 16 KiB. */
const maxHeaders = 64
const HeaderName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))
const HeaderValue = Schema.String.pipe(Schema.maxLength(32 * 1024))
const Headers = Schema.Array(Schema.Tuple(HeaderName, HeaderValue)).pipe(Schema.maxItems(maxHeaders))

/** `@effect/rpc` parses request ids with `BigInt`: only decimal digits are safe. */
const RequestId = Schema.String.pipe(Schema.pattern(/^[0-9]{1,20}$/))
const TraceField = Schema.String.pipe(Schema.maxLength(128))

const Tag = Schema.String.pipe(Schema.filter((tag) => SyncRpc.SyncRpcs.requests.has(tag), {
  message: () => `not a procedure (${Array.from(SyncRpc.SyncRpcs.requests.keys()).join(", ")})`
}))

/** A request: one call of a procedure of `SyncRpc.SyncRpcs`. */
const Request = Schema.Struct({
  _tag: Schema.Literal("Request"),
  id: RequestId,
  tag: Tag,
  payload: Schema.Unknown,
  headers: Headers,
  traceId: Schema.optional(TraceField),
  spanId: Schema.optional(TraceField),
  sampled: Schema.optional(Schema.Boolean)
})

/** Every message a WebSocket client sends: requests, stream acks and interrupts, pings, end. */
const SocketMessage = Schema.Union(
  Request,
  Schema.Struct({ _tag: Schema.Literal("Ack", "Interrupt"), requestId: RequestId }),
  Schema.Struct({ _tag: Schema.Literal("Ping", "Eof") })
)

const decodeRequest = ParseResult.decodeUnknownEither(Request, { onExcessProperty: "error" })
const decodeSocketMessage = ParseResult.decodeUnknownEither(SocketMessage, { onExcessProperty: "error" })

/** Parses JSON text, or says why it is not JSON. */
const parse = (text: string): Either.Either<unknown, string> => {
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch (error) {
    return Either.left(`the body is not JSON (${error instanceof Error ? error.message : String(error)})`)
  }
}

/** An account stays short: the values it quotes are the client's and may be huge. */
const maxExplanation = 1000

const explain = (issue: ParseResult.ParseIssue): string => {
  const text = `not a message of the sync protocol: ${ParseResult.TreeFormatter.formatIssueSync(issue)}`
  return text.length <= maxExplanation ? text : `${text.slice(0, maxExplanation)}…`
}

const reservedHeader = (headers: ReadonlyArray<readonly [string, string]>): string | undefined =>
  headers.some(([name]) => name.toLowerCase() === connectionHeader)
    ? `the header ${connectionHeader} is the server's own; a client may not send it`
    : undefined

/**
 * Checks the body of an HTTP request to the RPC endpoint (JSON serialization: one request per
 * body, and not `Subscribe`); `Left` says what is wrong with it, `Right` holds the message's
 * own headers.
 */
export const checkHttpBody = (text: string): Either.Either<ReadonlyArray<readonly [string, string]>, string> =>
  Either.flatMap(parse(text), (json) =>
    Either.match(decodeRequest(json), {
      onLeft: (issue) => Either.left(explain(issue)),
      onRight: (request) =>
        request.tag === "Subscribe"
          // An HTTP exchange answers once, when the stream ends: a subscription never would.
          ? Either.left("Subscribe streams its pages: call it over the WebSocket endpoint (GET /rpc/ws)")
          : Either.right(request.headers)
    }))

/**
 * Checks one message received on a WebSocket connection (JSON serialization: one message per
 * frame); `Left` says what is wrong with it.
 */
export const checkSocketMessage = (text: string): Either.Either<void, string> =>
  Either.flatMap(parse(text), (json) =>
    Either.match(decodeSocketMessage(json), {
      onLeft: (issue) => Either.left(explain(issue)),
      onRight: (message) => {
        const reserved = message._tag === "Request" ? reservedHeader(message.headers) : undefined
        return reserved === undefined ? Either.void : Either.left(reserved)
      }
    }))
