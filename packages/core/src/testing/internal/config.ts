/**
 * The simulation's defaults, and what makes a configuration or a schedule unusable, in words a
 * user can act on (every issue at once, before anything is built or run).
 *
 * @internal
 */
import type { Config, Faults, Schedule } from "../Simulation.js"

/** Every fault on. @internal */
export const DEFAULT_FAULTS: Faults = {
  drop: 0.1,
  duplicate: 0.1,
  partition: true,
  crash: true,
  serverRestart: true,
  maxSkewMs: 60_000
}

/** A configuration with its bounds resolved. @internal */
export interface Bounds {
  readonly faults: Faults
  readonly maxActions: number
  readonly maxRounds: number
  readonly maxSteps: number
}

/** The configuration's bounds, defaults filled in. @internal */
export const bounds = (config: Config): Bounds => ({
  faults: { ...DEFAULT_FAULTS, ...config.faults },
  maxActions: config.maxActionsPerReplica ?? 40,
  maxRounds: config.maxQuiescenceRounds ?? 12,
  maxSteps: config.maxSteps ?? 20_000
})

const isCount = (n: number, min: number) => Number.isSafeInteger(n) && n >= min

/** What is wrong with a configuration (empty when it can run). @internal */
export const configIssues = (config: Config): Array<string> => {
  const issues: Array<string> = []
  if (config.users.length === 0) issues.push("`users` needs at least one entry (one replica each)")
  const audiences = config.audiences
  if (audiences !== undefined) {
    const missing = [...new Set(config.users)].filter((user) => !Array.isArray(audiences[user]))
    if (missing.length > 0) issues.push(`\`audiences\` has no entry for ${missing.map((u) => JSON.stringify(u)).join(", ")}`)
  }
  if (config.actions.length === 0) issues.push("`actions` is empty: give the app's actions")
  const tags = config.actions.map((a) => a.tag)
  const repeated = tags.filter((tag, i) => tags.indexOf(tag) !== i)
  if (repeated.length > 0) issues.push(`\`actions\` repeats tags: ${[...new Set(repeated)].join(", ")}`)
  if (config.maxActionsPerReplica !== undefined && !isCount(config.maxActionsPerReplica, 0)) {
    issues.push(`\`maxActionsPerReplica\` must be an integer ≥ 0, got ${config.maxActionsPerReplica}`)
  }
  if (config.maxQuiescenceRounds !== undefined && !isCount(config.maxQuiescenceRounds, 1)) {
    issues.push(`\`maxQuiescenceRounds\` must be an integer ≥ 1, got ${config.maxQuiescenceRounds}`)
  }
  if (config.pageSize !== undefined && !isCount(config.pageSize, 1)) {
    issues.push(`\`pageSize\` must be an integer ≥ 1, got ${config.pageSize}`)
  }
  if (config.maxSteps !== undefined && !isCount(config.maxSteps, 1)) {
    issues.push(`\`maxSteps\` must be an integer ≥ 1, got ${config.maxSteps}`)
  }
  issues.push(...faultIssues(config.faults ?? {}))
  return issues
}

/** What is wrong with a schedule for this configuration (empty when it can run). @internal */
export const scheduleIssues = (config: Config, schedule: Schedule): Array<string> => [
  ...(Number.isSafeInteger(schedule.seed) ? [] : [`the seed must be an integer, got ${schedule.seed}`]),
  ...(schedule.budgets === undefined ||
      (schedule.budgets.length === config.users.length && schedule.budgets.every((b) => isCount(b, 0)))
    ? []
    : [`budgets must be ${config.users.length} integers ≥ 0 (one per replica), got ${JSON.stringify(schedule.budgets)}`]),
  ...faultIssues(schedule.faults ?? {})
]

const faultIssues = (faults: Partial<Faults>): Array<string> => {
  const issues: Array<string> = []
  const probabilities: ReadonlyArray<"drop" | "duplicate"> = ["drop", "duplicate"]
  for (const key of probabilities) {
    const p = faults[key]
    if (p !== undefined && !(p >= 0 && p < 1)) issues.push(`\`faults.${key}\` is a probability in [0, 1), got ${p}`)
  }
  if (faults.maxSkewMs !== undefined && !isCount(faults.maxSkewMs, 0)) {
    issues.push(`\`faults.maxSkewMs\` must be an integer ≥ 0, got ${faults.maxSkewMs}`)
  }
  return issues
}
