/**
 * Auth: every way a token fails, each with its exact `Unauthorized` reason and a detail that
 * never quotes the token; configurations that cannot work; dev tokens; and a JWKS served by a
 * real HTTP server on loopback (key rotation, forged key ids, an unreachable key set).
 *
 * Verifies: R-SRV-4
 */
import { assert, describe, it } from "@effect/vitest"
import type { SyncRpc } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import { Auth } from "../src/index.js"
import {
  closedPortUrl,
  generateKeys,
  jwksServer,
  publicJwk,
  signWith,
  sleepReal,
  unsigned,
  weakRsa
} from "./auth.network.helpers.js"

/** The test clock's time in every HS256 case: 2027-01-15T08:00:00Z. */
const NOW_S = 1_800_000_000
const SECRET = Redacted.make("correct horse battery staple, 32+ bytes long")
const OTHER_SECRET = Redacted.make("another secret of at least thirty-two bytes")
const ISSUER = "https://issuer.test/"
const AUDIENCE = "reprise"

const key = (secret: Redacted.Redacted<string>) => new TextEncoder().encode(Redacted.value(secret))

/** An HS256 token over `claims` (defaults: sub alice, our iss and aud, one hour from NOW_S). */
const hs256 = (claims: jose.JWTPayload = {}, secret = SECRET, header: jose.JWTHeaderParameters = { alg: "HS256" }) =>
  Effect.promise(() =>
    new jose.SignJWT({ sub: "alice", iss: ISSUER, aud: AUDIENCE, iat: NOW_S, exp: NOW_S + 3600, ...claims })
      .setProtectedHeader(header)
      .sign(key(secret))
  )

const withoutClaim = (claim: string) =>
  Effect.promise(() => {
    const claims: jose.JWTPayload = { sub: "alice", iss: ISSUER, aud: AUDIENCE, exp: NOW_S + 3600 }
    delete claims[claim]
    return new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key(SECRET))
  })

const authenticator = (config: Partial<Auth.Config> = {}) =>
  Auth.make({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE, ...config }).pipe(Effect.orDie)

/**
 * `verify(token)`'s failure: asserts its reason is `reason` and that its detail quotes no part of
 * the token longer than a few characters.
 */
const refusal = (auth: Auth.AuthenticatorShape, token: string | undefined, reason: SyncRpc.Unauthorized["reason"]) =>
  Effect.gen(function*() {
    const result = yield* Effect.either(auth.verify(token))
    if (Either.isRight(result)) return assert.fail(`expected ${reason}, but the token verified as ${result.right.userId}`)
    const failure = result.left
    assert.strictEqual(failure._tag, "Unauthorized")
    assert.strictEqual(failure.reason, reason, failure.detail)
    assert.isAbove(failure.detail.length, 40, "the detail says what to do")
    for (const part of (token ?? "").split(".").filter((p) => p.length > 16)) {
      assert.notInclude(failure.detail, part.slice(0, 16), "the detail never echoes the token")
    }
    return failure
  })

