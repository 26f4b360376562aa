/**
 * Offline and online, many times, end to end (issue 16, item 9): two clients opened with
 * `Client.layer` (PGlite in memory), one over `Transport.webSocket` and one over
 * `Transport.http`, sync with a real `reprise-server serve` process on the run's Postgres, each
 * through a TCP proxy the test controls. While both keep writing notes, the test cuts and
 * restores their connections (the proxy drops every connection and refuses new ones) and
 * flips the app's offline switch (`Connection.setEnabled`), at seeded random moments. Tokens
 * live 2 s (plus the server's 5 s clock tolerance), so each client's token expires mid-session
 * and must be refreshed through `getToken`.
 *
 * At the end, once both are back online and their status says caught up: every action either
 * wrote is on the server exactly once (by id), nothing else is, neither holds a pending action,
 * and the server's table and both clients' tables are equal.
 *
 * Seeded: set REPRISE_OFFLINE_SEED to replay a run.
 *
 * Verifies: R-CLI-4 (transports reconnect with backoff; going offline never loses a local
 * action), R-CLI-1 (the status reports connection, pending and caught-up), R-SYNC-5 (re-uploads
 * after cut connections are idempotent: nothing is applied twice).
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Tracking } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import { Auth } from "@reprise/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { run as runBin, type Server, startServer, stopServer } from "../../server/test/cliProcess.js"
import * as Client from "../src/Client.js"
import { Connection } from "../src/Connection.js"
import { Inspect } from "../src/Inspect.js"
import * as Storage from "../src/Storage.js"
import * as SyncStatus from "../src/SyncStatus.js"
import * as Transport from "../src/Transport.js"
import * as Proxy from "./proxy.js"
import { addNote, notesTable } from "./syncWorld.js"

const secret = "offline-test-hs256-secret-of-at-least-32-bytes"
const ROUNDS = 10
const TOKEN_TTL_SECONDS = 2

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
const prng = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type ClientRuntime = ManagedRuntime.ManagedRuntime<Client.Services, unknown>

interface TestClient {
  readonly name: string
  readonly runtime: ClientRuntime
  readonly proxy: Proxy.Proxy
  readonly tokens: Array<number>
  written: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The client's connection (present because its transport is one of `Transport`'s). */
const connectionOf = Effect.map(Effect.serviceOption(Connection), Option.getOrThrow)

/** The client's sync services (present because its transport has a Connection). */
const syncServices = Effect.gen(function*() {
  const connection = yield* connectionOf
  const status = Option.getOrThrow(yield* Effect.serviceOption(SyncStatus.Status))
  return { connection, status }
})

const openClient = async (
  name: string,
  userId: string,
  kind: "websocket" | "http",
  proxy: Proxy.Proxy
): Promise<TestClient> => {
  const tokens: Array<number> = []
  const getToken = () => {
    tokens.push(Date.now())
    return Auth.issueDevToken({ secret: Redacted.make(secret), userId, ttlSeconds: TOKEN_TTL_SECONDS })
  }
  const backoff = { initial: "50 millis", max: "400 millis" } as const
  const transport = kind === "websocket"
    ? Transport.webSocket({
      url: `ws://127.0.0.1:${proxy.port}/rpc/ws`,
      getToken,
      backoff,
      webSocketConstructor: NodeSocket.layerWebSocketConstructor
    })
    : Transport.http({ url: `http://127.0.0.1:${proxy.port}/rpc`, getToken, backoff, pollInterval: "200 millis" })
  const runtime = ManagedRuntime.make(Client.layer({
    storage: Storage.memory(),
    migrations: [{ name: "notes", sql: notesTable }],
    tables: ["notes"],
    actions: [addNote],
    userId,
    transport,
    syncInterval: "2 seconds"
  }))
  await runtime.runPromise(Effect.asVoid(Client.Client))
  return { name, runtime, proxy, tokens, written: 0 }
}

/** The client's own action ids the server has (by Inspect), and its notes. */
const snapshot = (client: TestClient) =>
  client.runtime.runPromise(Effect.gen(function*() {
    const inspect = yield* Inspect
    const synced = yield* inspect.synced({ limit: 100_000 })
    const pending = yield* inspect.pending
    const notes = yield* Client.query<{ id: string; body: string }>("SELECT id, body FROM notes ORDER BY id")
    return { own: synced.filter((a) => a.own).map((a) => a.id), pending: pending.length, notes }
  }))

