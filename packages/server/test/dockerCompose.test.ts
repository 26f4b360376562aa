/**
 * `docker-compose.yml` and the server's `Dockerfile`, read against the CLI they configure (no
 * Docker engine runs here, so they are kept right by reading): every variable they set is one
 * `reprise-server serve` reads (its `--help` names each), the image copies every workspace
 * manifest (or its frozen install fails) and runs a bin that exists, and the health checks ask
 * the endpoint the server serves.
 *
 * Verifies: R-SRV-6 (the documented ways to start the server), R-SRV-4 (compose refuses to
 * start without a JWT secret).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { parse } from "yaml"
import { repoRoot, run } from "./cliProcess.js"

const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")

interface ComposeService {
  readonly build?: { readonly context: string; readonly dockerfile: string }
  readonly environment?: Record<string, string | number | boolean>
  readonly ports?: ReadonlyArray<string>
  readonly healthcheck?: { readonly test: ReadonlyArray<string> | string }
  readonly depends_on?: Record<string, { readonly condition: string }>
}
interface Compose {
  readonly services: Record<string, ComposeService>
}

const compose = parse(fs.readFileSync(path.join(repoRoot, "docker-compose.yml"), "utf8")) as Compose
const server = compose.services["server"]
const dockerfilePath = path.join(repoRoot, server?.build?.dockerfile ?? "missing")
const dockerfile = fs.existsSync(dockerfilePath) ? fs.readFileSync(dockerfilePath, "utf8") : ""

/**
 * The variables `serve --help` names: each option's ("Environment variable: X.") and those its
 * description names (the log level's).
 */
const servedVariables = async (): Promise<Set<string>> => {
  const result = await run(["serve", "--help"])
  expect(result.code, result.stderr).toBe(0)
  const text = result.stdout.replaceAll(ansi, "").replaceAll(/\s+/g, " ")
  return new Set([...text.matchAll(/\b(DATABASE_URL|REPRISE_[A-Z_]+)\b/g)].map((match) => match[1]!))
}

/** The names a Dockerfile's ENV instructions set (`ENV A=1 \ B=2` and `ENV A 1`). */
const dockerfileVariables = (text: string): Array<string> => {
  const joined = text.replaceAll(/\\\n/g, " ")
  return joined.split("\n").filter((line) => /^ENV\s/.test(line)).flatMap((line) => {
    const rest = line.replace(/^ENV\s+/, "")
    return rest.includes("=") ? [...rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!) : [rest.split(/\s+/)[0]!]
  })
}

/** Variables the image sets for its own build and runtime, not for the server. */
const notTheServers = new Set(["COREPACK_INTEGRITY_KEYS", "NODE_ENV"])

/** Every workspace package's directory, relative to the root. */
const workspacePackages = (): Array<string> =>
  ["packages", "examples"].flatMap((parent) => {
    const dir = path.join(repoRoot, parent)
    if (!fs.existsSync(dir)) return []
    return fs.readdirSync(dir)
      .filter((name) => fs.existsSync(path.join(dir, name, "package.json")))
      .map((name) => `${parent}/${name}`)
  })

describe("docker-compose.yml and the server's Dockerfile", () => {
  it("set only variables the server reads, and require the JWT secret", async () => {
    expect(server, "a service named server").toBeDefined()
    const known = await servedVariables()
    expect(known.has("DATABASE_URL") && known.has("REPRISE_JWT_SECRET"), [...known].join(", ")).toBe(true)
    const composeVariables = Object.keys(server?.environment ?? {})
    expect(composeVariables).toContain("DATABASE_URL")
    const imageVariables = dockerfileVariables(dockerfile).filter((name) => !notTheServers.has(name))
    expect(imageVariables.length).toBeGreaterThan(0)
    for (const name of [...composeVariables, ...imageVariables]) {
      expect(known.has(name), `${name} is set but reprise-server serve does not read it`).toBe(true)
    }
    // Without a secret, compose refuses to start (`${VAR:?message}`) instead of a server that
    // would exit on "no JWT configuration".
    expect(String(server?.environment?.["REPRISE_JWT_SECRET"])).toMatch(/^\$\{REPRISE_JWT_SECRET:\?.+\}$/)
    // The database URL names the compose Postgres service.
    const url = String(server?.environment?.["DATABASE_URL"])
    expect(url).toMatch(/@postgres:5432\//)
    expect(compose.services["postgres"], "a service named postgres").toBeDefined()
    expect(server?.depends_on?.["postgres"]?.condition).toBe("service_healthy")
  }, 60_000)

  it("builds the server from every workspace manifest and runs a bin that exists", () => {
    expect(server?.build?.context).toBe(".")
    expect(fs.existsSync(dockerfilePath), dockerfilePath).toBe(true)
    for (const pkg of workspacePackages()) {
      expect(dockerfile, `the Dockerfile copies ${pkg}/package.json`).toContain(`COPY ${pkg}/package.json ${pkg}/`)
    }
    expect(dockerfile).toMatch(/install --frozen-lockfile --filter @reprise\/server\.\.\./)
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)
    expect(cmd, "a CMD in exec form").not.toBeNull()
    const argv = JSON.parse(cmd![1]!) as Array<string>
    expect(argv.slice(0, 1)).toEqual(["node"])
    expect(argv.slice(2)).toEqual(["serve"])
    expect(fs.existsSync(path.join(repoRoot, argv[1]!)), argv[1]).toBe(true)
    expect(dockerfile).toContain(`COPY ${path.dirname(argv[1]!)} ${path.dirname(argv[1]!)}`)
  })

  it("health-checks the endpoint the server serves, on the port it listens on", () => {
    const port = String(server?.environment?.["REPRISE_PORT"])
    expect(server?.ports).toContain(`${port}:${port}`)
    const test = server?.healthcheck?.test
    const command = Array.isArray(test) ? test.join(" ") : String(test)
    expect(command).toContain(`http://127.0.0.1:${port}/health`)
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*\/health/)
  })
})
