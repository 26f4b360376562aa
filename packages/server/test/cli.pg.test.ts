/**
 * `reprise-server serve` as a user runs it (the real bin, spawned with `node`): the zero-setup
 * default on embedded Postgres (R-SRV-6), and on a `DATABASE_URL` (the run's Postgres).
 *
 * - Embedded: `serve --dev` in a fresh data directory answers `/health` and a real client with
 *   a dev token; SIGTERM/SIGINT exit 0 and stop the embedded Postgres (its port closed); the
 *   data is kept across a restart; after `kill -9` the next start takes over the Postgres the
 *   killed server left running; a second server on the same data directory is refused;
 *   `--reset` wipes the data. One cold start (plus one for `--reset`) for all of it. Skipped
 *   when the run itself is on a `DATABASE_URL` (it tests the embedded default, not that server).
 * - `DATABASE_URL`: no embedded Postgres is started; an open subscription is closed by SIGTERM
 *   and the process exits 0; an upload in flight at SIGTERM is answered and stored first;
 *   `migrate` is idempotent; a port in use is a one-line error with exit code 1.
 *
 * Verifies: R-SRV-6, R-SRV-4 (dev tokens accepted, a bad token refused), R-SRV-5 (shutdown ends
 * subscriptions).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as PgFixture from "@reprise/pg-fixture"
import { Hlc, RpcTransport, SyncProtocol, SyncRpc } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import * as Auth from "../src/Auth.js"
import { cleanUp, embeddedUrl, isPortOpen, run, type Server, startServer, stopServer } from "./cliProcess.js"

/** Directories of this file's runs: servers still running in them are stopped, then they are deleted. */
const used: Array<string> = []
afterEach(async () => {
  for (const dir of used.splice(0)) await cleanUp(dir)
})

/**
 * A fresh directory others may enter: as root, Postgres runs as the `postgres` user, which must
 * reach the data directory inside (`mkdtemp` makes it 700).
 */
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-cli-pg-"))
  fs.chmodSync(dir, 0o755)
  used.push(dir)
  return dir
}

const secret = "an-hs256-secret-of-more-than-32-bytes-for-tests"

const query = async (url: string, text: string): Promise<ReadonlyArray<Record<string, unknown>>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text)).rows
  } finally {
    await client.end()
  }
}

const health = async (server: Server) => {
  const response = await fetch(`${server.url}/health`)
  return { status: response.status, body: await response.json() as unknown }
}

/** The head through a real HTTP client with `token`: a number, or the transport's error. */
const headWith = (server: Server, token: string) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(
        RpcTransport.makeHttp({ url: `${server.url}/rpc`, token: () => Effect.succeed(token) }),
        (client) => Effect.either(client.head())
      )
    ).pipe(Effect.provide(FetchHttpClient.layer))
  )

