/**
 * Two real `reprise-server serve` processes (the package's bin, as a deployment runs it) on one
 * Postgres database, and clients on each over WebSocket (`RpcTransport`): what a client uploads
 * through one process is pushed to the subscribers of the other, through Postgres's
 * LISTEN/NOTIFY, with no polling (the processes' safety re-check runs every 30 s; every push
 * here must arrive within 5 s).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { RpcTransport, type SyncProtocol } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { Auth } from "../src/index.js"
import { collectUntil, range, seqs } from "./RealtimeWorld.js"
import { request, wire } from "./suites/helpers.js"

const bin = fileURLToPath(new URL("../bin/reprise-server.mjs", import.meta.url))
const secret = "realtime-processes-secret-0123456789-abcdef"

/** A running `serve` process and its base URL. */
interface Server {
  readonly name: string
  readonly url: string
  readonly output: () => string
  readonly stop: () => Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/**
 * Starts `reprise-server serve` on a free loopback port against `databaseUrl` (in a temporary
 * working directory, with none of this run's server variables), once it prints its listening
 * line; stopped with SIGTERM (SIGKILL after 20 s) when the scope closes.
 */
const startServer = (databaseUrl: string, name: string) =>
  Effect.acquireRelease(
    Effect.async<Server, Error>((resume) => {
      const env: NodeJS.ProcessEnv = {}
      for (const [key, value] of Object.entries(process.env)) {
        if (key === "DATABASE_URL" || key.startsWith("REPRISE_") || key.startsWith("VITEST") || key === "NODE_OPTIONS") continue
        env[key] = value
      }
      const cwd = fs.mkdtempSync(path.join(os.tmpdir(), `reprise-${name}-`))
      const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--host", "127.0.0.1"], {
        cwd,
        env: { ...env, NO_COLOR: "1", DATABASE_URL: databaseUrl, REPRISE_JWT_SECRET: secret },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let settled = false
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
        child.on("close", (code, signal) => done({ code, signal }))
      )
      const fail = (why: string) => {
        if (settled) return
        settled = true
        child.kill("SIGKILL")
        resume(Effect.fail(new Error(`${name}: ${why}\n${output}`)))
      }
      const timer = setTimeout(() => fail("did not listen within 90 s"), 90_000)
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8")
        const match = /reprise-server listening on (http:\/\/\S+)/.exec(output)
        if (match === null || settled) return
        settled = true
        clearTimeout(timer)
        resume(Effect.succeed({
          name,
          url: match[1]!,
          output: () => output,
          stop: async () => {
            const kill = setTimeout(() => child.kill("SIGKILL"), 20_000)
            child.kill("SIGTERM")
            const end = await exited
            clearTimeout(kill)
            fs.rmSync(cwd, { recursive: true, force: true })
            return end
          }
        }))
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      void exited.then(({ code, signal }) => fail(`exited (${code ?? signal}) before listening`))
    }),
    (server) =>
      Effect.promise(async () => {
        const end = await server.stop()
        if (end.code !== 0) console.log(`[Realtime.processes] ${server.name} ended with ${end.code ?? end.signal}:\n${server.output()}`)
      })
  )

/** A client of `server` over WebSocket, signed in as `userId` (until the scope closes). */
const clientOf = (server: Server, userId: string) =>
  RpcTransport.makeWebSocket({
    url: `${server.url.replace(/^http/, "ws")}/rpc/ws`,
    token: () => Effect.orDie(Auth.issueDevToken({ secret: Redacted.make(secret), userId }))
  }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))

/** Subscribes `client` from `since`; pages go to the returned queue (after the first is taken). */
const subscribe = (client: RpcTransport.RpcTransportShape, since: number) =>
  Effect.gen(function*() {
    const pages = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
    yield* Effect.forkScoped(Stream.runForEach(client.subscribe({ since, limit: 100 }), (page) => Queue.offer(pages, page)))
    yield* collectUntil(pages, (got) => got.length === 1, "10 seconds")
    return pages
  })

const wallBase = Date.now() - 100_000

layer(PgFixture.layerUrl, { excludeTestServices: true, timeout: "300 seconds" })("Realtime: two server processes", (it) => {
  /** Verifies: R-SRV-5 (stateless processes on one Postgres fan out pushes through LISTEN/NOTIFY, no polling) */
  it.scoped("a push crosses between two reprise-server processes on one database, both ways", () =>
    Effect.gen(function*() {
      const url = yield* PgFixture.DatabaseUrl
      // One after the other: the second finds the schema the first installed.
      const a = yield* startServer(url, "process-a")
      const b = yield* startServer(url, "process-b")
      // One user on two devices (a phone on A, a laptop on B), and another user on B.
      const phone = yield* clientOf(a, "dana")
      const laptop = yield* clientOf(b, "dana")
      const stranger = yield* clientOf(b, "erin")
      const since = yield* phone.head()
      const onLaptop = yield* subscribe(laptop, since)
      const onPhone = yield* subscribe(phone, since)
      const onStranger = yield* subscribe(stranger, since)

      const latencies: Array<number> = []
      for (const i of range(10)) {
        const [from, clientId, to, own] = i % 2 === 0
          ? [phone, "dana-phone", onLaptop, onPhone]
          : [laptop, "dana-laptop", onPhone, onLaptop]
        const basis = yield* from.head()
        const action = wire({ clientId, userId: "dana", wallMs: wallBase + i, patches: [], tag: "note.touch.v1" })
        const began = Date.now()
        const { accepted, head } = yield* from.upload(request(clientId, basis, [action]))
        const pages = yield* collectUntil(to, (got) => got.some((p) => p.next >= head), "5 seconds")
        latencies.push(Date.now() - began)
        assert.deepStrictEqual(seqs(pages), [accepted[0]!.serverSeq], `push ${i} crossed to the other process`)
        assert.strictEqual(pages[0]!.actions[0]!.id, action.id)
        // The uploading device's own subscription (on the same process) gets it too.
        const mine = yield* collectUntil(own, (got) => got.some((p) => p.next >= head), "5 seconds")
        assert.deepStrictEqual(seqs(mine), [accepted[0]!.serverSeq])
        // `serve` installs row-level security: another user on B, who shares no audience with
        // dana, is woken too, and its cursor moves past the action without receiving it (R-SRV-3).
        const theirs = yield* collectUntil(onStranger, (got) => got.some((p) => p.next >= head), "5 seconds")
        assert.deepStrictEqual(seqs(theirs), [])
      }
      const sorted = [...latencies].sort((x, y) => x - y)
      console.log(
        `[Realtime.processes] upload through one process → page on a WebSocket client of the other: ` +
          `p50 ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms (10 pushes)`
      )
      assert.isBelow(sorted[sorted.length - 1]!, 5000)
    }))
})
