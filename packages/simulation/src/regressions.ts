/**
 * Shrunk failing schedules, kept as regression cases that every CI run replays
 * (`regressions.json` next to this file; `pnpm sim --shrink` appends to it).
 */
import type { Simulation } from "@reprise/core/testing"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** A committed regression case: the schedule and what it found when it was shrunk. */
export interface Regression {
  readonly schedule: Simulation.Schedule
  /** Found with the server filtering by audience (`pnpm sim --private`); replayed that way. */
  readonly privateData?: boolean
  /** Found with the tally action in the mix (`pnpm sim --tally`); replayed that way. */
  readonly tally?: boolean
  readonly found: string
  readonly date: string
}

/** Where the cases live. */
export const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "regressions.json")

/** The committed cases. */
export const load = (): ReadonlyArray<Regression> => JSON.parse(fs.readFileSync(file, "utf8")) as ReadonlyArray<Regression>

/** Appends a case (unless its schedule is already there). */
export const append = (regression: Regression): void => {
  const cases = [...load()]
  const keyOf = (c: Regression) => JSON.stringify([c.schedule, c.privateData === true, c.tally === true])
  if (cases.some((c) => keyOf(c) === keyOf(regression))) return
  cases.push(regression)
  fs.writeFileSync(file, JSON.stringify(cases, null, 2) + "\n")
}
