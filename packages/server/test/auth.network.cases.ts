/**
 * Auth over the network, for any server database: the token matrix sent to a running
 * `SyncRpcServer` over real loopback HTTP and WebSocket through `RpcTransport` (the client the
 * engine uses), each answered with a typed `Unauthorized` of the exact reason while nothing is
 * written to the log; JWKS rotation and an unreachable JWKS through the server; an upload
 * whose action claims another author.
 *
 * Verifies: R-SRV-4, R-SRV-1 (author = the token's user)
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Socket from "@effect/platform/Socket"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { RpcTransport, SyncRpc, type SyncServer, Tracking } from "@reprise/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as jose from "jose"
import { Auth, type Realtime, SyncRpcServer, SyncService } from "../src/index.js"
import { closedPortUrl, generateKeys, jwksServer, publicJwk, signWith, sleepReal, unsigned } from "./auth.network.helpers.js"
import { request, wire } from "./suites/helpers.js"

const SECRET = Redacted.make("auth-network-tests-secret-0123456789abcdef")
const ISSUER = "https://issuer.test/"
const AUDIENCE = "reprise-network"
const secretKey = new TextEncoder().encode(Redacted.value(SECRET))

/** Standard claims for `sub`, valid for ten minutes from now (the server runs on real time). */
const claims = (sub: string | null = "alice", extra: jose.JWTPayload = {}): jose.JWTPayload => {
  const now = Math.floor(Date.now() / 1000)
  return { ...(sub === null ? {} : { sub }), iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600, ...extra }
}
const hs256 = (payload: jose.JWTPayload, key: Uint8Array = secretKey) => signWith(payload, key, "HS256")

/** Realtime on the database in context (`D`: the driver's own service, for its LISTEN). */
export type RealtimeFor<D> = Layer.Layer<Realtime.Realtime, never, SqlClient.SqlClient | SyncServer.SyncServer | D>

