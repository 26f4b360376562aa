/**
 * Vitest global setup: collects the totals of the simulation's two halves (simulation-a and -b
 * run in two workers side by side) and prints them as ONE line when the run ends, the line
 * issue #5 asks for: schedules, clients, actions, faults and every failure column, over all of
 * them (60 in CI's simulation step, `REPRISE_SIM_SCHEDULES` in general).
 * Each half writes its totals as JSON into a directory made here (handed to the test files
 * through vitest's `provide`/`inject`); the directory is removed afterwards.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { TestProject } from "vitest/node"
import { merge, summary, type Totals } from "../src/index.js"

declare module "vitest" {
  export interface ProvidedContext {
    "reprise.simTotalsDir": string
  }
}

export default function setup(project: TestProject): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-sim-totals-"))
  project.provide("reprise.simTotalsDir", dir)
  // Also when the run is killed before its teardown.
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }))
  return () => {
    const groups = new Map<string, Array<Totals>>()
    for (const file of fs.readdirSync(dir).sort()) {
      const { group, totals } = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as { group: string; totals: Totals }
      groups.set(group, [...(groups.get(group) ?? []), totals])
    }
    for (const [group, parts] of groups) {
      console.log(`[${group}, ${parts.length} part(s)] ${summary(parts.reduce(merge))}`)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
