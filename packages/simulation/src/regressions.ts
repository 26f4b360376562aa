/**
 * Shrunk failing schedules, kept as regression cases that every CI run replays
 * (`regressions.json` next to this file; `pnpm sim --shrink` appends to it).
 */
import type { Simulation } from "@reprise/core/testing"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** A committed schedule as JSON holds it (`Simulation.Schedule`). */
const ScheduleJson = Schema.Struct({
  seed: Schema.Number,
  budgets: Schema.optionalWith(Schema.Array(Schema.Number), { exact: true }),
  faults: Schema.optionalWith(
    Schema.Struct({
      drop: Schema.optionalWith(Schema.Number, { exact: true }),
      duplicate: Schema.optionalWith(Schema.Number, { exact: true }),
      partition: Schema.optionalWith(Schema.Boolean, { exact: true }),
      crash: Schema.optionalWith(Schema.Boolean, { exact: true }),
      serverRestart: Schema.optionalWith(Schema.Boolean, { exact: true }),
      maxSkewMs: Schema.optionalWith(Schema.Number, { exact: true })
    }),
    { exact: true }
  )
})

/** A committed regression case: the schedule and what it found when it was shrunk. */
const RegressionJson = Schema.Struct({
  schedule: ScheduleJson,
  /** Found with the server filtering by audience (`pnpm sim --private`); replayed that way. */
  privateData: Schema.optionalWith(Schema.Boolean, { exact: true }),
  /** Found with the tally action in the mix (`pnpm sim --tally`); replayed that way. */
  tally: Schema.optionalWith(Schema.Boolean, { exact: true }),
  found: Schema.String,
  date: Schema.String
})

/** A committed regression case: the schedule and what it found when it was shrunk. */
export interface Regression extends Schema.Schema.Type<typeof RegressionJson> {
  readonly schedule: Simulation.Schedule
}

/** Where the cases live. */
export const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "regressions.json")

/** The committed cases, decoded (a malformed file fails here, saying where). */
export const load = (): ReadonlyArray<Regression> =>
  Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(RegressionJson)))(fs.readFileSync(file, "utf8"))

/** Appends a case (unless its schedule is already there). */
export const append = (regression: Regression): void => {
  const cases = [...load()]
  const keyOf = (c: Regression) => JSON.stringify([c.schedule, c.privateData === true, c.tally === true])
  if (cases.some((c) => keyOf(c) === keyOf(regression))) return
  cases.push(regression)
  fs.writeFileSync(file, JSON.stringify(cases, null, 2) + "\n")
}
