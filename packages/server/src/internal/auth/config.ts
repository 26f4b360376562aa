/**
 * Checks an `Auth.Config` and turns it into a key source plus the claim checks, failing with an
 * `AuthConfigError` that says what to change.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { Config } from "../../Auth.js"
import { JWKS_ALGORITHMS, type KeySource, remoteKeySource, SECRET_ALGORITHMS } from "./verify.js"

/** Why a configuration cannot work; `Auth` reports it as an `AuthConfigError`. */
export interface ConfigProblem {
  readonly reason: "NoKeySource" | "BothKeySources" | "SecretTooShort" | "MalformedJwksUrl" | "InvalidOption"
  readonly detail: string
}

/** A checked configuration. */
export interface Resolved {
  readonly source: KeySource
  /** The HS256 secret, when the source is one. */
  readonly secretText: Redacted.Redacted<string> | undefined
  /** Whether dev mode generated the secret. */
  readonly generatedSecret: boolean
  readonly issuer: string | undefined
  readonly audience: string | undefined
  readonly userClaim: string
  readonly clockToleranceSeconds: number
}

/** The most characters of a user id. */
export const MAX_USER_ID_LENGTH = 256
/** The least bytes of an HS256 secret. */
export const MIN_SECRET_BYTES = 32

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why `userId` cannot be a user id (too long, control characters), or `undefined` when it can. */
export const checkUserId = (userId: string): string | undefined => {
  if (userId.length === 0) return "is empty"
  if (userId.length > MAX_USER_ID_LENGTH) {
    return `is ${userId.length} characters, more than the ${MAX_USER_ID_LENGTH} accepted`
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(userId)) return "contains control characters"
  if (LONE_SURROGATE.test(userId)) return "is not well-formed Unicode (a lone surrogate)"
  return undefined
}

/** Checks `config`; in dev mode without a secret, generates one. */
export const resolve = (config: Config): Effect.Effect<Resolved, ConfigProblem> =>
  Effect.gen(function*() {
    const fail = (reason: ConfigProblem["reason"], detail: string) => Effect.fail<ConfigProblem>({ reason, detail })
    const dev = config.dev === true
    const seconds = (name: string, value: number | undefined, fallback: number) =>
      value === undefined
        ? Effect.succeed(fallback)
        : Number.isFinite(value) && value >= 0
        ? Effect.succeed(value)
        : fail("InvalidOption", `${name} must be a non-negative number of seconds`)
    const clockToleranceSeconds = yield* seconds("clockToleranceSeconds", config.clockToleranceSeconds, 5)
    const userClaim = config.userClaim ?? "sub"
    if (userClaim.length === 0) {
      return yield* fail("InvalidOption", "userClaim must name a claim (\"sub\" when omitted)")
    }
    for (const [name, value] of [["issuer", config.issuer], ["audience", config.audience]] as const) {
      if (value !== undefined && value.length === 0) {
        return yield* fail("InvalidOption", `${name} is empty: omit it to accept any ${name}, or give the expected value`)
      }
    }
    const common = { issuer: config.issuer, audience: config.audience, userClaim, clockToleranceSeconds }

    if (config.secret !== undefined && config.jwksUrl !== undefined) {
      return yield* fail(
        "BothKeySources",
        "both an HS256 secret and a JWKS URL are configured: give exactly one (the secret for a shared-key issuer, the JWKS URL for an issuer with public keys)"
      )
    }
    if (config.jwksUrl !== undefined) {
      if (dev) {
        return yield* fail(
          "InvalidOption",
          "dev mode signs its tokens with an HS256 secret and cannot use a JWKS URL: drop the JWKS URL, or leave dev mode"
        )
      }
      const url = yield* parseJwksUrl(config.jwksUrl, fail)
      const algorithms = config.jwksAlgorithms ?? JWKS_ALGORITHMS
      const refused = algorithms.filter((alg) => !JWKS_ALGORITHMS.includes(alg))
      if (algorithms.length === 0 || refused.length > 0) {
        return yield* fail(
          "InvalidOption",
          `jwksAlgorithms must list asymmetric algorithms among ${JWKS_ALGORITHMS.join(", ")}${
            refused.length > 0 ? `; not ${refused.map((alg) => JSON.stringify(alg)).join(", ")}` : ""
          }`
        )
      }
      const cooldown = yield* seconds("jwksCooldownSeconds", config.jwksCooldownSeconds, 10)
      const cacheMaxAge = yield* seconds("jwksCacheMaxAgeSeconds", config.jwksCacheMaxAgeSeconds, 600)
      const timeout = yield* seconds("jwksTimeoutSeconds", config.jwksTimeoutSeconds, 5)
      if (timeout === 0) return yield* fail("InvalidOption", "jwksTimeoutSeconds must be more than 0")
      const source = remoteKeySource(url, algorithms, {
        cooldownMs: Math.round(cooldown * 1000),
        cacheMaxAgeMs: cacheMaxAge * 1000,
        timeoutMs: Math.max(1, Math.round(timeout * 1000))
      })
      return { ...common, source, secretText: undefined, generatedSecret: false }
    }
    const given = config.secret
    if (given === undefined && !dev) {
      return yield* fail(
        "NoKeySource",
        "no way to verify tokens is configured: give the issuer's HS256 secret (at least 32 bytes) or its JWKS URL; for local development only, use dev mode"
      )
    }
    const secretText = given ?? (yield* randomSecret)
    const key = new TextEncoder().encode(Redacted.value(secretText))
    if (key.length < MIN_SECRET_BYTES) {
      return yield* fail(
        "SecretTooShort",
        `the HS256 secret is ${key.length} bytes, fewer than the ${MIN_SECRET_BYTES} required: use a random secret of at least ${MIN_SECRET_BYTES} bytes (for example \`openssl rand -base64 48\`)`
      )
    }
    return {
      ...common,
      source: { _tag: "Secret", key, algorithms: SECRET_ALGORITHMS },
      secretText,
      generatedSecret: given === undefined
    }
  })

const parseJwksUrl = (
  text: string,
  fail: (reason: "MalformedJwksUrl", detail: string) => Effect.Effect<never, ConfigProblem>
): Effect.Effect<URL, ConfigProblem> => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return fail("MalformedJwksUrl", `the JWKS URL ${JSON.stringify(text)} is not a URL: give an absolute http(s) URL such as https://issuer.example/.well-known/jwks.json`)
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return fail("MalformedJwksUrl", `the JWKS URL uses ${url.protocol}, not http: or https:: give an http(s) URL`)
  }
  if (url.username !== "" || url.password !== "") {
    return fail("MalformedJwksUrl", "the JWKS URL carries credentials: key sets are public, give the URL without a user or password")
  }
  return Effect.succeed(url)
}

// The dev secret must be unguessable, so it comes from the platform's CSPRNG rather than from
// Effect's (seedable, non-cryptographic) Random.
const randomSecret = Effect.sync(() => {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return Redacted.make(Buffer.from(bytes).toString("base64url"))
})
