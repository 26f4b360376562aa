/**
 * The sync protocol as one `@effect/rpc` group: what a client calls on a server over any
 * network transport (HTTP, WebSocket). Clients and the server both import it from here, so the
 * two sides cannot disagree about a message.
 *
 * - `Upload`: store the client's pending actions (`SyncProtocol.UploadRequest`).
 * - `Fetch`: one page of the log after a cursor (`SyncProtocol.FetchRequest`).
 * - `Subscribe`: a stream of pages of newly committed actions the caller may see, from a
 *   cursor on (each element is a `FetchResponse`, the same content `Fetch` returns), with no
 *   gap; the server reads the next page only when the client has taken the previous one.
 * - `Head`: the server's highest sequence.
 *
 * Every procedure runs behind `Authentication`: the request carries `authorization: Bearer
 * <jwt>` (an HTTP header, or a header of the RPC message itself over WebSocket, which is how
 * a browser sends it), and a request without a valid token fails with `Unauthorized` before
 * anything is read or written.
 *
 * Payloads are decoded leniently on the wire (`checked`): a payload that does not decode
 * reaches the handler as an `InvalidPayload` and is answered with the procedure's own typed
 * rejection (`UploadRejected` / `FetchRejected` with the Schema's account of the problem),
 * never with a defect.
 *
 * @example
 * ```ts
 * import { SyncRpc } from "@reprise/core"
 * // server: RpcServer.layer(SyncRpc.SyncRpcs).pipe(Layer.provide(handlers), ...)
 * // client: const client = yield* RpcClient.make(SyncRpc.SyncRpcs)
 * const page = yield* client.Fetch({ since: 0, limit: 100 })
 * ```
 */
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import * as Context from "effect/Context"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as SyncProtocol from "./SyncProtocol.js"
import * as SyncServer from "./SyncServer.js"

/**
 * A payload that did not decode: the server answers it with the procedure's typed rejection,
 * `detail` being the Schema's account of every problem.
 */
export class InvalidPayload extends Schema.TaggedClass<InvalidPayload>()("InvalidPayload", {
  detail: Schema.String,
  /** The payload is over one of `SyncProtocol.Limits` (answered as `TooLarge`). */
  tooLarge: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** The action at fault, when known. */
  actionId: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null })
}) {}

/**
 * An upload over `SyncProtocol.Limits`' counts or string lengths
 * (`SyncProtocol.uploadSizeProblem`), recognised before decoding so it is answered `TooLarge`
 * naming the field and the limit, and never walked in full by the decoder.
 */
const uploadSize = (input: unknown): InvalidPayload | undefined => {
  const problem = SyncProtocol.uploadSizeProblem(input)
  return problem === undefined
    ? undefined
    : new InvalidPayload({ detail: problem.detail, tooLarge: true, actionId: problem.actionId })
}

/** A Schema's account of a payload stays short: the values it quotes are the client's. */
const maxDetailChars = 4000

const bounded = (detail: string): string =>
  detail.length <= maxDetailChars
    ? detail
    : `${detail.slice(0, maxDetailChars)}… (${detail.length - maxDetailChars} more characters of problems)`

/**
 * `schema`, decoded leniently: anything that does not decode becomes an `InvalidPayload`
 * (instead of failing the decode, which `@effect/rpc` would answer with a defect), and so does
 * anything `precheck` refuses before decoding. Encoding is `schema`'s; a client never sends an
 * `InvalidPayload` (encoding one fails).
 */
export const checked = <A, I>(
  schema: Schema.Schema<A, I, never>,
  precheck: (input: unknown) => InvalidPayload | undefined = () => undefined
): Schema.Schema<A | InvalidPayload, unknown, never> => {
  // Synchronous (Either) decoders: the payload schemas have no effects, and an Effect-based
  // decode runs the same checks through the fiber machinery at several times the cost (on
  // every upload, on both sides). A payload is decoded stopping at its first problem; only one
  // that has a problem is decoded again collecting them all, for the account.
  const decode = ParseResult.decodeUnknownEither(schema, { onExcessProperty: "ignore" })
  const decodeAll = ParseResult.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
  const encode = ParseResult.encodeUnknownEither(schema)
  // The decoded side is declared, not a Schema of the type: a Schema would check every decoded
  // payload a second time, and every payload sent before `encode` checks it anyway. What it
  // holds is what `decode` built with `schema`, or an `InvalidPayload`.
  const target = Schema.declare(
    (u: unknown): u is A | InvalidPayload => u instanceof InvalidPayload || (typeof u === "object" && u !== null),
    { identifier: `Checked<${String(schema.ast)}>` }
  )
  return Schema.transformOrFail(Schema.Unknown, target, {
    strict: true,
    decode: (input) => {
      const refused = precheck(input)
      if (refused !== undefined) return ParseResult.succeed<A | InvalidPayload>(refused)
      const decoded = decode(input)
      if (Either.isRight(decoded)) return ParseResult.succeed<A | InvalidPayload>(decoded.right)
      const issue = Either.match(decodeAll(input), { onLeft: (all) => all, onRight: () => decoded.left })
      return ParseResult.succeed<A | InvalidPayload>(
        new InvalidPayload({ detail: bounded(ParseResult.TreeFormatter.formatIssueSync(issue)) })
      )
    },
    encode: (value, _, ast) =>
      value instanceof InvalidPayload
        ? ParseResult.fail(new ParseResult.Type(ast, value, "an InvalidPayload is never sent"))
        : encode(value)
  })
}

