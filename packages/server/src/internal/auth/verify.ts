/**
 * Token verification with `jose`, around one key source: the HS256 shared secret or a remote
 * JSON Web Key Set. Nothing here knows Effect; `Auth.ts` runs it and maps its failures
 * (`./failure.ts`).
 */
import * as jose from "jose"

/** Algorithms accepted with the shared secret: HS256 only. */
export const SECRET_ALGORITHMS: ReadonlyArray<string> = ["HS256"]

/**
 * Algorithms accepted with a JWKS by default: asymmetric signatures only. Never an `HS*`
 * algorithm (a public key would become a shared secret anyone holds) and never `none`.
 */
export const JWKS_ALGORITHMS: ReadonlyArray<string> = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519"
]

/** Where verification keys come from. */
export type KeySource =
  | { readonly _tag: "Secret"; readonly key: Uint8Array; readonly algorithms: ReadonlyArray<string> }
  | {
    readonly _tag: "Jwks"
    readonly url: string
    readonly getKey: jose.JWTVerifyGetKey
    readonly algorithms: ReadonlyArray<string>
    readonly cooldownMs: number
  }

/**
 * A failure while looking a key up in the key set (fetching it, parsing it, finding the
 * token's key in it), kept apart from failures of the token itself: `fetch` rejects with a bare
 * `TypeError` when the endpoint is unreachable, which would otherwise be indistinguishable
 * from a key jose cannot use.
 */
export class KeyLookupFailed {
  readonly _tag = "KeyLookupFailed"
  constructor(readonly cause: unknown) {}
}

/** Timings of the remote key set, in milliseconds. */
export interface RemoteTimings {
  /** The least time between two fetches that a token with an unknown `kid` triggers. */
  readonly cooldownMs: number
  /** How long fetched keys are used before they are fetched again. */
  readonly cacheMaxAgeMs: number
  /** How long one fetch of the key set may take. */
  readonly timeoutMs: number
}

/**
 * A key resolver over the key set at `url`: jose's remote set caches the keys, refetches them
 * when they are older than `cacheMaxAgeMs` and, at most once per `cooldownMs`, when a token
 * names a `kid` the cached set lacks (so a rotated key is picked up without a restart, and a
 * flood of tokens with made-up `kid`s cannot make the server hammer the issuer).
 */
export const remoteKeySource = (url: URL, algorithms: ReadonlyArray<string>, timings: RemoteTimings): KeySource => {
  const remote = jose.createRemoteJWKSet(url, {
    cooldownDuration: timings.cooldownMs,
    cacheMaxAge: timings.cacheMaxAgeMs,
    timeoutDuration: timings.timeoutMs
  })
  // jose waits for a successful fetch before its cooldown applies, so while the key set is
  // unreachable every request would fetch it again: remember the failure for `retryMs`, and
  // answer the requests in between with it, without calling the issuer.
  const retryMs = Math.min(FAILED_FETCH_RETRY_MS, timings.cooldownMs)
  let failed: { readonly cause: unknown; readonly atMs: number } | undefined
  const getKey: jose.JWTVerifyGetKey = async (header, token) => {
    if (failed !== undefined && Date.now() - failed.atMs < retryMs) throw new KeyLookupFailed(failed.cause)
    try {
      const key = await remote(header, token)
      failed = undefined
      return key
    } catch (cause) {
      if (!isAboutTheToken(cause)) failed = { cause, atMs: Date.now() }
      throw new KeyLookupFailed(cause)
    }
  }
  return { _tag: "Jwks", url: url.href, getKey, algorithms, cooldownMs: timings.cooldownMs }
}

/** How long a failed fetch of the key set is reported again instead of being retried. */
export const FAILED_FETCH_RETRY_MS = 1000

/** Whether a key lookup failed because of the token (no key for it) rather than the key set. */
const isAboutTheToken = (cause: unknown): boolean =>
  cause instanceof jose.errors.JWKSNoMatchingKey ||
  cause instanceof jose.errors.JWKSMultipleMatchingKeys ||
  cause instanceof jose.errors.JOSENotSupported

/** The options every verification uses, whatever the key source. */
export interface VerifyOptions {
  readonly issuer: string | undefined
  readonly audience: string | undefined
  readonly clockToleranceSeconds: number
  /** The `Clock`'s time, so that tests control expiry. */
  readonly nowMs: number
}

/**
 * Verifies `token` (signature with an allow-listed algorithm, then `exp`, `nbf`, `iss`, `aud`)
 * and returns its payload. Rejects with jose's errors, or `KeyLookupFailed` for the key set.
 *
 * When several keys of the set match a token without a `kid`, each is tried: the token is
 * accepted if one of them verifies it.
 */
export const verifyToken = async (
  token: string,
  source: KeySource,
  options: VerifyOptions
): Promise<jose.JWTPayload> => {
  const joseOptions: jose.JWTVerifyOptions = {
    algorithms: [...source.algorithms],
    clockTolerance: options.clockToleranceSeconds,
    currentDate: new Date(options.nowMs),
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.audience === undefined ? {} : { audience: options.audience })
  }
  if (source._tag === "Secret") {
    return (await jose.jwtVerify(token, source.key, joseOptions)).payload
  }
  try {
    return (await jose.jwtVerify(token, source.getKey, joseOptions)).payload
  } catch (error) {
    if (error instanceof KeyLookupFailed && error.cause instanceof jose.errors.JWKSMultipleMatchingKeys) {
      return await verifyWithEach(token, error.cause, joseOptions)
    }
    throw error
  }
}

const verifyWithEach = async (
  token: string,
  candidates: jose.errors.JWKSMultipleMatchingKeys,
  options: jose.JWTVerifyOptions
): Promise<jose.JWTPayload> => {
  for await (const key of candidates) {
    try {
      return (await jose.jwtVerify(token, key, options)).payload
    } catch (error) {
      if (error instanceof jose.errors.JWSSignatureVerificationFailed) continue
      throw error
    }
  }
  throw new jose.errors.JWSSignatureVerificationFailed()
}

/** The token's `alg` and `kid`, when they are short printable strings (for messages only). */
export const peekHeader = (token: string): { readonly alg: string | undefined; readonly kid: string | undefined } => {
  try {
    const header = jose.decodeProtectedHeader(token)
    return { alg: printable(header.alg), kid: printable(header.kid) }
  } catch {
    return { alg: undefined, kid: undefined }
  }
}

const printable = (value: unknown): string | undefined =>
  typeof value === "string" && /^[\x21-\x7e]{1,64}$/.test(value) ? value : undefined