// The embedded lifecycle does not depend on the run's Postgres: a run on a DATABASE_URL (CI's
// second pass, on the machine's PostgreSQL) leaves it to the run on the embedded one.
describe.skipIf(process.env["DATABASE_URL"] !== undefined)("reprise-server serve on embedded Postgres", () => {
  it("starts with no setup, keeps its data across restarts and kill -9, --reset wipes it, signals exit 0", async () => {
    const cwd = tempDir()
    const dataDir = path.join(cwd, "data")
    const args = ["--dev", "--port", "0", "--data-dir", dataDir]

    // First start: a new database, the dev banner, one listening line with the URL redacted.
    const first = await startServer(args, { cwd })
    const db = embeddedUrl(first, dataDir)
    const password = fs.readFileSync(path.join(dataDir, "postgres-password"), "utf8").trim()
    expect(first.line).toMatch(
      /^reprise-server listening on http:\/\/127\.0\.0\.1:\d+ \(database: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/reprise\)$/
    )
    expect(first.stderr()).toContain("UNSAFE")
    expect(first.stdout() + first.stderr()).not.toContain(password)
    expect(fs.statSync(path.join(dataDir, "postgres")).mode & 0o777).toBe(0o700)
    expect(await health(first)).toEqual({ status: 200, body: { status: "ok" } })

    // A real client: a dev token from `token` is accepted, a forged one is refused.
    const issued = await run(["token", "alice", "--data-dir", dataDir], { cwd })
    expect(issued.code, issued.stderr).toBe(0)
    const head = await headWith(first, issued.stdout.trim())
    expect(Either.isRight(head), String(head)).toBe(true)
    const forged = await headWith(first, `${issued.stdout.trim().slice(0, -4)}AAAA`)
    expect(Either.isLeft(forged) && Option.getOrUndefined(RpcTransport.cause(forged.left))).toBeInstanceOf(SyncRpc.Unauthorized)

    // A second server on the same data directory is refused while the first runs.
    const second = await run(["serve", ...args], { cwd })
    expect(second.code).toBe(1)
    expect(second.stderr).toContain(`another reprise-server (pid ${first.child.pid}) is using it`)

    await query(db.url, "CREATE TABLE cli_marker (note text); INSERT INTO cli_marker VALUES ('kept')")
    const stopped = await stopServer(first, "SIGTERM")
    expect(stopped.code, stopped.stderr).toBe(0)
    expect(stopped.stderr).toContain("shutting down")
    expect(await isPortOpen(db.port)).toBe(false)
    expect(fs.existsSync(path.join(dataDir, "server.pid"))).toBe(false)

    // Restart: the same data.
    const again = await startServer(args, { cwd })
    const dbAgain = embeddedUrl(again, dataDir)
    expect(again.stderr()).not.toContain("initialising a new database")
    expect(await query(dbAgain.url, "SELECT note FROM cli_marker")).toEqual([{ note: "kept" }])

    // kill -9: its Postgres is left running; the next start stops it and takes the data over.
    again.child.kill("SIGKILL")
    await again.exited
    expect(await isPortOpen(dbAgain.port)).toBe(true)
    const afterCrash = await startServer(args, { cwd })
    expect(afterCrash.stderr()).toMatch(/stopped a Postgres \(pid \d+\) left running by an earlier server/)
    expect(await isPortOpen(dbAgain.port)).toBe(false)
    const dbAfterCrash = embeddedUrl(afterCrash, dataDir)
    expect(await query(dbAfterCrash.url, "SELECT note FROM cli_marker")).toEqual([{ note: "kept" }])
    expect(await health(afterCrash)).toEqual({ status: 200, body: { status: "ok" } })
    const interrupted = await stopServer(afterCrash, "SIGINT")
    expect(interrupted.code, interrupted.stderr).toBe(0)
    expect(await isPortOpen(dbAfterCrash.port)).toBe(false)

    // --reset: a new, empty database.
    const reset = await startServer([...args, "--reset"], { cwd })
    expect(reset.stderr()).toContain("initialising a new database")
    const dbReset = embeddedUrl(reset, dataDir)
    expect(await query(dbReset.url, "SELECT to_regclass('cli_marker') IS NULL AS gone")).toEqual([{ gone: true }])
    const end = await stopServer(reset, "SIGTERM")
    expect(end.code, end.stderr).toBe(0)
    expect(await isPortOpen(dbReset.port)).toBe(false)
  }, 600_000)
})