describe("Auth: HS256 secret", () => {
  it.effect("accepts a valid token: userId from sub, claims, expiresAtMs from exp", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator()
      const token = yield* hs256({ role: "editor" })
      const caller = yield* auth.verify(token)
      assert.strictEqual(caller.userId, "alice")
      assert.strictEqual(caller.expiresAtMs, (NOW_S + 3600) * 1000)
      assert.deepStrictEqual(caller.claims, { sub: "alice", iss: ISSUER, aud: AUDIENCE, iat: NOW_S, exp: NOW_S + 3600, role: "editor" })
      const noExp = yield* auth.verify(yield* withoutClaim("exp"))
      assert.isNull(noExp.expiresAtMs)
      const audList = yield* auth.verify(yield* hs256({ aud: ["other", AUDIENCE] }))
      assert.strictEqual(audList.userId, "alice")
    }))

  it.effect("missing and malformed tokens", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator()
      yield* refusal(auth, undefined, "MissingToken")
      yield* refusal(auth, "", "MissingToken")
      const valid = yield* hs256()
      const [header, payload] = valid.split(".")
      for (
        const garbage of [
          "garbage",
          "a.b",
          "a.b.c.d",
          `"${valid}"`,
          `Bearer ${valid}`,
          "bm90IGpzb24.bm90IGpzb24.c2ln", // base64url of "not json"
          yield* Effect.promise(() => // a correctly signed payload that is not JSON
            new jose.CompactSign(new TextEncoder().encode("not json")).setProtectedHeader({ alg: "HS256" }).sign(key(SECRET))
          ),
          `${header}.${payload}.!!!`,
          `eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19.${payload}.c2ln` // crit names an unknown extension
        ]
      ) {
        yield* refusal(auth, garbage, "MalformedToken")
      }
      // the signature is checked before anything else of the token is believed
      yield* refusal(auth, `${header}.bm90IGpzb24.${valid.split(".")[2]}`, "BadSignature")
      yield* refusal(auth, yield* hs256({ exp: "tomorrow" as unknown as number }), "MalformedToken")
      yield* refusal(auth, yield* hs256({ nbf: "yesterday" as unknown as number }), "MalformedToken")
    }))

  it.effect("a token over 16 KiB is refused before it is parsed; 16 KiB of claims is refused as well", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator()
      const huge = "A".repeat(Auth.MAX_TOKEN_LENGTH + 1)
      const failure = yield* refusal(auth, huge, "MalformedToken")
      assert.include(failure.detail, String(Auth.MAX_TOKEN_LENGTH))
      const signedHuge = yield* hs256({ padding: "x".repeat(Auth.MAX_TOKEN_LENGTH) })
      yield* refusal(auth, signedHuge, "MalformedToken")
      const justUnder = yield* hs256({ padding: "x".repeat(Auth.MAX_TOKEN_LENGTH / 2) })
      assert.strictEqual((yield* auth.verify(justUnder)).userId, "alice")
    }))

  it.effect("bad signatures: another secret, a tampered payload, a truncated signature", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator()
      yield* refusal(auth, yield* hs256({}, OTHER_SECRET), "BadSignature")
      const [header, , signature] = (yield* hs256()).split(".")
      const forged = Buffer.from(JSON.stringify({ sub: "mallory", iss: ISSUER, aud: AUDIENCE })).toString("base64url")
      yield* refusal(auth, `${header}.${forged}.${signature}`, "BadSignature")
      yield* refusal(auth, `${header}.${forged}.${signature!.slice(0, 20)}`, "BadSignature")
    }))

  it.effect("algorithms: alg none, HS512, and an RS256 token are refused", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator()
      const none = yield* refusal(auth, unsigned({ sub: "alice", iss: ISSUER, aud: AUDIENCE }), "UnsupportedAlgorithm")
      assert.include(none.detail, "unsigned")
      const hs512 = yield* Effect.promise(() =>
        new jose.SignJWT({ sub: "alice", iss: ISSUER, aud: AUDIENCE }).setProtectedHeader({ alg: "HS512" }).sign(
          new TextEncoder().encode("a secret long enough for HS512 must have sixty-four bytes in it ......")
        )
      )
      yield* refusal(auth, hs512, "UnsupportedAlgorithm")
      const { privateKey } = yield* generateKeys("RS256")
      const rs256 = yield* Effect.promise(() =>
        new jose.SignJWT({ sub: "alice", iss: ISSUER, aud: AUDIENCE }).setProtectedHeader({ alg: "RS256" }).sign(privateKey)
      )
      yield* refusal(auth, rs256, "UnsupportedAlgorithm")
    }))

  it.effect("time: expired, nbf in the future, within the clock tolerance, expiring while held", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator({ clockToleranceSeconds: 5 })
      const expired = yield* refusal(auth, yield* hs256({ exp: NOW_S - 60 }), "TokenExpired")
      assert.include(expired.detail, "fresh token")
      yield* refusal(auth, yield* hs256({ nbf: NOW_S + 600 }), "TokenNotYetValid")
      assert.strictEqual((yield* auth.verify(yield* hs256({ exp: NOW_S - 3 }))).userId, "alice")
      assert.strictEqual((yield* auth.verify(yield* hs256({ nbf: NOW_S + 3 }))).userId, "alice")
      const token = yield* hs256({ exp: NOW_S + 60 })
      assert.strictEqual((yield* auth.verify(token)).userId, "alice")
      yield* TestClock.adjust("66 seconds")
      yield* refusal(auth, token, "TokenExpired")
    }))

  it.effect("issuer and audience: wrong, missing; no check when not configured", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator()
      const iss = yield* refusal(auth, yield* hs256({ iss: "https://evil.test/" }), "WrongIssuer")
      assert.include(iss.detail, ISSUER)
      yield* refusal(auth, yield* withoutClaim("iss"), "WrongIssuer")
      yield* refusal(auth, yield* hs256({ aud: "another-app" }), "WrongAudience")
      yield* refusal(auth, yield* hs256({ aud: ["a", "b"] }), "WrongAudience")
      yield* refusal(auth, yield* withoutClaim("aud"), "WrongAudience")
      const open = yield* authenticator({ issuer: undefined, audience: undefined })
      assert.strictEqual((yield* open.verify(yield* hs256({ iss: "anyone", aud: "anything" }))).userId, "alice")
    }))

  it.effect("the user id: missing, not a string, empty, too long, control characters; a custom claim", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* authenticator()
      yield* refusal(auth, yield* withoutClaim("sub"), "MissingSubject")
      yield* refusal(auth, yield* hs256({ sub: 42 as unknown as string }), "MissingSubject")
      yield* refusal(auth, yield* hs256({ sub: "" }), "MissingSubject")
      const long = yield* refusal(auth, yield* hs256({ sub: "u".repeat(Auth.MAX_USER_ID_LENGTH + 1) }), "MalformedToken")
      assert.include(long.detail, "257 characters")
      assert.strictEqual((yield* auth.verify(yield* hs256({ sub: "u".repeat(256) }))).userId.length, 256)
      for (const bad of ["ali\nce", "ali\u0000ce", "ali\u007fce", "\ud800alice"]) {
        yield* refusal(auth, yield* hs256({ sub: bad }), "MalformedToken")
      }
      assert.strictEqual((yield* auth.verify(yield* hs256({ sub: "Zoë 🐙 <z@x>" }))).userId, "Zoë 🐙 <z@x>")

      const custom = yield* authenticator({ userClaim: "user_id" })
      const caller = yield* custom.verify(yield* hs256({ user_id: "bob" }))
      assert.strictEqual(caller.userId, "bob")
      const missing = yield* refusal(custom, yield* hs256(), "MissingSubject")
      assert.include(missing.detail, "user_id")
    }))
})

