/**
 * Authentication of the server's callers with JWTs (R-SRV-4): each request carries a bearer
 * token, verified with an HS256 shared secret or with the public keys of a JSON Web Key Set
 * (JWKS) fetched from a URL, cached, and refetched when a token names a key the cache lacks (so
 * an issuer's key rotation is picked up without a restart). The caller's user id is the token's
 * `sub` claim (or the configured claim).
 *
 * Every failure is an `SyncRpc.Unauthorized` whose `reason` a client acts on (`TokenExpired`:
 * refresh and reconnect) and whose `detail` says what was wrong and what to do, never quoting
 * the token. Algorithms are allow-listed per key source: HS256 with the secret; asymmetric ones
 * (RS*, PS*, ES*, EdDSA) with a JWKS; never `none`, never HS* with a JWKS.
 *
 * Dev mode (`layerDev`) issues tokens for named users, signed with a dev secret (random unless
 * given), and warns loudly that it is unsafe: anyone holding that secret can act as any user.
 * Its tokens go through the same verification as any other; there is no bypass.
 *
 * @example
 * ```ts
 * import { Auth } from "@reprise/server"
 * const AuthLive = Auth.layer({ jwksUrl: "https://issuer.example/.well-known/jwks.json", issuer: "https://issuer.example/", audience: "reprise" })
 * const caller = Effect.gen(function*() {
 *   const auth = yield* Auth.Authenticator
 *   return yield* auth.verify(Auth.bearer(request.headers.authorization))
 * })
 * ```
 */
import type { SyncRpc } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as jose from "jose"
import { classify, unauthorized } from "./internal/auth/failure.js"
import * as Internal from "./internal/auth/config.js"
import { checkUserId, type Resolved, resolve } from "./internal/auth/config.js"
import { verifyToken } from "./internal/auth/verify.js"

/** The most characters a token may have; a longer one is refused before it is parsed. */
export const MAX_TOKEN_LENGTH = 16 * 1024

/** The most characters of a user id (the server stores it with every action). */
export const MAX_USER_ID_LENGTH = Internal.MAX_USER_ID_LENGTH

/** The least bytes of an HS256 secret (RFC 7518 §3.2: at least the hash's 256 bits). */
export const MIN_SECRET_BYTES = Internal.MIN_SECRET_BYTES

/** How the server authenticates; give exactly one of `secret` and `jwksUrl` (or `dev`). */
export interface Config {
  /** The HS256 shared secret (at least 32 bytes) that the token issuer signs with. */
  readonly secret?: Redacted.Redacted<string> | undefined
  /**
   * The http(s) URL of the issuer's JSON Web Key Set (public keys). Keys are cached for
   * `jwksCacheMaxAgeSeconds` and refetched early when a token names an unknown `kid` (at most
   * once per `jwksCooldownSeconds`). While the key set cannot be fetched, requests fail with
   * `KeysUnavailable`, and a failed fetch is retried at most once a second.
   */
  readonly jwksUrl?: string | undefined
  /** When set, the `iss` every token must carry. */
  readonly issuer?: string | undefined
  /** When set, the audience (`aud`, or one of its entries) every token must carry. */
  readonly audience?: string | undefined
  /** The claim holding the user id; `"sub"` by default. */
  readonly userClaim?: string | undefined
  /** Clock skew allowed when checking `exp` and `nbf`, in seconds; 5 by default. */
  readonly clockToleranceSeconds?: number | undefined
  /** The algorithms accepted from the JWKS (asymmetric only); RS*, PS*, ES*, EdDSA by default. */
  readonly jwksAlgorithms?: ReadonlyArray<string> | undefined
  /**
   * The least time between two fetches of the JWKS triggered by tokens with an unknown `kid`,
   * in seconds; 10 by default. Bounds how often forged `kid`s can make the server call the
   * issuer, and is also the longest a freshly rotated key can be refused.
   */
  readonly jwksCooldownSeconds?: number | undefined
  /** How long fetched JWKS keys are used before being fetched again, in seconds; 600 by default. */
  readonly jwksCacheMaxAgeSeconds?: number | undefined
  /** How long one JWKS fetch may take before the request fails with `KeysUnavailable`; 5 s by default. */
  readonly jwksTimeoutSeconds?: number | undefined
  /**
   * Dev mode, UNSAFE: verifies HS256 tokens signed with `secret`, generating a random one
   * when none is given, and logs a loud warning. Cannot be combined with `jwksUrl`.
   */
  readonly dev?: boolean | undefined
}

/** A configuration the server cannot authenticate with; `detail` says how to fix it. */
export class AuthConfigError extends Schema.TaggedError<AuthConfigError>()("AuthConfigError", {
  reason: Schema.Literal("NoKeySource", "BothKeySources", "SecretTooShort", "MalformedJwksUrl", "InvalidOption"),
  detail: Schema.String
}) {
  override get message() {
    return `Invalid auth configuration (${this.reason}): ${this.detail}`
  }
}