describe("two clients going offline and online many times", () => {
  it("converge with the server: every action on the server exactly once, tables equal", async () => {
    const seed = Number(process.env["REPRISE_OFFLINE_SEED"] ?? Date.now() % 1_000_000_000)
    console.log(`[offline] seed ${seed} (REPRISE_OFFLINE_SEED=${seed} replays it)`)
    const random = prng(seed)
    const scope = Effect.runSync(Scope.make())
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-offline-"))
    let server: Server | undefined
    const proxies: Array<Proxy.Proxy> = []
    const clients: Array<TestClient> = []
    try {
      const url = await Effect.runPromise(Scope.extend(PgFixture.freshDatabase, scope))
      const env = { DATABASE_URL: url, REPRISE_JWT_SECRET: secret }
      const migrated = await runBin(["migrate"], { cwd, env, timeoutMs: 120_000 })
      expect(migrated.code, migrated.stderr).toBe(0)
      const database = await Effect.runPromise(
        Layer.buildWithScope(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 }), scope)
      )
      const db = Context.get(database, SqlClient.SqlClient)
      await Effect.runPromise(Effect.gen(function*() {
        yield* db.unsafe(notesTable)
        yield* Tracking.install(["notes"])
      }).pipe(Effect.provide(database)))
      server = await startServer(["--port", "0"], { cwd, env })
      const serverPort = Number(new URL(server.url).port)
      for (let i = 0; i < 2; i++) proxies.push(await Proxy.start(serverPort))
      clients.push(await openClient("ws", "olive", "websocket", proxies[0]!))
      clients.push(await openClient("http", "oscar", "http", proxies[1]!))

      // Acting while the network comes and goes: each round, each client writes a few notes,
      // and one of: its link is cut (and restored a moment later), its app switch goes off
      // (and on), or nothing happens to it.
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all(clients.map(async (client) => {
          const disruption = random()
          const writes = 1 + Math.floor(random() * 3)
          const pause = 50 + Math.floor(random() * 400)
          if (disruption < 0.35) client.proxy.cut()
          else if (disruption < 0.6) {
            await client.runtime.runPromise(Effect.flatMap(connectionOf, (c) => c.setEnabled(false)))
          }
          for (let w = 0; w < writes; w++) {
            const id = `${client.name}-${round}-${w}`
            await client.runtime.runPromise(Client.run(addNote, { id, body: `round ${round} of ${client.name}` }))
            client.written += 1
            await sleep(pause / writes)
          }
          client.proxy.restore()
          await client.runtime.runPromise(Effect.flatMap(connectionOf, (c) => c.setEnabled(true)))
          await sleep(Math.floor(random() * 300))
        }))
      }
      // No more disruptions: keep writing until each client's token has expired in use (ttl plus
      // the server's 5 s tolerance) and been replaced through getToken mid-session.
      const asked = clients.map((c) => c.tokens.length)
      const refreshBy = Date.now() + (TOKEN_TTL_SECONDS + 5) * 1000 + 10_000
      while (clients.some((c, i) => c.tokens.length <= asked[i]!) && Date.now() < refreshBy) {
        for (const client of clients) {
          await client.runtime.runPromise(Client.run(addNote, { id: `${client.name}-late-${client.written}`, body: "late" }))
          client.written += 1
        }
        await sleep(400)
      }
      const refreshed = clients.map((c, i) => c.tokens.length - asked[i]!)

      // Back online for good: both converge by themselves (no sync is asked for).
      for (const client of clients) {
        client.proxy.restore()
        await client.runtime.runPromise(Effect.flatMap(connectionOf, (c) => c.setEnabled(true)))
      }
      const total = clients.reduce((n, c) => n + c.written, 0)
      const deadline = Date.now() + 60_000
      for (;;) {
        const [count] = await Effect.runPromise(db<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions`)
        const statuses = await Promise.all(clients.map((c) =>
          c.runtime.runPromise(Effect.flatMap(syncServices, ({ status }) => status.current))
        ))
        const snapshots = await Promise.all(clients.map(snapshot))
        const done = count?.n === total && statuses.every((s) => s.caughtUp && s.pending === 0) &&
          snapshots.every((s) => s.notes.length === total)
        if (done) break
        if (Date.now() > deadline) {
          throw new Error(
            `no convergence within 60 s: server ${count?.n}/${total} actions; statuses ${JSON.stringify(statuses)}; ` +
              `client notes ${snapshots.map((s) => s.notes.length).join(", ")}`
          )
        }
        await sleep(200)
      }

      // Every action a client wrote is on the server exactly once, and nothing else is.
      const log = await Effect.runPromise(db<{ id: string }>`SELECT id::text AS id FROM reprise_server.actions`)
      const snapshots = await Promise.all(clients.map(snapshot))
      const written = snapshots.flatMap((s) => s.own)
      expect(written.length).toBe(total)
      expect(new Set(log.map((r) => r.id)).size).toBe(log.length)
      expect([...log.map((r) => r.id)].sort()).toEqual([...written].sort())
      for (const s of snapshots) expect(s.pending).toBe(0)

      // The server's table equals both clients' tables.
      const serverNotes = await Effect.runPromise(db<{ id: string; body: string }>`SELECT id, body FROM notes ORDER BY id`)
      const rows = serverNotes.map((r) => ({ id: r.id, body: r.body }))
      expect(rows.length).toBe(total)
      for (const s of snapshots) expect(s.notes.map((r) => ({ id: r.id, body: r.body }))).toEqual(rows)

      // Each token expired in use and was replaced through getToken, without a cut.
      for (const n of refreshed) expect(n).toBeGreaterThan(0)
      const status = await clients[0]!.runtime.runPromise(Effect.flatMap(syncServices, ({ status }) =>
        Effect.map(Stream.runHead(status.changes), Option.getOrThrow)))
      expect(status.connection).toBe("online")
      console.log(
        `[offline] seed ${seed}: ${total} actions (${clients.map((c) => `${c.name} ${c.written}`).join(", ")}), ` +
          `each once on the server; proxy connections ${proxies.map((p) => p.accepted()).join(", ")}; tokens asked ` +
          `${clients.map((c) => c.tokens.length).join(", ")}`
      )
    } finally {
      for (const client of clients) await client.runtime.dispose()
      for (const proxy of proxies) await proxy.close()
      if (server !== undefined) await stopServer(server)
      await Effect.runPromise(Scope.close(scope, Exit.void))
      fs.rmSync(cwd, { recursive: true, force: true })
    }
  }, 240_000)
})