describe("Auth: configuration", () => {
  const configError = (config: Auth.Config, reason: Auth.AuthConfigError["reason"]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Auth.make(config))
      assert.strictEqual(error._tag, "AuthConfigError")
      assert.strictEqual(error.reason, reason, error.detail)
      assert.notInclude(error.message, "correct horse", "the secret never appears in a message")
      return error
    })

  it.effect("refuses configurations that cannot work, each with an actionable message", () =>
    Effect.gen(function*() {
      const none = yield* configError({}, "NoKeySource")
      assert.include(none.detail, "JWKS URL")
      yield* configError({ issuer: ISSUER }, "NoKeySource")
      yield* configError({ secret: SECRET, jwksUrl: "https://issuer.test/jwks.json" }, "BothKeySources")
      const short = yield* configError({ secret: Redacted.make("x".repeat(31)) }, "SecretTooShort")
      assert.include(short.detail, "31 bytes")
      yield* configError({ jwksUrl: "not a url" }, "MalformedJwksUrl")
      yield* configError({ jwksUrl: "ftp://issuer.test/jwks.json" }, "MalformedJwksUrl")
      yield* configError({ jwksUrl: "https://user:pw@issuer.test/jwks.json" }, "MalformedJwksUrl")
      yield* configError({ jwksUrl: "https://issuer.test/jwks.json", jwksAlgorithms: ["RS256", "HS256"] }, "InvalidOption")
      yield* configError({ jwksUrl: "https://issuer.test/jwks.json", jwksAlgorithms: ["none"] }, "InvalidOption")
      yield* configError({ jwksUrl: "https://issuer.test/jwks.json", dev: true }, "InvalidOption")
      yield* configError({ secret: SECRET, clockToleranceSeconds: -1 }, "InvalidOption")
      yield* configError({ secret: SECRET, userClaim: "" }, "InvalidOption")
      yield* configError({ secret: SECRET, issuer: "" }, "InvalidOption")
      // exactly 32 bytes is enough
      yield* Auth.make({ secret: Redacted.make("é".repeat(16)) })
      yield* Auth.make({ jwksUrl: "http://127.0.0.1:1/jwks.json" })
    }))

  it("bearer() takes the token out of an Authorization header value", () => {
    assert.strictEqual(Auth.bearer("Bearer abc.def.ghi"), "abc.def.ghi")
    assert.strictEqual(Auth.bearer("bearer  abc.def.ghi "), "abc.def.ghi")
    assert.strictEqual(Auth.bearer("BEARER\tabc"), "abc")
    assert.isUndefined(Auth.bearer(undefined))
    assert.isUndefined(Auth.bearer(""))
    assert.isUndefined(Auth.bearer("Bearer"))
    assert.isUndefined(Auth.bearer("Bearer "))
    assert.isUndefined(Auth.bearer("Basic dXNlcjpwdw=="))
    assert.isUndefined(Auth.bearer("Bearer a b"))
    assert.isUndefined(Auth.bearer("abc.def.ghi"))
  })
})

