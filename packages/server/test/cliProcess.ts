/**
 * Runs the real `reprise-server` bin (`node packages/server/bin/reprise-server.mjs`) as a child
 * process for the CLI tests, with an environment cleared of `DATABASE_URL` and `REPRISE_*` (so
 * the test run's own settings never leak in), and reads what it prints.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The bin under test. */
export const bin = fileURLToPath(new URL("../bin/reprise-server.mjs", import.meta.url))

/** The repository root (a cwd the bin must work from). */
export const repoRoot = path.resolve(path.dirname(bin), "../../..")

/** The environment the bin runs with: this process's, minus the server's own variables, plus `env`. */
export const cleanEnv = (env: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key === "DATABASE_URL" || key.startsWith("REPRISE_") || key.startsWith("VITEST") || key === "NODE_OPTIONS") continue
    base[key] = value
  }
  return { ...base, NO_COLOR: "1", ...env }
}

/** What a finished run printed and how it ended. */
export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Options of a run. */
export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
  readonly timeoutMs?: number
}

/** Runs the bin with `args` to completion (killed after `timeoutMs`, 60 s by default). */
export const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: cleanEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

/** A `serve` process that is listening. */
export interface Server {
  readonly child: ChildProcess
  /** `http://host:port` from the listening line. */
  readonly url: string
  /** The listening line itself. */
  readonly line: string
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when the process has exited. */
  readonly exited: Promise<Finished>
}

/**
 * Starts `serve` with `args` and resolves once it prints its listening line; rejects (with what
 * it printed) when it exits first or does not listen within `timeoutMs` (90 s by default).
 */
export const startServer = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "serve", ...args], {
      cwd: options.cwd ?? repoRoot,
      env: cleanEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    const exited = new Promise<Finished>((done) =>
      child.on("close", (code, signal) => done({ code, signal, stdout, stderr }))
    )
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`serve did not listen in time.\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    }, options.timeoutMs ?? 90_000)
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")))
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
      const match = /^reprise-server listening on (http:\/\/\S+) .*$/m.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        const server: Server = { child, url: match[1]!, line: match[0], stdout: () => stdout, stderr: () => stderr, exited }
        running.set(server, options.cwd ?? repoRoot)
        void exited.then(() => running.delete(server))
        resolve(server)
      }
    })
    void exited.then((finished) => {
      clearTimeout(timer)
      reject(new Error(`serve exited (${finished.code ?? finished.signal}) before listening.\nstdout:\n${stdout}\nstderr:\n${stderr}`))
    })
  })

/** Stops a server with `signal` and resolves with how it ended (SIGKILL after `timeoutMs`). */
export const stopServer = async (server: Server, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 30_000): Promise<Finished> => {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.exited
  const timer = setTimeout(() => server.child.kill("SIGKILL"), timeoutMs)
  server.child.kill(signal)
  const finished = await server.exited
  clearTimeout(timer)
  return finished
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export const isPortOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** A port nothing listens on (bound, then released). */
export const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = address !== null && typeof address === "object" ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

/** The embedded database's port and password, read from what `serve` printed and its data dir. */
export const embeddedUrl = (server: Server, dataDir: string): { url: string; port: number } => {
  const match = /embedded PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:(\d+)\/(\w+)/.exec(server.stderr())
  if (match === null) throw new Error(`serve printed no embedded database URL:\n${server.stderr()}`)
  const password = fs.readFileSync(path.join(dataDir, "postgres-password"), "utf8").trim()
  const port = Number(match[1])
  return { url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${match[2]}`, port }
}

/** Servers started here and not yet seen to exit. */
const running = new Map<Server, string>()

/**
 * Stops what a test left running under `dir` (`serve` processes with SIGTERM, then a Postgres a
 * killed server left behind, found through its `postmaster.pid`) and deletes `dir`.
 */
export const cleanUp = async (dir: string): Promise<void> => {
  for (const [server, cwd] of running) {
    if (cwd.startsWith(dir) || server.child.spawnargs.some((arg) => arg.startsWith(dir))) {
      await stopServer(server, "SIGTERM")
      running.delete(server)
    }
  }
  const pidFiles: Array<string> = []
  const walk = (at: string, depth: number) => {
    if (depth > 3) return
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(path.join(at, entry.name), depth + 1)
      else if (entry.name === "postmaster.pid") pidFiles.push(path.join(at, entry.name))
    }
  }
  walk(dir, 0)
  for (const file of pidFiles) {
    const pid = Number.parseInt(fs.readFileSync(file, "utf8").split("\n")[0] ?? "", 10)
    let command = ""
    try {
      command = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
    } catch {
      continue // not running (or no /proc to tell): leave it alone
    }
    if (!command.includes(path.dirname(file))) continue // a reused process id
    try {
      process.kill(pid, "SIGQUIT")
    } catch {
      // gone already
    }
  }
  if (pidFiles.length > 0) await new Promise((resolve) => setTimeout(resolve, 1000))
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 })
}
