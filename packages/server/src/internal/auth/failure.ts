/**
 * Every way a token can fail, as the `Unauthorized` a client receives: each jose error class
 * maps to one reason, with a detail that says what was wrong and what to do. No detail ever
 * contains the token; it may name the token's `alg`, `kid`, `iss` or `aud` (short printable
 * values only), which is what its issuer needs to fix it.
 */
import { SyncRpc } from "@reprise/core"
import * as jose from "jose"
import { KeyLookupFailed, type KeySource, peekHeader } from "./verify.js"

type Reason = SyncRpc.Unauthorized["reason"]

/** What a failure's detail may mention besides the error itself. */
export interface FailureContext {
  readonly source: KeySource
  readonly issuer: string | undefined
  readonly audience: string | undefined
  readonly token: string
}

/** The `Unauthorized` with `reason` and `detail`. */
export const unauthorized = (reason: Reason, detail: string): SyncRpc.Unauthorized =>
  new SyncRpc.Unauthorized({ reason, detail })

/** Maps whatever `verifyToken` rejected with to the `Unauthorized` the caller receives. */
export const classify = (error: unknown, context: FailureContext): SyncRpc.Unauthorized => {
  if (error instanceof KeyLookupFailed) return keyLookup(error.cause, context)
  const { errors } = jose
  if (error instanceof errors.JWTExpired) {
    return unauthorized(
      "TokenExpired",
      `the token expired${at(error.payload.exp)}: obtain a fresh token from its issuer and reconnect`
    )
  }
  if (error instanceof errors.JWTClaimValidationFailed) return claim(error, context)
  if (error instanceof errors.JOSEAlgNotAllowed) return algorithm(context)
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return unauthorized(
      "BadSignature",
      context.source._tag === "Secret"
        ? "the token's signature does not verify with the server's HS256 secret: sign tokens with the secret the server is configured with"
        : `the token's signature does not verify with the key it names in the key set at ${context.source.url}: sign tokens with a private key whose public half the key set publishes`
    )
  }
  if (error instanceof errors.JOSENotSupported) {
    return unauthorized(
      "MalformedToken",
      `the token uses a JOSE feature this server does not support (${error.message}): issue a plain signed JWT`
    )
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return unauthorized(
      "MalformedToken",
      `the token is not a well-formed signed JWT (${error.message}): send the compact JWT its issuer produced, unmodified`
    )
  }
  // jose throws TypeError for keys it cannot use (an RSA key under 2048 bits, a key whose
  // "use" or "key_ops" forbid verification): the server's keys are at fault, not the token.
  if (error instanceof TypeError && context.source._tag === "Jwks") {
    return keysUnavailable(context.source.url, `a key in it cannot verify the token: ${error.message}`)
  }
  return unauthorized(
    "MalformedToken",
    `the token could not be verified (${error instanceof Error ? error.name : "unknown failure"}): send the compact JWT its issuer produced, unmodified`
  )
}

const claim = (error: jose.errors.JWTClaimValidationFailed, context: FailureContext): SyncRpc.Unauthorized => {
  const value = error.payload[error.claim]
  if (error.reason === "check_failed" && error.claim === "nbf") {
    return unauthorized(
      "TokenNotYetValid",
      `the token is not valid before${at(value)} (its "nbf" claim): wait until then, or check the issuer's clock`
    )
  }
  if (error.claim === "iss") {
    return unauthorized(
      "WrongIssuer",
      `the token's issuer ("iss") is ${shown(value)}, but this server accepts only tokens issued by ${JSON.stringify(context.issuer)}: obtain a token from that issuer`
    )
  }
  if (error.claim === "aud") {
    return unauthorized(
      "WrongAudience",
      `the token's audience ("aud") is ${shown(value)}, but this server accepts only tokens for ${JSON.stringify(context.audience)}: obtain a token issued for this server`
    )
  }
  return unauthorized(
    "MalformedToken",
    `the token's "${error.claim}" claim is invalid (${error.message}): time claims must be numbers of seconds since the epoch`
  )
}

const algorithm = (context: FailureContext): SyncRpc.Unauthorized => {
  const { alg } = peekHeader(context.token)
  const accepted = context.source.algorithms.join(", ")
  const used = alg === undefined
    ? "is signed with an algorithm"
    : alg === "none"
    ? "is unsigned (alg \"none\")"
    : `is signed with ${alg}`
  const why = alg === "none"
    ? "unsigned tokens are never accepted"
    : context.source._tag === "Jwks" && alg?.startsWith("HS")
    ? "a key set holds public keys, and a public key is no secret"
    : "it is not among the accepted algorithms"
  return unauthorized(
    "UnsupportedAlgorithm",
    `the token ${used}, which this server refuses (${why}); accepted: ${accepted}: sign tokens with one of those`
  )
}

const keyLookup = (cause: unknown, context: FailureContext): SyncRpc.Unauthorized => {
  const url = context.source._tag === "Jwks" ? context.source.url : "(none)"
  const { errors } = jose
  if (cause instanceof errors.JWKSNoMatchingKey) {
    const { alg, kid } = peekHeader(context.token)
    const cooldown = context.source._tag === "Jwks" ? context.source.cooldownMs / 1000 : 0
    return unauthorized(
      "BadSignature",
      `no key in the key set at ${url} matches the token (${kid === undefined ? "no kid" : `kid ${JSON.stringify(kid)}`}, alg ${alg ?? "unknown"}), even after refetching it (refetched at most every ${cooldown} s): sign tokens with a key the key set publishes`
    )
  }
  if (cause instanceof errors.JWKSTimeout) {
    return keysUnavailable(url, "the request timed out")
  }
  if (cause instanceof errors.JWKSInvalid || cause instanceof errors.JWKInvalid) {
    return keysUnavailable(url, `it is not a valid set of public keys (${cause.message})`)
  }
  if (cause instanceof errors.JOSEError) {
    return keysUnavailable(url, cause.message)
  }
  const message = cause instanceof Error
    ? cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
    : String(cause)
  return keysUnavailable(url, message)
}

const keysUnavailable = (url: string, why: string): SyncRpc.Unauthorized =>
  unauthorized(
    "KeysUnavailable",
    `the server could not obtain its verification keys from ${url} (${why}): check that the key set is served at that URL and reachable from the server, then retry`
  )

const at = (seconds: unknown): string =>
  typeof seconds === "number" && Number.isFinite(seconds) && Math.abs(seconds) < 8.64e12
    ? ` at ${new Date(seconds * 1000).toISOString()}`
    : ""

const shown = (value: unknown): string => {
  if (value === undefined) return "missing"
  const text = JSON.stringify(value)
  return text.length <= 120 ? text : `${text.slice(0, 117)}...`
}