describe("reprise-server serve on DATABASE_URL", () => {
  /** A fresh database on the run's Postgres, dropped after `f`. */
  const withDatabase = async (f: (url: string) => Promise<void>) => {
    const scope = Effect.runSync(Scope.make())
    try {
      await f(await Effect.runPromise(Scope.extend(PgFixture.freshDatabase, scope)))
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }

  /**
   * `url` as the server prints it: its password, when it has one, as `***` (the fixture's
   * embedded Postgres has one; a machine's Postgres with trust auth may have none).
   */
  const redacted = (url: string): string => {
    const shown = new URL(url)
    if (shown.password !== "") shown.password = "***"
    return shown.toString()
  }

  it("starts no embedded Postgres; SIGTERM closes an open subscription and exits 0", () =>
    withDatabase(async (url) => {
      const cwd = tempDir()
        const server = await startServer(["--port", "0"], { cwd, env: { DATABASE_URL: url, REPRISE_JWT_SECRET: secret } })
      expect(server.line).toBe(`reprise-server listening on ${server.url} (database: ${redacted(url)})`)
      expect(server.stderr()).not.toContain("embedded PostgreSQL")
      expect(fs.existsSync(path.join(cwd, ".reprise"))).toBe(false)

      const token = await Effect.runPromise(Auth.issueDevToken({ secret: Redacted.make(secret), userId: "sam" }))
      const scope = Effect.runSync(Scope.make())
      const client = await Effect.runPromise(
        RpcTransport.makeWebSocket({ url: `${server.url.replace(/^http/, "ws")}/rpc/ws`, token: () => Effect.succeed(token) }).pipe(
          Effect.provide(NodeSocket.layerWebSocketConstructor),
          Scope.extend(scope)
        )
      )
      const pages: Array<number> = []
      const subscription = Effect.runFork(
        Stream.runForEach(client.subscribe({ since: 0, limit: 10 }), (page) => Effect.sync(() => pages.push(page.head)))
      )
      const deadline = Date.now() + 20_000
      while (pages.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(pages.length).toBeGreaterThan(0)

      const stopped = await stopServer(server, "SIGTERM")
      expect(stopped.code, stopped.stderr).toBe(0)
      // The stream ends (the server closed the WebSocket) instead of waiting forever.
      const ended = await Effect.runPromise(Fiber.await(subscription).pipe(Effect.timeoutOption("20 seconds")))
      expect(Option.isSome(ended)).toBe(true)
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }), 300_000)

  it("SIGTERM lets an upload in flight finish (answered, stored) before the process exits 0", () =>
    withDatabase(async (url) => {
      const cwd = tempDir()
        const server = await startServer(["--port", "0"], { cwd, env: { DATABASE_URL: url, REPRISE_JWT_SECRET: secret } })
      const token = await Effect.runPromise(Auth.issueDevToken({ secret: Redacted.make(secret), userId: "uma" }))
      const wallMs = Date.now()
      const actionId = crypto.randomUUID()
      const request = Schema.decodeUnknownSync(SyncProtocol.UploadRequest)({
        clientId: "drain-client",
        basis: 0,
        actions: [{
          id: actionId,
          tag: "drain.touch.v1",
          args: { input: {}, timestamp: wallMs },
          clientId: "drain-client",
          userId: "uma",
          hlc: Hlc.encode(new Hlc.Hlc({ wallMs, counter: 0, nodeId: Hlc.NodeId.make("drain-client") })),
          kind: "action",
          patches: []
        }]
      })
      // The test holds the server's sequencing lock, so the upload waits inside the server.
      const holder = new pg.Client({ connectionString: url })
      await holder.connect()
      try {
        await holder.query("SELECT pg_advisory_lock(hashtext('reprise_server.sequence'))")
        const answer = Effect.runPromise(
          Effect.scoped(Effect.flatMap(
            RpcTransport.makeHttp({ url: `${server.url}/rpc`, token: () => Effect.succeed(token) }),
            (client) => Effect.either(client.upload(request))
          )).pipe(Effect.provide(FetchHttpClient.layer))
        )
        const deadline = Date.now() + 30_000
        let waiting = 0
        while (waiting === 0 && Date.now() < deadline) {
          const rows = await holder.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' " +
              "AND datname = current_database()"
          )
          waiting = rows.rows[0].n
          if (waiting === 0) await new Promise((resolve) => setTimeout(resolve, 20))
        }
        expect(waiting).toBe(1)
        server.child.kill("SIGTERM")
        await new Promise((resolve) => setTimeout(resolve, 500))
        expect(server.child.exitCode).toBeNull() // still draining
        await holder.query("SELECT pg_advisory_unlock(hashtext('reprise_server.sequence'))")
        const result = await answer
        expect(Either.isRight(result), String(result)).toBe(true)
        const stopped = await server.exited
        expect(stopped.code, stopped.stderr).toBe(0)
        const stored = await holder.query("SELECT server_seq::int AS seq FROM reprise_server.actions WHERE id = $1", [actionId])
        expect(stored.rows).toEqual([{ seq: 1 }])
      } finally {
        await holder.end()
      }
    }), 300_000)

  it("migrate installs the schema and the service's role, and running it again changes nothing", () =>
    withDatabase(async (url) => {
      const snapshot = () =>
        query(
          url,
          `SELECT (SELECT max(version) FROM reprise_server.schema_version) AS version,
                  (SELECT count(*)::int FROM pg_roles WHERE rolname = 'reprise_server_user'
                     AND NOT rolsuper AND NOT rolbypassrls) AS roles,
                  (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'reprise_server' AND c.relkind = 'r' AND c.relforcerowsecurity) AS forced`
        )
      for (const attempt of [1, 2]) {
        const result = await run(["migrate"], { cwd: tempDir(), env: { DATABASE_URL: url }, timeoutMs: 120_000 })
        expect(result.code, `attempt ${attempt}: ${result.stderr}`).toBe(0)
        expect(result.stdout).toContain(`installed in ${redacted(url)}`)
        expect(result.stderr).not.toContain("embedded PostgreSQL")
      }
      const [state] = await snapshot()
      expect(state).toMatchObject({ roles: 1 })
      expect(Number(state!["version"])).toBeGreaterThanOrEqual(3)
      expect(Number(state!["forced"])).toBeGreaterThan(0)
    }), 300_000)

  it("a port in use: one line, exit code 1", () =>
    withDatabase(async (url) => {
      const blocker = net.createServer()
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
      const address = blocker.address()
      const port = address !== null && typeof address === "object" ? address.port : 0
      try {
        const result = await run(["serve", "--port", String(port)], {
          cwd: tempDir(),
          env: { DATABASE_URL: url, REPRISE_JWT_SECRET: secret },
          timeoutMs: 120_000
        })
        const lines = result.stderr.split("\n").filter((line) => line.trim() !== "")
        expect(result.code, result.stderr).toBe(1)
        expect(lines).toEqual([
          `reprise-server: error: cannot listen on 127.0.0.1:${port}: the port is already in use. Stop what uses it, ` +
          `or choose another with --port (or REPRISE_PORT).`
        ])
      } finally {
        await new Promise((resolve) => blocker.close(resolve))
      }
    }), 300_000)
})
