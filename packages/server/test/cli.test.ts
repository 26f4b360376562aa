/**
 * `reprise-server` as a user runs it, for what needs no database: `--help`, bad options, the
 * JWT configuration check, an unreachable `DATABASE_URL`, and dev tokens. Each case spawns the
 * real bin with `node`. (The embedded database's lifecycle is in `cli.pg.test.ts`.)
 *
 * Verifies: R-SRV-6 (the CLI surface of the zero-setup default), R-SRV-4 (no JWT configuration
 * outside dev mode is refused; dev tokens verify).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as jose from "jose"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { closedPort, repoRoot, run } from "./cliProcess.js"

const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")
const strip = (text: string) => text.replaceAll(ansi, "")

/** The lines of stderr that are not blank. */
const errorLines = (stderr: string) => strip(stderr).split("\n").filter((line) => line.trim() !== "")

const made: Array<string> = []
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-cli-"))
  made.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

/** A secret long enough for HS256 (the checks under test come before it is used). */
const secret = "an-hs256-secret-of-more-than-32-bytes-for-tests"

/** Every environment variable `serve` reads, as its --help must name them. */
const serveVariables = [
  "DATABASE_URL",
  "REPRISE_PORT",
  "REPRISE_HOST",
  "REPRISE_DATA_DIR",
  "REPRISE_RESET",
  "REPRISE_DEV",
  "REPRISE_JWT_SECRET",
  "REPRISE_JWKS_URL",
  "REPRISE_JWT_ISSUER",
  "REPRISE_JWT_AUDIENCE",
  "REPRISE_JWT_USER_CLAIM",
  "REPRISE_MAX_BODY_BYTES",
  "REPRISE_MAX_MESSAGE_BYTES",
  "REPRISE_MAX_SUBSCRIPTIONS_PER_USER",
  "REPRISE_MAX_CONNECTIONS_PER_USER",
  "REPRISE_LOG_LEVEL"
]

describe("reprise-server --help", () => {
  it("runs from the repository root and from another directory, listing the commands", async () => {
    for (const cwd of [repoRoot, tempDir()]) {
      const result = await run(["--help"], { cwd })
      expect(result.code, result.stderr).toBe(0)
      const text = strip(result.stdout)
      for (const command of ["serve", "migrate", "token"]) expect(text).toContain(`- ${command}`)
    }
  })

  it("names, for serve, the environment variable of every option", async () => {
    const result = await run(["serve", "--help"])
    expect(result.code, result.stderr).toBe(0)
    const text = strip(result.stdout)
    const missing = serveVariables.filter((name) => !text.includes(name))
    expect(missing).toEqual([])
  })
})

describe("one-line errors, exit code 1", () => {
  /** Runs `args` in a fresh directory and checks the failure is ONE line without a stack trace. */
  const failsWithOneLine = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
    const cwd = tempDir()
    const result = await run(args, { cwd, env, timeoutMs: 120_000 })
    const lines = errorLines(result.stderr)
    expect(result.code, result.stderr).toBe(1)
    expect(lines, result.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(/^reprise-server: error: /)
    expect(result.stderr).not.toMatch(/^\s+at /m)
    return { line: lines[0]!, cwd, result }
  }

  it("no JWT configuration outside dev mode: refused before any database starts", async () => {
    const { cwd, line } = await failsWithOneLine(["serve", "--port", "0"])
    expect(line).toContain("no JWT configuration")
    expect(line).toContain("REPRISE_JWT_SECRET")
    expect(fs.existsSync(path.join(cwd, ".reprise"))).toBe(false)
  })

  it("an unreachable DATABASE_URL: the URL shown with its password redacted", async () => {
    const port = await closedPort()
    const password = "s3cret-Passw0rd"
    const url = `postgres://app:${password}@127.0.0.1:${port}/appdb`
    for (const args of [["serve", "--port", "0", "--jwt-secret", secret], ["migrate"]]) {
      const { line, result } = await failsWithOneLine(args, { DATABASE_URL: url })
      expect(line).toContain(`cannot connect to the database at postgres://app:***@127.0.0.1:${port}/appdb`)
      expect(line).toContain("ECONNREFUSED")
      expect(result.stderr + result.stdout).not.toContain(password)
    }
  }, 180_000)

  it("bad option values name the option and its variable, from a flag or from the environment", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, string]> = [
      [["serve", "--dev", "--port", "70000"], {}, "--port (or REPRISE_PORT) must be an integer from 0 to 65535, got \"70000\""],
      [["serve", "--dev"], { REPRISE_PORT: "eighty" }, "--port (or REPRISE_PORT) must be an integer from 0 to 65535, got \"eighty\""],
      [["serve", "--dev", "--max-body-bytes", "0"], {}, "--max-body-bytes (or REPRISE_MAX_BODY_BYTES) must be an integer"],
      [["serve", "--jwks-url", "ftp://keys"], {}, "--jwks-url (or REPRISE_JWKS_URL) must be an http(s) URL"],
      [["serve", "--jwt-secret", "short"], {}, "SecretTooShort"],
      [["serve", "--dev", "--jwt-secret", secret], {}, "cannot be combined with --jwt-secret"],
      [["migrate"], { DATABASE_URL: "not a url" }, "must be a postgres:// URL"],
      [["migrate", "--reset"], { DATABASE_URL: "postgres://u:p@127.0.0.1:1/x" }, "--reset wipes the embedded database only"],
      [["migrate"], { REPRISE_LOG_LEVEL: "loud" }, "REPRISE_LOG_LEVEL must be one of"],
      [["token", "alice", "--ttl", "0"], {}, "--ttl (or REPRISE_TOKEN_TTL) must be an integer from 1"]
    ]
    // Three at a time: each run loads the CLI (seconds of CPU on a busy machine).
    for (let i = 0; i < cases.length; i += 3) {
      const batch = cases.slice(i, i + 3)
      const lines = await Promise.all(batch.map(([args, env]) => failsWithOneLine(args, env)))
      batch.forEach(([, , expected], j) => expect(lines[j]!.line).toContain(expected))
    }
  }, 300_000)
})

describe("reprise-server token (dev only)", () => {
  it("prints a token for the user, signed with <data-dir>/dev-secret (mode 600), never with REPRISE_JWT_SECRET", async () => {
    const cwd = tempDir()
    const first = await run(["token", "alice", "--ttl", "120"], { cwd, env: { REPRISE_JWT_SECRET: secret } })
    expect(first.code, first.stderr).toBe(0)
    expect(strip(first.stderr)).toContain("UNSAFE")
    const file = path.join(cwd, ".reprise", "dev-secret")
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    const devSecret = new TextEncoder().encode(fs.readFileSync(file, "utf8").trim())
    const token = first.stdout.trim()
    const { payload, protectedHeader } = await jose.jwtVerify(token, devSecret, { algorithms: ["HS256"] })
    expect(protectedHeader.alg).toBe("HS256")
    expect(payload.sub).toBe("alice")
    expect(payload.exp! - payload.iat!).toBe(120)
    await expect(jose.jwtVerify(token, new TextEncoder().encode(secret))).rejects.toThrow()

    // The same secret on the next call: tokens of `token` and `serve --dev` keep matching.
    const second = await run(["token", "bob", "--jwt-issuer", "https://dev.local/", "--jwt-audience", "app"], { cwd })
    expect(second.code, second.stderr).toBe(0)
    const verified = await jose.jwtVerify(second.stdout.trim(), devSecret, { issuer: "https://dev.local/", audience: "app" })
    expect(verified.payload.sub).toBe("bob")
  }, 180_000)
})