describe("Auth: dev mode", () => {
  it.effect("dev tokens round-trip through the same verification; a random secret per layer", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const [auth, tokens] = yield* Effect.all([Auth.Authenticator, Auth.DevTokens]).pipe(
        Effect.provide(Auth.layerDev({ issuer: ISSUER, audience: AUDIENCE }))
      )
      const token = yield* tokens.issue("alice", { ttlSeconds: 120, claims: { role: "admin", sub: "mallory" } })
      const caller = yield* auth.verify(token)
      assert.strictEqual(caller.userId, "alice", "the named user wins over a sub among the extra claims")
      assert.strictEqual(caller.expiresAtMs, (NOW_S + 120) * 1000)
      assert.strictEqual(caller.claims.role, "admin")
      assert.strictEqual(caller.claims.iss, ISSUER)
      assert.isAtLeast(new TextEncoder().encode(Redacted.value(tokens.secret)).length, 32)
      yield* TestClock.adjust("126 seconds") // past exp and the 5 s clock tolerance
      yield* refusal(auth, token, "TokenExpired")

      const second = yield* Effect.provide(Auth.DevTokens, Auth.layerDev({ issuer: ISSUER, audience: AUDIENCE }))
      yield* refusal(auth, yield* second.issue("alice"), "BadSignature")
      yield* refusal(auth, unsigned({ sub: "alice", iss: ISSUER, aud: AUDIENCE }), "UnsupportedAlgorithm")
    }))

  it.effect("issueDevToken with a given secret verifies under Auth.layer; bad inputs are typed errors", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW_S * 1000)
      const auth = yield* Auth.make({ secret: SECRET, dev: true, userClaim: "uid" })
      const token = yield* Auth.issueDevToken({ secret: SECRET, userId: "carol", userClaim: "uid" })
      assert.strictEqual((yield* auth.verify(token)).userId, "carol")
      const short = yield* Effect.flip(Auth.issueDevToken({ secret: Redacted.make("short"), userId: "carol" }))
      assert.strictEqual(short.reason, "SecretTooShort")
      const long = yield* Effect.flip(Auth.issueDevToken({ secret: SECRET, userId: "x".repeat(300) }))
      assert.strictEqual(long.reason, "InvalidOption")
      const ttl = yield* Effect.flip(Auth.issueDevToken({ secret: SECRET, userId: "carol", ttlSeconds: -5 }))
      assert.strictEqual(ttl.reason, "InvalidOption")
      const notJson = yield* Effect.flip(Auth.issueDevToken({ secret: SECRET, userId: "carol", claims: { n: 1n } }))
      assert.strictEqual(notJson.reason, "InvalidOption")
    }))
})