/** The authenticator's shape. */
export interface AuthenticatorShape {
  /**
   * Verifies a bearer token (without the "Bearer " prefix; `undefined` when the request has
   * none) and returns the caller it authenticates.
   */
  readonly verify: (token: string | undefined) => Effect.Effect<SyncRpc.CallerShape, SyncRpc.Unauthorized>
}

/** Verifies the bearer tokens of requests. */
export class Authenticator extends Context.Tag("@reprise/server/Auth/Authenticator")<Authenticator, AuthenticatorShape>() {}

/** Issues dev tokens for named users; only `layerDev` provides it. */
export interface DevTokensShape {
  /** The dev secret (the one given, or the one generated at startup). */
  readonly secret: Redacted.Redacted<string>
  /** A token for `userId` that the dev authenticator accepts (issuer, audience, claim as configured). */
  readonly issue: (
    userId: string,
    options?: { readonly ttlSeconds?: number; readonly claims?: Readonly<Record<string, unknown>> }
  ) => Effect.Effect<string, AuthConfigError>
}

/** Dev-mode token issuing (UNSAFE outside development). */
export class DevTokens extends Context.Tag("@reprise/server/Auth/DevTokens")<DevTokens, DevTokensShape>() {}

/**
 * The token in an `Authorization` header value (`Bearer <token>`, scheme case-insensitive), or
 * `undefined` when there is none (no header, another scheme, no token).
 */
export const bearer = (headerValue: string | undefined): string | undefined => {
  if (headerValue === undefined) return undefined
  const match = /^[ \t]*bearer[ \t]+(\S+)[ \t]*$/i.exec(headerValue)
  return match === null ? undefined : match[1]
}

/** An authenticator for `config`; fails with `AuthConfigError` when `config` cannot work. */
export const make: (config: Config) => Effect.Effect<AuthenticatorShape, AuthConfigError> = Effect.fn("Auth.make")(
  function*(config: Config) {
    const resolved = yield* resolveConfig(config)
    if (resolved.generatedSecret || config.dev === true) yield* warnDev(resolved)
    return fromResolved(resolved)
  }
)

/** The `Authenticator` for `config`. */
export const layer = (config: Config): Layer.Layer<Authenticator, AuthConfigError> =>
  Layer.effect(Authenticator, make(config))

/**
 * Dev mode (UNSAFE, never in production): the `Authenticator` and `DevTokens` sharing one
 * HS256 secret (`config.secret`, or a random one), with a loud warning logged once when the
 * layer is built.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const tokens = yield* Auth.DevTokens
 *   const token = yield* tokens.issue("alice")
 *   const caller = yield* (yield* Auth.Authenticator).verify(token) // { userId: "alice", ... }
 * }).pipe(Effect.provide(Auth.layerDev()))
 * ```
 */
export const layerDev = (config: Omit<Config, "dev" | "jwksUrl"> = {}): Layer.Layer<Authenticator | DevTokens, AuthConfigError> =>
  Layer.effectContext(Effect.gen(function*() {
    const resolved = yield* resolveConfig({ ...config, dev: true })
    yield* warnDev(resolved)
    const secret = resolved.source._tag === "Secret" ? resolved.secretText : undefined
    if (secret === undefined) return yield* Effect.die(new Error("dev mode resolved without a secret"))
    const tokens: DevTokensShape = {
      secret,
      issue: (userId, options) =>
        issueDevToken({
          secret,
          userId,
          ttlSeconds: options?.ttlSeconds,
          issuer: resolved.issuer,
          audience: resolved.audience,
          userClaim: resolved.userClaim,
          claims: options?.claims
        })
    }
    return Context.make(Authenticator, fromResolved(resolved)).pipe(Context.add(DevTokens, tokens))
  }))

/** Options of `issueDevToken`. */
export interface DevTokenOptions {
  /** The HS256 secret the server verifies with (at least 32 bytes). */
  readonly secret: Redacted.Redacted<string>
  /** The user the token authenticates (at most 256 characters, no control characters). */
  readonly userId: string
  /** Lifetime in seconds; 3600 by default. */
  readonly ttlSeconds?: number | undefined
  /** The `iss` to set (the server's `issuer`, when it checks one). */
  readonly issuer?: string | undefined
  /** The `aud` to set (the server's `audience`, when it checks one). */
  readonly audience?: string | undefined
  /** The claim carrying the user id; `"sub"` by default. */
  readonly userClaim?: string | undefined
  /** Further claims; the registered ones (`sub`, `iat`, `exp`, `iss`, `aud`) above win. */
  readonly claims?: Readonly<Record<string, unknown>> | undefined
}

/**
 * An HS256 token for `userId`, signed with `secret`, issued now (the `Clock`'s time): what dev
 * mode hands out for named users, and what tests use.
 *
 * @example
 * ```ts
 * const token = yield* Auth.issueDevToken({ secret, userId: "alice", ttlSeconds: 600 })
 * // send it as `authorization: Bearer ${token}` to a server verifying with `secret`
 * ```
 */
