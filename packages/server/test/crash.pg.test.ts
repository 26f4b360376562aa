/**
 * Crash safety of the server process (issue 15, item 9): four clients upload over HTTP to a
 * real `reprise-server serve` process (the bin, on the run's Postgres) through a TCP proxy;
 * the process is killed with `kill -9` while uploads are in flight, then started again. Just
 * before the kill the proxy stops passing answers on, so uploads commit whose answers never
 * arrive (a server dying between its commit and its response). Each client then retries the
 * uploads it has no answer for (the same actions), as a client does.
 *
 * Checked afterwards: every acknowledged action is in the log exactly once, at the sequence it
 * was acknowledged with; every unacknowledged one is in it exactly once after the retry
 * (whether or not its first upload had committed before the kill); the log holds nothing else
 * and its sequences run 1..n without a gap; and the server's table equals a fresh replay of
 * its log (the rows the stored patches insert, nothing more, nothing less).
 *
 * Randomized (batch sizes, when each client pauses), seeded: set REPRISE_CRASH_SEED to replay.
 *
 * Verifies: R-SYNC-5 (re-uploads are idempotent), R-SRV-1 (materialization with the log, in one
 * transaction), R-SRV-6/7 (the server process survives nothing it must not: a kill loses no
 * acknowledged action).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Hlc, RpcTransport, SyncProtocol, Tracking } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Auth from "../src/Auth.js"
import { run, type Server, startServer } from "./cliProcess.js"

const TABLE = "crash_notes"
const CLIENTS = 4
const secret = "crash-test-hs256-secret-of-at-least-32-bytes"

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

const decodeRequest = Schema.decodeUnknownSync(SyncProtocol.UploadRequest)

/** One client: its identity, its transport to the server's fixed URL, what it knows. */
interface Client {
  readonly clientId: string
  readonly userId: string
  readonly transport: RpcTransport.RpcTransportShape
  readonly random: () => number
  /** Acknowledged action ids, with the sequence the server answered. */
  readonly acked: Map<string, number>
  /** Batches sent without an answer (the server died): retried after the restart. */
  readonly unacked: Array<ReadonlyArray<typeof SyncProtocol.ActionWire.Encoded>>
  counter: number
  /** The highest head the server has told this client of: the basis of its next upload. */
  basis: number
}

/** A new action inserting one row of `TABLE`, as a client sends it. */
const newAction = (client: Client): typeof SyncProtocol.ActionWire.Encoded => {
  const wallMs = Date.now()
  const rowId = `${client.clientId}-${client.counter}`
  const hlc = new Hlc.Hlc({ wallMs, counter: client.counter++, nodeId: Hlc.NodeId.make(client.clientId) })
  return {
    id: crypto.randomUUID(),
    tag: "crash.note.v1",
    args: { input: { n: client.counter }, timestamp: wallMs },
    clientId: client.clientId,
    userId: client.userId,
    hlc: Hlc.encode(hlc),
    kind: "action",
    patches: [{
      seq: 1,
      schema: "public",
      table: TABLE,
      rowId,
      op: "INSERT",
      forward: JSON.stringify({ id: rowId, body: `from ${client.clientId}`, audience_key: null }),
      reverse: null,
      audienceKey: null
    }]
  }
}

type Outcome =
  | { readonly _tag: "Accepted"; readonly response: SyncProtocol.UploadResponse }
  | { readonly _tag: "NoAnswer"; readonly detail: string }

/**
 * Uploads `actions` (re-basing on `BehindHead`, as a client does after fetching): accepted, or
 * no answer (the server is gone). A typed refusal from the server fails the test.
 */
const upload = (client: Client, actions: ReadonlyArray<typeof SyncProtocol.ActionWire.Encoded>) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 200; attempt++) {
      const request = decodeRequest({ clientId: client.clientId, basis: client.basis, actions })
      const result = yield* Effect.either(client.transport.upload(request))
      if (result._tag === "Right") return { _tag: "Accepted", response: result.right } as Outcome
      const error = result.left
      if (error._tag === "BehindHead") {
        client.basis = Math.max(client.basis, error.head)
        continue
      }
      if (error._tag === "TransportError" && Option.isNone(RpcTransport.cause(error))) {
        return { _tag: "NoAnswer", detail: error.detail } as Outcome
      }
      return yield* Effect.dieMessage(`${client.clientId}: the server refused an honest upload: ${JSON.stringify(error)}`)
    }
    return yield* Effect.dieMessage(`${client.clientId}: still behind the head after 200 attempts`)
  })