describe("Auth: JWKS over HTTP", () => {
  // Real time: the key set's cache and cooldown run on the wall clock.
  const claims = () => {
    const now = Math.floor(Date.now() / 1000)
    return { sub: "alice", iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600 }
  }
  const jwksAuth = (url: string, config: Partial<Auth.Config> = {}) =>
    Auth.make({ jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, ...config }).pipe(Effect.orDie)

  it.scopedLive("RS256, ES256 and EdDSA keys verify; bad signature, alg none, HS/RS confusion are refused", () =>
    Effect.gen(function*() {
      const rsa = yield* generateKeys("RS256")
      const ec = yield* generateKeys("ES256")
      const ed = yield* generateKeys("EdDSA")
      const keys = [
        yield* publicJwk(rsa.publicKey, "rsa-1", "RS256"),
        yield* publicJwk(ec.publicKey, "ec-1", "ES256"),
        yield* publicJwk(ed.publicKey, "ed-1", "EdDSA")
      ]
      const server = yield* jwksServer(keys)
      const auth = yield* jwksAuth(server.url)
      for (const [privateKey, alg, kid] of [[rsa.privateKey, "RS256", "rsa-1"], [ec.privateKey, "ES256", "ec-1"], [ed.privateKey, "EdDSA", "ed-1"]] as const) {
        const caller = yield* auth.verify(yield* signWith(claims(), privateKey, alg, kid))
        assert.strictEqual(caller.userId, "alice", alg)
      }
      assert.strictEqual(server.requests(), 1, "one fetch serves every key of the set")

      const stranger = yield* generateKeys("RS256")
      yield* refusal(auth, yield* signWith(claims(), stranger.privateKey, "RS256", "rsa-1"), "BadSignature")
      yield* refusal(auth, unsigned(claims()), "UnsupportedAlgorithm")
      // HS/RS confusion: an HS256 token whose "secret" is the issuer's public key, as PEM and as JWK
      const pem = yield* Effect.promise(() => jose.exportSPKI(rsa.publicKey))
      for (const secret of [pem, JSON.stringify(keys[0])]) {
        const confused = yield* signWith(claims(), new TextEncoder().encode(secret), "HS256", "rsa-1")
        const failure = yield* refusal(auth, confused, "UnsupportedAlgorithm")
        assert.include(failure.detail, "public key")
      }
      // an ES256 token claiming the RSA key's kid finds no key of its type
      yield* refusal(auth, yield* signWith(claims(), ec.privateKey, "ES256", "rsa-1"), "BadSignature")
      // a token without kid, two RSA keys in the set: each is tried
      const second = yield* generateKeys("RS256")
      server.setKeys([...keys, yield* publicJwk(second.publicKey, "rsa-2", "RS256")])
      const noKid = yield* jwksAuth(server.url)
      assert.strictEqual((yield* noKid.verify(yield* signWith(claims(), second.privateKey, "RS256"))).userId, "alice")
      yield* refusal(noKid, yield* signWith(claims(), stranger.privateKey, "RS256"), "BadSignature")
      // the claim checks apply as with a secret
      const now = Math.floor(Date.now() / 1000)
      yield* refusal(auth, yield* signWith({ ...claims(), exp: now - 60 }, rsa.privateKey, "RS256", "rsa-1"), "TokenExpired")
      yield* refusal(auth, yield* signWith({ ...claims(), aud: "x" }, rsa.privateKey, "RS256", "rsa-1"), "WrongAudience")
    }))

  it.scopedLive("key rotation: a new kid is picked up without a restart; forged kids fetch at most once per cooldown", () =>
    Effect.gen(function*() {
      const old = yield* generateKeys("RS256")
      const next = yield* generateKeys("RS256")
      const server = yield* jwksServer([yield* publicJwk(old.publicKey, "2026-01", "RS256")])
      const cooldownMs = 3000
      const auth = yield* jwksAuth(server.url, { jwksCooldownSeconds: cooldownMs / 1000 })
      const started = Date.now()
      assert.strictEqual((yield* auth.verify(yield* signWith(claims(), old.privateKey, "RS256", "2026-01"))).userId, "alice")
      assert.strictEqual(server.requests(), 1)

      server.setKeys([
        yield* publicJwk(old.publicKey, "2026-01", "RS256"),
        yield* publicJwk(next.publicKey, "2026-02", "RS256")
      ])
      const rotated = yield* signWith(claims(), next.privateKey, "RS256", "2026-02")
      // within the cooldown of the last fetch, an unknown kid does not fetch again
      const early = yield* refusal(auth, rotated, "BadSignature")
      assert.include(early.detail, "2026-02")
      assert.isBelow(Date.now() - started, cooldownMs, "the check ran within the cooldown (machine too slow otherwise)")
      assert.strictEqual(server.requests(), 1)

      yield* sleepReal(cooldownMs + 200)
      assert.strictEqual((yield* auth.verify(rotated)).userId, "alice", "the rotated key is picked up")
      assert.strictEqual(server.requests(), 2)
      assert.strictEqual((yield* auth.verify(yield* signWith(claims(), old.privateKey, "RS256", "2026-01"))).userId, "alice")

      // a flood of tokens naming made-up kids: all refused, the issuer asked at most once more
      yield* sleepReal(cooldownMs + 200)
      const forger = yield* generateKeys("RS256")
      const forged = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => signWith(claims(), forger.privateKey, "RS256", `forged-${i}`))
      )
      yield* Effect.all(forged.map((token) => refusal(auth, token, "BadSignature")), { concurrency: "unbounded" })
      assert.isAtMost(server.requests(), 3)
    }))

  it.scopedLive("an unreachable, failing, non-JSON or hanging key set is KeysUnavailable, and recovers", () =>
    Effect.gen(function*() {
      const rsa = yield* generateKeys("RS256")
      const token = yield* signWith(claims(), rsa.privateKey, "RS256", "k")
      const closed = yield* closedPortUrl
      const unreachable = yield* refusal(yield* jwksAuth(closed), token, "KeysUnavailable")
      assert.include(unreachable.detail, closed)

      const server = yield* jwksServer([yield* publicJwk(rsa.publicKey, "k", "RS256")])
      for (const mode of ["status500", "notJson", "hang"] as const) {
        server.setMode(mode)
        const auth = yield* jwksAuth(server.url, { jwksTimeoutSeconds: 0.5 })
        const failure = yield* refusal(auth, token, "KeysUnavailable")
        if (mode === "hang") assert.include(failure.detail, "timed out")
      }
      // a key jose will not verify with (RSA under 2048 bits) is the key set's fault
      server.setMode("ok")
      const weak = weakRsa(claims(), "weak")
      server.setKeys([weak.jwk])
      const tooShort = yield* refusal(yield* jwksAuth(server.url), weak.token, "KeysUnavailable")
      assert.include(tooShort.detail, "2048")
      // a private key in the set is refused as a key set, not used
      server.setMode("ok")
      const privateJwk = yield* Effect.promise(() => jose.exportJWK(rsa.privateKey))
      server.setKeys([{ ...privateJwk, kid: "k", alg: "RS256" }])
      yield* refusal(yield* jwksAuth(server.url), token, "KeysUnavailable")

      // while the key set fails, requests in the next second reuse the failure instead of
      // fetching again; the same authenticator recovers once the key set is served again
      server.setMode("status500")
      const auth = yield* jwksAuth(server.url)
      const before = server.requests()
      for (let i = 0; i < 10; i++) yield* refusal(auth, token, "KeysUnavailable")
      assert.strictEqual(server.requests(), before + 1, "one fetch for ten requests within the retry delay")
      server.setMode("ok")
      server.setKeys([yield* publicJwk(rsa.publicKey, "k", "RS256")])
      yield* sleepReal(1100)
      assert.strictEqual((yield* auth.verify(token)).userId, "alice")
      assert.strictEqual(server.requests(), before + 2)
    }))
})