export const issueDevToken: (options: DevTokenOptions) => Effect.Effect<string, AuthConfigError> = Effect.fn(
  "Auth.issueDevToken"
)(function*(options: DevTokenOptions) {
  const key = new TextEncoder().encode(Redacted.value(options.secret))
  if (key.length < MIN_SECRET_BYTES) {
    return yield* new AuthConfigError({
      reason: "SecretTooShort",
      detail: `the dev secret is ${key.length} bytes; use at least ${MIN_SECRET_BYTES}`
    })
  }
  const problem = checkUserId(options.userId)
  if (problem !== undefined) {
    return yield* new AuthConfigError({ reason: "InvalidOption", detail: `cannot issue a token: the user id ${problem}` })
  }
  const ttl = options.ttlSeconds ?? 3600
  if (!(Number.isFinite(ttl) && ttl > 0)) {
    return yield* new AuthConfigError({ reason: "InvalidOption", detail: `ttlSeconds must be a positive number of seconds` })
  }
  const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
  const userClaim = options.userClaim ?? "sub"
  const claims: jose.JWTPayload = { ...options.claims, [userClaim]: options.userId, iat: now, exp: now + Math.ceil(ttl) }
  if (options.issuer !== undefined) claims.iss = options.issuer
  if (options.audience !== undefined) claims.aud = options.audience
  return yield* Effect.tryPromise({
    try: () => new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key),
    catch: (error) =>
      new AuthConfigError({
        reason: "InvalidOption",
        detail: `cannot issue a token: its claims must be JSON values (${error instanceof Error ? error.message : String(error)})`
      })
  })
})

const resolveConfig = (config: Config) =>
  Effect.mapError(resolve(config), (problem) => new AuthConfigError(problem))

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/

const fromResolved = (resolved: Resolved): AuthenticatorShape => ({
  verify: (token) =>
    Effect.gen(function*() {
      if (token === undefined || token.length === 0) {
        return yield* unauthorized(
          "MissingToken",
          "the request carries no bearer token: send `Authorization: Bearer <jwt>` with a token from the server's issuer"
        )
      }
      if (token.length > MAX_TOKEN_LENGTH) {
        return yield* unauthorized(
          "MalformedToken",
          `the token is ${token.length} characters, more than the ${MAX_TOKEN_LENGTH} accepted: issue tokens with fewer claims`
        )
      }
      if (!COMPACT_JWS.test(token)) {
        return yield* unauthorized(
          "MalformedToken",
          "the token is not a compact JWT (three base64url parts separated by dots): send the JWT itself, without quotes or a scheme"
        )
      }
      const nowMs = yield* Clock.currentTimeMillis
      const payload = yield* Effect.tryPromise({
        try: () =>
          verifyToken(token, resolved.source, {
            issuer: resolved.issuer,
            audience: resolved.audience,
            clockToleranceSeconds: resolved.clockToleranceSeconds,
            nowMs
          }),
        catch: (error) =>
          classify(error, { source: resolved.source, issuer: resolved.issuer, audience: resolved.audience, token })
      })
      const userId = payload[resolved.userClaim]
      if (typeof userId !== "string" || userId.length === 0) {
        return yield* unauthorized(
          "MissingSubject",
          `the token's "${resolved.userClaim}" claim ${
            userId === undefined ? "is missing" : typeof userId === "string" ? "is empty" : `is a ${kindOf(userId)}, not a string`
          }: issue tokens whose "${resolved.userClaim}" claim is the user's id`
        )
      }
      const problem = checkUserId(userId)
      if (problem !== undefined) {
        return yield* unauthorized(
          "MalformedToken",
          `the user id in the token's "${resolved.userClaim}" claim ${problem}: issue tokens with a shorter, printable user id`
        )
      }
      const exp = payload.exp
      return {
        userId,
        claims: payload,
        expiresAtMs: typeof exp === "number" ? Math.floor(exp * 1000) : null
      } satisfies SyncRpc.CallerShape
    }).pipe(Effect.withSpan("Auth.verify"))
})

const warnDev = (resolved: Resolved) =>
  Effect.logWarning(
    [
      "",
      "!!! UNSAFE: Reprise auth is in DEV MODE. NEVER USE IT IN PRODUCTION. !!!",
      resolved.generatedSecret
        ? "Tokens are signed with a random secret generated at startup; anyone who obtains a dev token can act as its user."
        : "Tokens are signed with the configured dev secret; anyone who knows it can act as ANY user.",
      "Configure a real issuer (an HS256 secret you keep private, or a JWKS URL) for any deployment.",
      ""
    ].join("\n")
  )

const kindOf = (value: unknown): string => value === null ? "null" : Array.isArray(value) ? "array" : typeof value
