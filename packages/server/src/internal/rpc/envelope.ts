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

// A fast path for the messages every client sends: a plain check that accepts only what the
// Schemas above accept (the same fields, bounds and patterns, no other key). Anything it does
// not accept goes to the Schema, which decides and explains; so the Schemas stay the
// definition, and a well-formed request or ack is not walked by the Schema machinery on its
// way to `@effect/rpc` (it is on the path of every upload, fetch and page acknowledged).
const requestKeys = new Set(["_tag", "id", "tag", "payload", "headers", "traceId", "spanId", "sampled"])
const requestIdPattern = /^[0-9]{1,20}$/

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const isBoundedString = (u: unknown, min: number, max: number): u is string =>
  typeof u === "string" && u.length >= min && u.length <= max

const plainHeaders = (u: unknown): u is ReadonlyArray<readonly [string, string]> => {
  if (!Array.isArray(u) || u.length > maxHeaders) return false
  for (const pair of u) {
    if (!Array.isArray(pair) || pair.length !== 2) return false
    if (!isBoundedString(pair[0], 1, 256) || !isBoundedString(pair[1], 0, 32 * 1024)) return false
  }
  return true
}

/** Whether `u` is, plainly, a `Request` (undefined: let the Schema decide). */
const plainRequest = (u: Record<string, unknown>): typeof Request.Type | undefined => {
  for (const key in u) if (!requestKeys.has(key)) return undefined
  if (u["_tag"] !== "Request" || !("payload" in u)) return undefined
  if (typeof u["id"] !== "string" || !requestIdPattern.test(u["id"])) return undefined
  if (typeof u["tag"] !== "string" || !SyncRpc.SyncRpcs.requests.has(u["tag"])) return undefined
  if (!plainHeaders(u["headers"])) return undefined
  if ("traceId" in u && !isBoundedString(u["traceId"], 0, 128)) return undefined
  if ("spanId" in u && !isBoundedString(u["spanId"], 0, 128)) return undefined
  if ("sampled" in u && typeof u["sampled"] !== "boolean") return undefined
  return u as typeof Request.Type
}

/** Whether `u` is, plainly, an `Ack` or an `Interrupt` (the client's answer to each page). */
const plainAck = (u: Record<string, unknown>): boolean => {
  let keys = 0
  for (const key in u) {
    keys++
    if (key !== "_tag" && key !== "requestId") return false
  }
  return keys === 2 && (u["_tag"] === "Ack" || u["_tag"] === "Interrupt") && typeof u["requestId"] === "string" &&
    requestIdPattern.test(u["requestId"])
}

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
  Either.flatMap(parse(text), (json) => {
    const plain = isRecord(json) ? plainRequest(json) : undefined
    return Either.match(plain === undefined ? decodeRequest(json) : Either.right(plain), {
      onLeft: (issue) => Either.left(explain(issue)),
      onRight: (request) =>
        request.tag === "Subscribe"
          // An HTTP exchange answers once, when the stream ends: a subscription never would.
          ? Either.left("Subscribe streams its pages: call it over the WebSocket endpoint (GET /rpc/ws)")
          : Either.right(request.headers)
    })
  })

/**
 * Checks one message received on a WebSocket connection (JSON serialization: one message per
 * frame); `Left` says what is wrong with it.
 */
export const checkSocketMessage = (text: string): Either.Either<void, string> =>
  Either.flatMap(parse(text), (json) => {
    if (isRecord(json)) {
      if (plainAck(json)) return Either.void
      const plain = plainRequest(json)
      if (plain !== undefined) {
        const reserved = reservedHeader(plain.headers)
        return reserved === undefined ? Either.void : Either.left(reserved)
      }
    }
    return Either.match(decodeSocketMessage(json), {
      onLeft: (issue) => Either.left(explain(issue)),
      onRight: (message) => {
        const reserved = message._tag === "Request" ? reservedHeader(message.headers) : undefined
        return reserved === undefined ? Either.void : Either.left(reserved)
      }
    })
  })
