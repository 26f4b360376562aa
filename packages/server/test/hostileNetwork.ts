/**
 * Hostile clients over the network (R-SRV-7, issue 15 item 9), run on PGlite
 * (`hostile.network.test.ts`) and real Postgres (`hostile.network.pg.test.ts`): at least 1,000
 * generated malformed requests per RPC (Upload, Fetch, Head over loopback HTTP; Subscribe, and
 * some Upload and Fetch, over WebSocket) to a real `SyncRpcServer`. Raw bodies built by
 * hand (any shape: not JSON, random JSON, broken envelopes, missing or forged tokens) and
 * valid-looking envelopes carrying the seeded garbage payloads of `hostileGarbage.ts`. Every
 * one is answered with a typed error (HTTP 400 MalformedRequest, 401 Unauthorized, or the
 * procedure's typed failure), none with a defect or a 500, and nothing is written.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { Tracking } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Auth, SyncRpcServer, SyncService } from "../src/index.js"
import { garbageGenerator, type Garbage, jsonText, seededRandom, seedOf, type Situation } from "./hostileGarbage.js"
import { tableSql } from "./hostileWorld.js"
import { serverLayer, tokenFor } from "./networkWorld.js"

const PER_RPC = 1000
const OVER_WEBSOCKET = 200

const server = (database: Layer.Layer<SqlClient.SqlClient, unknown>) => serverLayer().pipe(
  Layer.provideMerge(Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(tableSql)
    yield* Tracking.install(["hostile_notes"])
  }))),
  Layer.provideMerge(SyncService.layer({ audiences: (userId) => Effect.succeed(userId === "mal" ? ["mal-list"] : ["team"]) })),
  Layer.provideMerge(database)
)

type Rpc = "Upload" | "Fetch" | "Head" | "Subscribe"

/** What the server answered, classified: typed errors by tag (and reason), anything else loudly. */
const classify = (status: number, json: unknown): string => {
  if (status === 400 || status === 401 || status === 413) {
    const tag = typeof json === "object" && json !== null && "_tag" in json ? String(json._tag) : "untyped"
    return `${status} ${tag}`
  }
  if (status !== 200) return `UNEXPECTED status ${status}`
  const [exit] = Array.isArray(json) ? json : [json]
  return classifyExit(exit)
}

const classifyExit = (message: unknown): string => {
  const exit = (message as { exit?: { _tag?: string; cause?: { _tag?: string; error?: { _tag?: string; reason?: string } } } })?.exit
  if (exit?._tag === "Success") return "SUCCESS"
  const cause = exit?.cause
  if (cause?._tag !== "Fail") return `DEFECT ${JSON.stringify(message).slice(0, 200)}`
  const error = cause.error
  return error?.reason === undefined ? String(error?._tag) : `${error._tag}/${error.reason}`
}

const TYPED = /^(400 MalformedRequest|401 Unauthorized|413 LimitExceeded|UploadRejected\/|FetchRejected|Unauthorized\/|LimitExceeded|BehindHead)/

const post = (url: string, body: string, token: string | undefined) =>
  Effect.promise(async () => {
    const headers: Record<string, string> = { "content-type": "application/json" }
    if (token !== undefined) headers["authorization"] = `Bearer ${token}`
    const response = await fetch(url, { method: "POST", body, headers })
    const text = await response.text()
    let json: unknown = text
    try {
      json = JSON.parse(text)
    } catch {
      // kept as text: classified as untyped
    }
    return { status: response.status, json }
  })

const envelope = (tag: string, payload: unknown, token: string | undefined, id = "1") =>
  jsonText({ _tag: "Request", id, tag, payload, headers: token === undefined ? [] : [["authorization", `Bearer ${token}`]] })

