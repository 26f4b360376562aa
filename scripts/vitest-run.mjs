#!/usr/bin/env node
/**
 * `vitest <args>` for `pnpm test` and `pnpm run test:pg`, with an exit code CI can trust.
 *
 * vitest's own exit code has been 0 for runs that never finished: an exit hook of a dependency
 * turned a killed or crashed run into exit 0 with no summary, and a global setup that could not
 * start Postgres ended the run before any test with exit 0 (issue 14, item 10). So this script
 *
 * - runs vitest in a process group of its own, with `scripts/vitest-result-reporter.mjs` added
 *   to its reporters, which writes the run's end (how many tests passed, failed, were skipped)
 *   to a file;
 * - passes SIGINT, SIGTERM and SIGHUP on to vitest, and exits 128 + the signal's number when
 *   vitest dies of one;
 * - exits non-zero unless vitest exited 0 AND the run reached its end AND at least one test
 *   passed, saying which of these failed;
 * - kills what vitest left behind in its group (workers spinning without their parent).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import process from "node:process"
import { URL, fileURLToPath } from "node:url"

const say = (line) => process.stderr.write(`[vitest-run] ${line}\n`)
const args = process.argv.slice(2)
const vitest = createRequire(import.meta.url).resolve("vitest/vitest.mjs")
const reporter = fileURLToPath(new URL("./vitest-result-reporter.mjs", import.meta.url))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-vitest-run-"))
const resultFile = path.join(dir, "result.json")
const reporters = args.some((arg) => arg === "--reporter" || arg.startsWith("--reporter="))
  ? [`--reporter=${reporter}`]
  : ["--reporter=default", `--reporter=${reporter}`]

const child = spawn(process.execPath, [vitest, ...args, ...reporters], {
  stdio: "inherit",
  detached: true,
  env: { ...process.env, REPRISE_VITEST_RESULT: resultFile }
})

const signals = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }
let forwarded
for (const signal of Object.keys(signals)) {
  process.on(signal, () => {
    forwarded ??= signal
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  })
}

/** Processes of vitest's group still running (zombies, which nobody may reap here, aside). */
const groupMembers = (pgid) => {
  if (!fs.existsSync("/proc/self/stat")) {
    try {
      process.kill(-pgid, 0)
      return ["?"]
    } catch {
      return []
    }
  }
  const members = []
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue
    try {
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (Number(pgrp) === pgid && state !== "Z") members.push(pid)
    } catch {
      // exited meanwhile
    }
  }
  return members
}

const leftovers = () => {
  if (child.pid === undefined) return
  const members = groupMembers(child.pid)
  if (members.length === 0) return
  say(`vitest left ${members.length} process(es) behind in its process group (${members.join(", ")}); killing them`)
  try {
    process.kill(-child.pid, "SIGKILL")
  } catch {
    // gone meanwhile
  }
}

const finish = (code, why) => {
  if (why !== undefined) say(why)
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(code)
}

child.on("error", (error) => finish(1, `could not run vitest: ${error.message}`))
child.on("exit", (code, signal) => {
  leftovers()
  if (signal !== null) {
    finish(128 + (signals[signal] ?? os.constants.signals[signal] ?? 0), `vitest was killed by ${signal}: the run did not finish`)
    return
  }
  if (code !== 0) {
    finish(code ?? 1, forwarded === undefined ? undefined : `vitest stopped after ${forwarded} with exit code ${code}`)
    return
  }
  if (forwarded !== undefined) {
    finish(128 + signals[forwarded], `vitest exited 0 after ${forwarded}: the run was interrupted`)
    return
  }
  let result
  try {
    result = JSON.parse(fs.readFileSync(resultFile, "utf8"))
  } catch {
    finish(1, "vitest exited 0 but the run never reached its end (no result was recorded): something ended it early, see above")
    return
  }
  if (result.reason !== "passed" || result.failed > 0 || result.errors > 0) {
    finish(1, `vitest exited 0 but the run ended ${result.reason} (${result.failed} failed, ${result.errors} errors)`)
    return
  }
  if (result.passed === 0) {
    finish(1, `vitest exited 0 but no test ran (${result.files} files, ${result.skipped} skipped): a run that tests nothing fails`)
    return
  }
  finish(0)
})
