/**
 * A failing test run must exit non-zero even with the embedded Postgres of the global setup:
 * its exit hook calls `process.exit(0)` (see `keepExitCode` in src/server.ts), which once made
 * every run exit 0, so CI could not fail.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, it } from "vitest"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const config = fileURLToPath(new URL("./fixtures/vitest.failing.config.ts", import.meta.url))

it("exits non-zero when a test fails, with the embedded Postgres started", async () => {
  const code = await new Promise<number | null>((resolve) => {
    const child = execFile(
      process.execPath,
      [fileURLToPath(new URL("../../../node_modules/vitest/vitest.mjs", import.meta.url)), "run", "--config", config],
      // Without DATABASE_URL, so the global setup starts embedded Postgres.
      { cwd: root, env: { ...process.env, DATABASE_URL: "" } },
      () => undefined
    )
    child.on("exit", (exitCode) => resolve(exitCode))
  })
  assert.strictEqual(code, 1)
}, 120_000)