const record = (client: Client, response: SyncProtocol.UploadResponse) => {
  for (const { id, serverSeq } of response.accepted) client.acked.set(id, serverSeq)
  client.basis = Math.max(client.basis, response.head)
}

/**
 * A TCP proxy in front of the server (whose port changes across the restart). `freeze` stops
 * passing the server's bytes on to the clients (requests still pass): uploads then commit
 * without their answers reaching anyone, as when a server dies between its commit and its
 * response. `cutAll` drops every connection, as the kill does.
 */
const makeProxy = async () => {
  let target = 0
  let frozen = false
  const sockets = new Set<net.Socket>()
  const proxy = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: target })
    sockets.add(client)
    sockets.add(upstream)
    client.on("data", (chunk) => upstream.write(chunk))
    upstream.on("data", (chunk) => {
      if (!frozen) client.write(chunk)
    })
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("close", close)
    upstream.on("close", close)
    client.on("error", close)
    upstream.on("error", close)
  })
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve))
  const address = proxy.address()
  return {
    port: address !== null && typeof address === "object" ? address.port : 0,
    target: (port: number) => {
      target = port
      frozen = false
    },
    freeze: () => {
      frozen = true
    },
    cutAll: () => {
      for (const socket of sockets) socket.destroy()
    },
    close: () => new Promise((resolve) => proxy.close(resolve))
  }
}

/** Uploads batches of 1–4 actions until the server stops answering. */
const uploadUntilNoAnswer = (client: Client) =>
  Effect.gen(function*() {
    for (;;) {
      const batch = Array.from({ length: 1 + Math.floor(client.random() * 4) }, () => newAction(client))
      const outcome = yield* upload(client, batch)
      if (outcome._tag === "NoAnswer") {
        client.unacked.push(batch)
        return
      }
      record(client, outcome.response)
      if (client.random() < 0.3) yield* Effect.sleep(`${Math.floor(client.random() * 20)} millis`)
    }
  })