/**
 * `SyncProtocol.FetchResponse` as `Fetch` answers it and `Subscribe` streams it: the same wire
 * form, decoded with the Schema (synchronously: an Effect-based decode of every page costs about
 * twice as much), and encoded field by field (`SyncProtocol.encodeRemoteAction`, equal to the
 * Schema's encoding) instead of walked by the Schema once more: the server built each page from
 * the log it checked, and the receiver decodes it with the Schema whatever the sender did.
 */
export const Page: Schema.Schema<SyncProtocol.FetchResponse, unknown, never> = (() => {
  const decode = ParseResult.decodeUnknownEither(SyncProtocol.FetchResponse)
  const page = Schema.declare(
    (u: unknown): u is SyncProtocol.FetchResponse =>
      typeof u === "object" && u !== null && "actions" in u && Array.isArray(u.actions),
    { identifier: "FetchResponse" }
  )
  return Schema.transformOrFail(Schema.Unknown, page, {
    strict: true,
    decode: (input) => decode(input),
    encode: (response) =>
      ParseResult.succeed({
        actions: response.actions.map(SyncProtocol.encodeRemoteAction),
        next: response.next,
        head: response.head,
        hasMore: response.hasMore,
        audiences: response.audiences
      })
  })
})()

/**
 * Why a request was not authenticated; nothing was read or written. A client acts on the
 * reason: `TokenExpired` means refresh the token and reconnect; the others mean the token (or
 * the server's configuration) is wrong and retrying with it will not help.
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  reason: Schema.Literal(
    "MissingToken",
    "MalformedToken",
    "BadSignature",
    "UnsupportedAlgorithm",
    "TokenExpired",
    "TokenNotYetValid",
    "WrongIssuer",
    "WrongAudience",
    "MissingSubject",
    "KeysUnavailable"
  ),
  detail: Schema.String
}) {
  override get message() {
    return `Unauthorized (${this.reason}): ${this.detail}`
  }
}

/**
 * A per-user or per-request limit was reached (too many subscriptions or connections, a body
 * too large); nothing was written. `limit` names the setting, `max` its value.
 */
export class LimitExceeded extends Schema.TaggedError<LimitExceeded>()("LimitExceeded", {
  limit: Schema.String,
  max: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `Limit exceeded (${this.limit}, at most ${this.max}): ${this.detail}`
  }
}

/** The authenticated caller of a request, as `Authentication` provides it to handlers. */
export interface CallerShape {
  /** The user id, from the token's `sub` (or the configured claim). */
  readonly userId: string
  /** Every claim of the token, for `request.jwt.claims`. */
  readonly claims: Readonly<Record<string, unknown>>
  /** When the token expires (ms since the epoch), or null when it has no `exp`. */
  readonly expiresAtMs: number | null
}

/** The authenticated caller. */
export class Caller extends Context.Tag("@reprise/core/SyncRpc/Caller")<Caller, CallerShape>() {}

/**
 * Authenticates every request of the group: the server implements it (verifying the bearer
 * token), a client provides its `/Client` side (adding the token to each request's headers).
 */
export class Authentication extends RpcMiddleware.Tag<Authentication>()("@reprise/core/SyncRpc/Authentication", {
  provides: Caller,
  failure: Schema.Union(Unauthorized, LimitExceeded),
  requiredForClient: true
}) {}

/** The errors an upload answers with. */
export const UploadErrors = Schema.Union(
  SyncProtocol.UploadRejected,
  SyncProtocol.BehindHead,
  SyncServer.ServerFailure
)

/** The errors a fetch or a subscription answers with. */
export const FetchErrors = Schema.Union(SyncProtocol.FetchRejected, SyncServer.ServerFailure, LimitExceeded)

/**
 * The errors a subscription ends with: a fetch's, and `Unauthorized` (`TokenExpired`) when the
 * caller's token expires while the stream is open, so the client refreshes it and subscribes
 * again from its cursor.
 */
export const SubscribeErrors = Schema.Union(SyncProtocol.FetchRejected, SyncServer.ServerFailure, LimitExceeded, Unauthorized)

/** The request of `Subscribe`: stream pages after `since`, each of at most `limit` actions. */
export const SubscribeRequest = SyncProtocol.FetchRequest
export type SubscribeRequest = typeof SubscribeRequest.Type

/** The sync protocol's procedures. */
export class SyncRpcs extends RpcGroup.make(
  Rpc.make("Upload", {
    payload: checked(SyncProtocol.UploadRequest, uploadSize),
    success: SyncProtocol.UploadResponse,
    error: UploadErrors
  }),
  Rpc.make("Fetch", {
    payload: checked(SyncProtocol.FetchRequest),
    success: Page,
    error: FetchErrors
  }),
  Rpc.make("Subscribe", {
    payload: checked(SubscribeRequest),
    success: Page,
    error: SubscribeErrors,
    stream: true
  }),
  Rpc.make("Head", {
    success: Schema.Int.pipe(Schema.nonNegative()),
    error: SyncServer.ServerFailure
  })
).middleware(Authentication) {}