/** Registers the test for a server on `database` (`name` in the title). */
export const hostileNetworkTests = (name: string, database: Layer.Layer<SqlClient.SqlClient, unknown>) =>
layer(server(database), { excludeTestServices: true, timeout: "600 seconds" })(`SyncRpcServer, hostile clients (${name})`, (it) => {
  describe("malformed requests over loopback HTTP and WebSocket (R-SRV-7)", () => {
    /** Verifies: R-SRV-7 (0 defects, 0 writes, every request a typed error), R-SRV-4 (forged tokens) */
    it.effect(`answers ${PER_RPC}+ generated malformed requests per RPC with typed errors, writing nothing`, () =>
      Effect.gen(function*() {
        const seed = seedOf()
        console.log(`[hostile.network] seed ${seed} (replay with REPRISE_SEED=${seed})`)
        const { rpcUrl, webSocketUrl } = yield* SyncRpcServer.Address
        const sql = yield* SqlClient.SqlClient
        const [before] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions`
        const token = yield* tokenFor("mal")
        const forged = yield* Effect.orDie(Auth.issueDevToken({
          secret: Redacted.make("another-secret-entirely-0123456789-abcdef"),
          userId: "ana",
          ttlSeconds: 3600
        }))
        const rand = seededRandom(seed ^ 0xbad)
        const next = garbageGenerator(seed)
        const randomJson = Array.from({ length: 8 }, () => rand.next())
        const situation = (): Situation => ({
          hostileUser: "mal",
          hostileClient: "mal-1",
          victimUser: "ana",
          victimClient: "ana-1",
          foreignAudience: "team",
          basis: 0,
          storedId: null,
          nowMs: Date.now()
        })
        /** A malformed request for `rpc`: a broken envelope, a bad token, or a valid envelope with a garbage payload. */
        const build = (rpc: Rpc): { kind: string; body: string; token: string | undefined } => {
          // Head has no payload to validate: its malformed requests are broken bodies, envelopes and tokens.
          const roll = rpc === "Head" ? rand.int(3) : rand.int(10)
          if (roll === 0) {
            const kind = rand.pick(["not JSON", "empty", "JSON null", "JSON array", "a number", "random bytes"])
            const body = kind === "not JSON" ? `{"_tag":"Request",${rpc}` : kind === "empty" ? "" : kind === "JSON null" ? "null"
              : kind === "JSON array" ? JSON.stringify(randomJson) : kind === "a number" ? String(rand.next())
              : Array.from({ length: 40 }, () => String.fromCharCode(rand.int(256))).join("")
            return { kind: `body ${kind}`, body, token }
          }
          if (roll === 1) {
            const bad = rand.pick([
              ["id not a number", { _tag: "Request", id: "one", tag: rpc, payload: {}, headers: [] }],
              ["unknown tag", { _tag: "Request", id: "1", tag: `${rpc}x`, payload: {}, headers: [] }],
              ["headers not pairs", { _tag: "Request", id: "1", tag: rpc, payload: {}, headers: { a: 1 } }],
              ["wrong message tag", { _tag: "Ack", requestId: "1" }],
              ["id too long", { _tag: "Request", id: "9".repeat(40), tag: rpc, payload: {}, headers: [] }]
            ] as const)
            return { kind: `envelope ${bad[0]}`, body: JSON.stringify(bad[1]), token }
          }
          if (roll === 2) {
            const [kind, bearer] = rand.pick([
              ["no token", undefined],
              ["garbage token", "not.a.jwt"],
              ["token of another issuer's key", forged],
              ["empty token", ""]
            ] as const)
            return { kind, body: envelope(rpc, rpc === "Fetch" || rpc === "Subscribe" ? { since: 0, limit: 10 } : {}, bearer), token: undefined }
          }
          const garbage: Garbage = rpc === "Upload" ? nextUpload() : nextFetch()
          return { kind: garbage.kind, body: envelope(rpc, garbage.body, token), token: undefined }
        }
        const nextUpload = (): Garbage => {
          for (;;) {
            const g = next(situation())
            if (g.rpc === "Upload") return g
          }
        }
        const nextFetch = (): Garbage => {
          for (;;) {
            const g = next(situation())
            if (g.rpc === "Fetch") return g
          }
        }
        const tally = new Map<string, Map<string, number>>()
        const count = (rpc: string, outcome: string) => {
          const byOutcome = tally.get(rpc) ?? new Map<string, number>()
          byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1)
          tally.set(rpc, byOutcome)
        }
        const failures: Array<string> = []
        // HTTP: Upload, Fetch and Head.
        for (const rpc of ["Upload", "Fetch", "Head"] as const) {
          for (let n = 0; n < PER_RPC; n++) {
            const request = build(rpc)
            const answer = yield* post(rpcUrl, request.body, request.token)
            const outcome = classify(answer.status, answer.json)
            count(`HTTP ${rpc}`, outcome)
            if (!TYPED.test(outcome)) failures.push(`HTTP ${rpc} ${request.kind}: ${outcome}`)
          }
        }
        // WebSocket: Subscribe (its only transport), and some Upload and Fetch.
        const plan: Array<Rpc> = [
          ...Array.from({ length: PER_RPC }, (): Rpc => "Subscribe"),
          ...Array.from({ length: OVER_WEBSOCKET }, (): Rpc => "Upload"),
          ...Array.from({ length: OVER_WEBSOCKET }, (): Rpc => "Fetch")
        ]
        const answers = yield* overWebSocket(webSocketUrl, plan.map((rpc, i) => {
          const garbage = rpc === "Upload" ? nextUpload() : nextFetch()
          return { rpc, kind: garbage.kind, message: envelope(rpc, garbage.body, token, String(i + 1)) }
        }))
        for (const { kind, outcome, rpc } of answers) {
          count(`WebSocket ${rpc}`, outcome)
          if (!TYPED.test(outcome)) failures.push(`WebSocket ${rpc} ${kind}: ${outcome}`)
        }
        const [after] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions`
        const [rows] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM hostile_notes`
        for (const [rpc, outcomes] of [...tally].sort()) {
          const total = [...outcomes.values()].reduce((a, b) => a + b, 0)
          console.log(`[hostile.network] ${rpc}: ${total} malformed requests`)
          for (const [outcome, n] of [...outcomes].sort()) console.log(`[hostile.network]   ${outcome}: ${n}`)
        }
        console.log(`[hostile.network] defects and untyped answers: ${failures.length}; actions written: ${after!.n - before!.n}`)
        assert.deepStrictEqual(failures.slice(0, 10), [])
        assert.strictEqual(after?.n, before?.n, "nothing was written")
        assert.strictEqual(rows?.n, 0, "no row was materialized")
        for (const rpc of ["HTTP Upload", "HTTP Fetch", "HTTP Head", "WebSocket Subscribe"]) {
          assert.isAtLeast([...(tally.get(rpc)?.values() ?? [])].reduce((a, b) => a + b, 0), PER_RPC, rpc)
        }
      }), 600_000)
  })
})

/**
 * Sends each message on one WebSocket, one at a time, and classifies the Exit answering it; a
 * connection the server closes (a message it refuses outright) is reopened for the next.
 */
const overWebSocket = (url: string, messages: ReadonlyArray<{ readonly rpc: Rpc; readonly kind: string; readonly message: string }>) =>
  Effect.gen(function*() {
    const make = yield* Socket.WebSocketConstructor
    return yield* Effect.promise(async () => {
      const results: Array<{ rpc: Rpc; kind: string; outcome: string }> = []
      let ws: globalThis.WebSocket | undefined
      let pending: { id: string; resolve: (outcome: string) => void } | undefined
      const open = () =>
        new Promise<globalThis.WebSocket>((resolve, reject) => {
          const socket = make(url)
          socket.addEventListener("open", () => resolve(socket))
          socket.addEventListener("error", () => reject(new Error("WebSocket error")))
          socket.addEventListener("message", (event) => {
            const data: unknown = JSON.parse(String(event.data))
            for (const message of Array.isArray(data) ? data : [data]) {
              const m = message as { _tag?: string; requestId?: string }
              if (m._tag === "Exit" && pending !== undefined && m.requestId === pending.id) pending.resolve(classifyExit(m))
              else if (m._tag === "Chunk" && pending !== undefined && m.requestId === pending.id) pending.resolve("SUCCESS (a stream opened)")
              else if (m._tag === "Defect") pending?.resolve(`DEFECT ${JSON.stringify(m).slice(0, 200)}`)
            }
          })
          socket.addEventListener("close", (event) => {
            ws = undefined
            pending?.resolve(`CLOSED ${event.code}`)
          })
        })
      for (const [i, { kind, message, rpc }] of messages.entries()) {
        if (ws === undefined) ws = await open()
        const id = String(i + 1)
        const socket = ws
        const outcome = await new Promise<string>((resolve) => {
          const timer = setTimeout(() => resolve("NO ANSWER in 10 s"), 10_000)
          pending = { id, resolve: (o) => (clearTimeout(timer), resolve(o)) }
          socket.send(message)
        })
        pending = undefined
        results.push({ rpc, kind, outcome })
      }
      ws?.close()
      return results
    })
  }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