describe("kill -9 of the server process during uploads", () => {
  it("loses no acknowledged action, stores each retried one once, and its tables equal a replay of its log", async () => {
    const seed = Number(process.env["REPRISE_CRASH_SEED"] ?? Date.now() % 1_000_000_000)
    console.log(`[crash] seed ${seed} (REPRISE_CRASH_SEED=${seed} replays it)`)
    const random = prng(seed)
    const scope = Effect.runSync(Scope.make())
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-crash-"))
    let server: Server | undefined
    let proxy: Awaited<ReturnType<typeof makeProxy>> | undefined
    try {
      const url = await Effect.runPromise(Scope.extend(PgFixture.freshDatabase, scope))
      const env = { DATABASE_URL: url, REPRISE_JWT_SECRET: secret }
      const migrated = await run(["migrate"], { cwd, env, timeoutMs: 120_000 })
      expect(migrated.code, migrated.stderr).toBe(0)
      const database = await Effect.runPromise(
        Layer.buildWithScope(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 }), scope)
      )
      const db = Context.get(database, SqlClient.SqlClient)
      await Effect.runPromise(Effect.gen(function*() {
        yield* db.unsafe(`CREATE TABLE ${TABLE} (id text PRIMARY KEY, body text NOT NULL, audience_key text)`)
        yield* Tracking.install([TABLE])
      }).pipe(Effect.provide(database)))
      const serveArgs = ["--port", "0"]
      server = await startServer(serveArgs, { cwd, env })
      const gate = await makeProxy()
      proxy = gate
      gate.target(Number(new URL(server.url).port))

      const clients: Array<Client> = await Effect.runPromise(
        Effect.forEach(Array.from({ length: CLIENTS }, (_, i) => i), (i) =>
          Effect.map(
            RpcTransport.makeHttp({
              url: `http://127.0.0.1:${gate.port}/rpc`,
              token: () => Effect.orDie(Auth.issueDevToken({ secret: Redacted.make(secret), userId: `crash-user-${i}` }))
            }),
            (transport): Client => ({
              clientId: `crash-client-${i}`,
              userId: `crash-user-${i}`,
              transport,
              random: prng(Math.floor(random() * 2 ** 32)),
              acked: new Map(),
              unacked: [],
              counter: 0,
              basis: 0
            })
          )).pipe(Effect.provide(FetchHttpClient.layer), Scope.extend(scope))
      )

      // Phase 1: the clients upload until the server dies. Once they have some acknowledged
      // work (a seeded amount), the answers stop reaching them while their uploads go on
      // committing; when the log has grown past what was answered, the server is killed with
      // uploads in flight and the connections drop.
      const uploading = Effect.runPromise(Effect.forEach(clients, uploadUntilNoAnswer, { concurrency: "unbounded" }))
      const ackedCount = () => clients.reduce((n, c) => n + c.acked.size, 0)
      const logCount = async () =>
        (await Effect.runPromise(db<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions`))[0]?.n ?? 0
      const killAfter = 20 + Math.floor(random() * 40)
      const deadline = Date.now() + 120_000
      while (ackedCount() < killAfter && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
      expect(ackedCount()).toBeGreaterThanOrEqual(killAfter)
      gate.freeze()
      const answered = ackedCount()
      const frozenUntil = Date.now() + 10_000
      while ((await logCount()) <= answered && Date.now() < frozenUntil) await new Promise((resolve) => setTimeout(resolve, 20))
      server.child.kill("SIGKILL")
      await server.exited
      gate.cutAll()
      await uploading
      const ackedBeforeCrash = new Map(clients.flatMap((c) => [...c.acked]))
      const unackedIds = clients.flatMap((c) => c.unacked.flat().map((a) => a.id))
      expect(unackedIds.length).toBeGreaterThan(0)
      const committedUnanswered = await Effect.runPromise(
        db<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions WHERE id::text IN ${db.in(unackedIds)}`
      )

      // Phase 2: the server comes back (behind the same proxy address); each client retries
      // what it has no answer for (the same actions), then goes on with new work.
      server = await startServer(serveArgs, { cwd, env })
      gate.target(Number(new URL(server.url).port))
      await Effect.runPromise(Effect.forEach(clients, (client) =>
        Effect.gen(function*() {
          for (const batch of client.unacked.splice(0)) {
            const outcome = yield* upload(client, batch)
            if (outcome._tag === "NoAnswer") return yield* Effect.dieMessage(`no answer after the restart: ${outcome.detail}`)
            record(client, outcome.response)
          }
          for (let i = 0; i < 2; i++) {
            const outcome = yield* upload(client, [newAction(client)])
            if (outcome._tag === "NoAnswer") return yield* Effect.dieMessage(`no answer after the restart: ${outcome.detail}`)
            record(client, outcome.response)
          }
        }), { concurrency: "unbounded" }))

      // The log: every action a client sent, each once, acknowledged ones where they were.
      const log = await Effect.runPromise(
        db<{ id: string; seq: string }>`SELECT id::text AS id, server_seq::text AS seq FROM reprise_server.actions ORDER BY server_seq`
      )
      const logged = new Map(log.map((row) => [row.id, Number(row.seq)]))
      expect(logged.size).toBe(log.length)
      const sent = new Map(clients.flatMap((c) => [...c.acked]))
      expect([...logged.keys()].sort()).toEqual([...sent.keys()].sort())
      for (const [id, seq] of ackedBeforeCrash) expect(logged.get(id), `acknowledged ${id}`).toBe(seq)
      for (const [id, seq] of sent) expect(logged.get(id), `answered ${id}`).toBe(seq)
      expect(log.map((row) => Number(row.seq))).toEqual(log.map((_, i) => i + 1))

      // The table equals a fresh replay of the log: the rows its patches insert, in log order.
      const replayed = await Effect.runPromise(db<{ row: string }>`
        SELECT p.forward::text AS row FROM reprise_server.patches p
        JOIN reprise_server.actions a ON a.id = p.action_id
        WHERE p.table_name = ${TABLE} ORDER BY p.row_id`)
      const table = await Effect.runPromise(db<{ row: string }>`SELECT to_jsonb(t)::text AS row FROM ${db(TABLE)} t ORDER BY id`)
      expect(table.map((r) => r.row)).toEqual(replayed.map((r) => r.row))
      expect(table.length).toBe(log.length)

      console.log(
        `[crash] seed ${seed}: ${ackedBeforeCrash.size} actions acknowledged before the kill, ${unackedIds.length} ` +
          `unanswered (${committedUnanswered[0]?.n ?? 0} of them had committed), ${log.length} in the log after the ` +
          `retries, each once; table = replay (${table.length} rows)`
      )
    } finally {
      if (server !== undefined && server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill("SIGTERM")
        await server.exited
      }
      await proxy?.close()
      await Effect.runPromise(Scope.close(scope, Exit.void))
      fs.rmSync(cwd, { recursive: true, force: true })
    }
  }, 600_000)
})