/** The database, the sync service and a tracked `notes` table, shared by the cases. */
const world = <D>(database: Layer.Layer<SqlClient.SqlClient | D, unknown>) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, title text, audience_key text)`
    yield* Tracking.install(["notes"])
  })).pipe(Layer.provideMerge(SyncService.layer()), Layer.provideMerge(database))

/**
 * A server on port 0 authenticating with `config`, over the world in context, for `f`; every
 * line the server logs (message and cause) is appended to `logs`.
 */
const withServer = <A, E, R, D>(
  realtime: RealtimeFor<D>,
  config: Auth.Config,
  f: (address: SyncRpcServer.AddressShape) => Effect.Effect<A, E, R>,
  logs: Array<string> = []
) =>
  Effect.scoped(Effect.gen(function*() {
    const capture = Logger.make(({ cause, logLevel, message }) => {
      const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
      logs.push(`${logLevel.label} ${text}${Cause.isEmpty(cause) ? "" : ` ${Cause.pretty(cause)}`}`)
    })
    const context = yield* Layer.build(
      SyncRpcServer.layer({ port: 0, host: "127.0.0.1" }).pipe(
        Layer.provide(realtime),
        Layer.provide(Auth.layer(config)),
        Layer.provide(Logger.replace(Logger.defaultLogger, capture))
      )
    )
    return yield* f(Context.get(context, SyncRpcServer.Address))
  }))

type Kind = "http" | "websocket"

/** A transport of `kind` to `address` that sends `token` (none when `undefined`), for `f`. */
const withTransport = <A, E>(
  kind: Kind,
  address: SyncRpcServer.AddressShape,
  token: string,
  f: (transport: RpcTransport.RpcTransportShape) => Effect.Effect<A, E>
) =>
{
  const make: Effect.Effect<
    RpcTransport.RpcTransportShape,
    never,
    Scope.Scope | HttpClient.HttpClient | Socket.WebSocketConstructor
  > = kind === "http"
    ? RpcTransport.makeHttp({ url: address.rpcUrl, token: () => Effect.succeed(token) })
    : RpcTransport.makeWebSocket({ url: address.webSocketUrl, token: () => Effect.succeed(token) })
  return make.pipe(
    Effect.flatMap(f),
    Effect.scoped,
    Effect.provide(Layer.merge(NodeSocket.layerWebSocketConstructor, FetchHttpClient.layer))
  )
}

let clients = 0
/** An upload by `author` inserting note `id` from a fresh client. */
const uploadOf = (author: string, id: string, basis = 0) => {
  const clientId = `auth-net-${process.pid}-${++clients}`
  return request(clientId, basis, [
    wire({ clientId, userId: author, wallMs: Date.now(), patches: [{ op: "INSERT", table: "notes", rowId: id, forward: { id, title: id }, reverse: null }] })
  ])
}

/** What the log holds: the number of actions and of patches. */
const logSize = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ actions: number; patches: number }>`SELECT (SELECT count(*)::int FROM reprise_server.actions) AS actions,
      (SELECT count(*)::int FROM reprise_server.patches) AS patches`,
    ([row]) => row!
  ))

/**
 * Sends `token` with an upload, a fetch and a head (and over WebSocket a subscription): each
 * must be refused with `Unauthorized` `reason`, its detail quoting no part of the token.
 */
const refusedEverywhere = (kind: Kind, address: SyncRpcServer.AddressShape, token: string, reason: SyncRpc.Unauthorized["reason"]) =>
  withTransport(kind, address, token, (t) =>
    Effect.gen(function*() {
      const attempts = [
        Effect.flip(t.upload(uploadOf("alice", `forged-${crypto.randomUUID()}`))),
        Effect.flip(t.fetch({ since: 0, limit: 10 })),
        Effect.flip(t.head()),
        ...(kind === "websocket" ? [Effect.flip(Stream.runHead(t.subscribe({ since: 0, limit: 10 })))] : [])
      ]
      for (const attempt of attempts) {
        const error = yield* attempt
        assert.strictEqual(error._tag, "TransportError", `${kind}: ${reason}`)
        if (error._tag !== "TransportError") continue
        const server = Option.getOrUndefined(RpcTransport.cause(error))
        assert.strictEqual(server?._tag, "Unauthorized", `${kind}: ${reason}: ${error.message}`)
        if (server?._tag !== "Unauthorized") continue
        assert.strictEqual(server.reason, reason, `${kind}: ${server.detail}`)
        for (const part of token.split(".").filter((p) => p.length > 16)) {
          assert.notInclude(server.detail, part.slice(0, 16), "the detail never echoes the token")
        }
      }
    }))

/** Registers the cases for a server on `database` (`name` in the titles). */
export const authNetworkCases = <D>(
  name: string,
  database: () => Layer.Layer<SqlClient.SqlClient | D, unknown>,
  realtime: RealtimeFor<D>
) =>
  layer(world(database()), { excludeTestServices: true, timeout: "180 seconds" })(`Auth over the network (${name})`, (it) => {
    const hsConfig: Auth.Config = { secret: SECRET, issuer: ISSUER, audience: AUDIENCE }

    for (const kind of ["http", "websocket"] as const) {
      describe(kind, () => {
        it.effect("the token matrix: each refused with its exact typed reason, nothing written or logged", () => {
          // dev mode verifies exactly as without it (no bypass); its startup warning shows that
          // `logs` receives what the server logs
          const logs: Array<string> = []
          return withServer(realtime, { ...hsConfig, dev: true }, (address) =>
            Effect.gen(function*() {
              const before = yield* logSize
              const valid = yield* hs256(claims())
              const [header, , signature] = valid.split(".")
              const forgedPayload = Buffer.from(JSON.stringify(claims("mallory"))).toString("base64url")
              const rsa = yield* generateKeys("RS256")
              const cases: ReadonlyArray<readonly [string, SyncRpc.Unauthorized["reason"]]> = [
                ["", "MissingToken"],
                ["not-a-jwt", "MalformedToken"],
                [`${header}.${forgedPayload}`, "MalformedToken"],
                ["A".repeat(Auth.MAX_TOKEN_LENGTH + 1), "MalformedToken"],
                [yield* hs256(claims("u".repeat(Auth.MAX_USER_ID_LENGTH + 1))), "MalformedToken"],
                [`${header}.${forgedPayload}.${signature}`, "BadSignature"],
                [yield* hs256(claims(), new TextEncoder().encode("some-other-secret-of-sufficient-length!!")), "BadSignature"],
                [unsigned(claims()), "UnsupportedAlgorithm"],
                [yield* signWith(claims(), rsa.privateKey, "RS256"), "UnsupportedAlgorithm"],
                [yield* hs256(claims("alice", { exp: Math.floor(Date.now() / 1000) - 60 })), "TokenExpired"],
                [yield* hs256(claims("alice", { nbf: Math.floor(Date.now() / 1000) + 600 })), "TokenNotYetValid"],
                [yield* hs256(claims("alice", { iss: "https://evil.test/" })), "WrongIssuer"],
                [yield* hs256(claims("alice", { aud: "someone-else" })), "WrongAudience"],
                [yield* hs256(claims(null)), "MissingSubject"]
              ]
              assert.isTrue(logs.some((line) => line.includes("UNSAFE")), "the log capture sees the server's logs")
              const logged = logs.length
              for (const [token, reason] of cases) yield* refusedEverywhere(kind, address, token, reason)
              assert.deepStrictEqual(yield* logSize, before, "no refused request wrote to the log")
              assert.deepStrictEqual(logs.slice(logged), [], "no refused request was logged")

              // the same server accepts a valid token: the refusals were the tokens' doing
              const accepted = yield* withTransport(kind, address, valid, (t) =>
                Effect.flatMap(t.head(), (basis) => t.upload(uploadOf("alice", `ok-${kind}`, basis))))
              assert.strictEqual(accepted.accepted.length, 1)
              assert.strictEqual((yield* logSize).actions, before.actions + 1)
            }), logs)
        })

        it.effect("an upload whose action claims another author is refused as WrongAuthor, nothing written", () =>
          withServer(realtime, hsConfig, (address) =>
            Effect.gen(function*() {
              const before = yield* logSize
              const token = yield* hs256(claims("alice"))
              const result = yield* withTransport(kind, address, token, (t) =>
                Effect.either(Effect.flatMap(t.head(), (basis) => t.upload(uploadOf("bob", `impersonated-${kind}`, basis)))))
              assert.isTrue(Either.isLeft(result))
              if (Either.isLeft(result)) {
                assert.strictEqual(result.left._tag, "UploadRejected")
                if (result.left._tag === "UploadRejected") assert.strictEqual(result.left.reason, "WrongAuthor")
              }
              assert.deepStrictEqual(yield* logSize, before)
            })))
      })
    }

    it.effect("JWKS through the server: rotation picked up, HS/RS confusion refused, unreachable key set typed", () =>
      Effect.gen(function*() {
        const first = yield* generateKeys("ES256")
        const second = yield* generateKeys("ES256")
        const keys = yield* jwksServer([yield* publicJwk(first.publicKey, "one", "ES256")])
        const jwksConfig: Auth.Config = { jwksUrl: keys.url, issuer: ISSUER, audience: AUDIENCE, jwksCooldownSeconds: 0.5 }
        yield* withServer(realtime, jwksConfig, (address) =>
          Effect.gen(function*() {
            const before = yield* logSize
            const one = yield* signWith(claims(), first.privateKey, "ES256", "one")
            for (const kind of ["http", "websocket"] as const) {
              assert.isAtLeast(yield* withTransport(kind, address, one, (t) => t.head()), 0)
            }
            keys.setKeys([yield* publicJwk(first.publicKey, "one", "ES256"), yield* publicJwk(second.publicKey, "two", "ES256")])
            yield* sleepReal(700)
            const two = yield* signWith(claims(), second.privateKey, "ES256", "two")
            for (const kind of ["http", "websocket"] as const) {
              assert.isAtLeast(yield* withTransport(kind, address, two, (t) => t.head()), 0, "the rotated key is accepted")
              const jwk = JSON.stringify(yield* publicJwk(first.publicKey, "one", "ES256"))
              const confused = yield* signWith(claims(), new TextEncoder().encode(jwk), "HS256", "one")
              yield* refusedEverywhere(kind, address, confused, "UnsupportedAlgorithm")
              yield* refusedEverywhere(kind, address, unsigned(claims()), "UnsupportedAlgorithm")
              const stranger = yield* generateKeys("ES256")
              yield* refusedEverywhere(kind, address, yield* signWith(claims(), stranger.privateKey, "ES256", "two"), "BadSignature")
            }
            assert.deepStrictEqual(yield* logSize, before)
          }))

        const unreachable = yield* closedPortUrl
        yield* withServer(realtime, { ...jwksConfig, jwksUrl: unreachable }, (address) =>
          Effect.gen(function*() {
            const before = yield* logSize
            const one = yield* signWith(claims(), first.privateKey, "ES256", "one")
            for (const kind of ["http", "websocket"] as const) yield* refusedEverywhere(kind, address, one, "KeysUnavailable")
            assert.deepStrictEqual(yield* logSize, before)
          }))
      }).pipe(Effect.scoped))

    it.effect("raw HTTP: a refused request is answered with the typed Unauthorized, never echoing the token", () =>
      withServer(realtime, hsConfig, (address) =>
        Effect.gen(function*() {
          const token = yield* hs256(claims(), new TextEncoder().encode("some-other-secret-of-sufficient-length!!"))
          const body = JSON.stringify({ _tag: "Request", id: "1", tag: "Head", payload: null, headers: [["authorization", `Bearer ${token}`]] })
          const response = yield* Effect.promise(() =>
            fetch(address.rpcUrl, { method: "POST", body, headers: { "content-type": "application/json" } }).then(async (r) => ({ status: r.status, text: await r.text() }))
          )
          // R-SRV-4: a typed 401, its body the Unauthorized.
          assert.strictEqual(response.status, 401)
          const answer = Schema.decodeUnknownSync(Schema.parseJson(SyncRpc.Unauthorized))(response.text)
          assert.strictEqual(answer.reason, "BadSignature")
          assert.notInclude(response.text, token.split(".")[2]!)
        })))
  })
