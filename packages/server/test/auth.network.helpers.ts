/**
 * Test helpers for auth: key pairs, unsigned tokens, and a JSON Web Key Set served by a real
 * `node:http` server on 127.0.0.1 (a free port), whose keys and behaviour a test changes while it
 * runs and whose requests it counts.
 */
import * as nodeCrypto from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as jose from "jose"

/** A key pair for `alg`, its private key usable for signing. */
export const generateKeys = (alg: string) =>
  Effect.promise(() => jose.generateKeyPair(alg, { extractable: true }))

/** The public JWK of `publicKey`, labelled with `kid` and `alg`, for signatures. */
export const publicJwk = (publicKey: jose.CryptoKey, kid: string | undefined, alg: string) =>
  Effect.promise(async () => {
    const jwk = await jose.exportJWK(publicKey)
    return { ...jwk, ...(kid === undefined ? {} : { kid }), alg, use: "sig" } satisfies jose.JWK
  })

/**
 * A 1024-bit RSA key (jose refuses to make or sign with one) as a public JWK labelled `kid`,
 * and an RS256 token over `claims` signed with it by `node:crypto`.
 */
export const weakRsa = (claims: jose.JWTPayload, kid: string) => {
  const { privateKey, publicKey } = nodeCrypto.generateKeyPairSync("rsa", { modulusLength: 1024 })
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const input = `${encode({ alg: "RS256", kid })}.${encode(claims)}`
  const signature = nodeCrypto.sign("sha256", Buffer.from(input), privateKey).toString("base64url")
  const jwk: jose.JWK = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }
  return { jwk, token: `${input}.${signature}` }
}

/** A token with `alg: "none"` and no signature. */
export const unsigned = (claims: jose.JWTPayload): string => new jose.UnsecuredJWT(claims).encode()

/** A token over `claims`, signed with `privateKey` under `alg`, naming `kid` when given. */
export const signWith = (
  claims: jose.JWTPayload,
  privateKey: jose.CryptoKey | Uint8Array,
  alg: string,
  kid?: string
) =>
  Effect.promise(() =>
    new jose.SignJWT(claims).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).sign(privateKey)
  )

/** How the key set server answers. */
export type JwksMode = "ok" | "status500" | "notJson" | "hang"

/** A running key set server. */
export interface JwksServer {
  /** The key set's URL. */
  readonly url: string
  /** Serve these keys from now on. */
  readonly setKeys: (keys: ReadonlyArray<jose.JWK>) => void
  /** Answer like this from now on. */
  readonly setMode: (mode: JwksMode) => void
  /** How many requests for the key set the server has received. */
  readonly requests: () => number
}

/** A key set server on 127.0.0.1 (port 0), closed when the scope closes. */
export const jwksServer = (initial: ReadonlyArray<jose.JWK>): Effect.Effect<JwksServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    let keys = initial
    let mode: JwksMode = "ok"
    let requests = 0
    const server = http.createServer((request, response) => {
      if (request.url !== "/.well-known/jwks.json") {
        response.writeHead(404).end()
        return
      }
      requests += 1
      switch (mode) {
        case "ok":
          response.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify({ keys }))
          return
        case "status500":
          response.writeHead(500).end("down for maintenance")
          return
        case "notJson":
          response.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>")
          return
        case "hang":
          return
      }
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      setKeys: (next) => {
        keys = next
      },
      setMode: (next) => {
        mode = next
      },
      requests: () => requests
    }
  })

/** A loopback URL nothing listens on: a port that was free a moment ago and is closed again. */
export const closedPortUrl = Effect.async<string>((resume) => {
  const server = http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(`http://127.0.0.1:${port}/.well-known/jwks.json`)))
  })
})

/** Waits `ms` of real time (the key set's cache and cooldown run on the wall clock). */
export const sleepReal = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))
