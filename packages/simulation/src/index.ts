/**
 * Reprise's convergence simulation: the conflict-heavy app (`./app.ts`) through
 * `@reprise/core/testing` against the real `SyncService`, with PGlite replicas.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Simulation } from "@reprise/core/testing"
import { SimulationServer } from "@reprise/server/testing"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as App from "./app.js"

export * as App from "./app.js"

/** Four replicas: three users, one of them on two devices; their audiences are `App.AUDIENCES`. */
export const USERS = ["alice", "bob", "carol", "alice"] as const

/** Which variant of the app's simulation runs. */
export interface Variant {
  /** The server filters the log by `App.AUDIENCES`; the checks are per scope. */
  readonly privateData?: boolean
  /** `counter.tally.v1` (an action of "author" authority) is in the mix. */
  readonly tally?: boolean
}

/**
 * The simulation of the app with PGlite replicas and the server on `serverDatabase`. With
 * `privateData`, the server filters the log by `App.AUDIENCES` and the checks are per scope;
 * without it, every user sees every row. With `tally`, the mix includes the tally action.
 */
export const config = (
  serverDatabase: Layer.Layer<SqlClient.SqlClient, unknown>,
  overrides: Partial<Simulation.Config> = {},
  options: Variant = {}
): Simulation.Config => ({
  actions: App.actions,
  setup: App.setup,
  tables: App.tables,
  users: USERS,
  ...(options.privateData === true ? { audiences: App.AUDIENCES } : {}),
  generate: (context) => App.generate(context, options.tally === true),
  invariants: App.invariants,
  clientDatabase: PgliteClient.layer({}),
  serverDatabase,
  // Small pages: a replica catching up applies many pages, each its own transaction, so
  // crashes land between them and the divergence check must wait for the last (R-SYNC-10).
  pageSize: 8,
  server: SimulationServer.driver(
    options.privateData === true ? { audiences: (userId) => Effect.succeed(App.AUDIENCES[userId] ?? []) } : {}
  ),
  ...overrides
})

/** Totals over many schedules. */
export interface Totals {
  schedules: number
  replicas: number
  actions: number
  committed: number
  steps: number
  drops: number
  duplicates: number
  timeouts: number
  partitions: number
  crashes: Record<Simulation.CrashPoint, number>
  serverRestarts: number
  skews: number
  rejected: number
  divergences: number
  lost: number
  doubleApplies: number
  residualPending: number
  watermarkRegressions: number
  nondeterministic: number
  violations: number
  scopeLeaks: number
  corrections: number
  competingCorrections: number
  failedSeeds: Array<number>
}

/** Empty totals. */
export const emptyTotals = (): Totals => ({
  schedules: 0,
  replicas: 0,
  actions: 0,
  committed: 0,
  steps: 0,
  drops: 0,
  duplicates: 0,
  timeouts: 0,
  partitions: 0,
  crashes: {
    "before-local-commit": 0,
    "after-commit-before-upload": 0,
    "after-upload-before-ack": 0,
    "mid-reconcile": 0,
    "while-waiting": 0
  },
  serverRestarts: 0,
  skews: 0,
  rejected: 0,
  divergences: 0,
  lost: 0,
  doubleApplies: 0,
  residualPending: 0,
  watermarkRegressions: 0,
  nondeterministic: 0,
  violations: 0,
  scopeLeaks: 0,
  corrections: 0,
  competingCorrections: 0,
  failedSeeds: []
})

/** Adds one schedule's report to the totals. */
export const add = (totals: Totals, report: Simulation.Report): Totals => {
  totals.schedules++
  totals.replicas = Math.max(totals.replicas, report.replicas)
  totals.actions += report.actions
  totals.committed += report.committed
  totals.steps += report.steps
  totals.drops += report.faults.drops
  totals.duplicates += report.faults.duplicates
  totals.timeouts += report.faults.timeouts
  totals.partitions += report.faults.partitions
  for (const point of crashPoints) totals.crashes[point] += report.faults.crashes[point]
  totals.serverRestarts += report.faults.serverRestarts
  totals.skews += report.faults.skews
  totals.rejected += report.rejected.length
  totals.divergences += report.divergences
  totals.lost += report.lost
  totals.doubleApplies += report.doubleApplies
  totals.residualPending += report.residualPending
  totals.watermarkRegressions += report.watermarkRegressions
  totals.nondeterministic += report.nondeterministic
  totals.violations += report.violations
  totals.scopeLeaks += report.scopeLeaks
  totals.corrections += report.corrections
  totals.competingCorrections += report.competingCorrections
  if (report.problems.length > 0) totals.failedSeeds.push(report.seed)
  return totals
}

/** The totals of two runs together (for the one line over CI's two halves). */
export const merge = (a: Totals, b: Totals): Totals => {
  const crashes = { ...a.crashes }
  for (const point of crashPoints) crashes[point] = (a.crashes[point] ?? 0) + (b.crashes[point] ?? 0)
  const sum = { ...a, crashes, failedSeeds: [...a.failedSeeds, ...b.failedSeeds], replicas: Math.max(a.replicas, b.replicas) }
  for (const key of Object.values(counters)) sum[key] = a[key] + b[key]
  return sum
}

/** The totals that add up (every field but the crashes, the failed seeds and the replica count). */
type Counter = Exclude<keyof Totals, "crashes" | "failedSeeds" | "replicas">

// Mapped types, so that a new field of Totals or a new crash point fails to compile until listed.
const counters: { readonly [K in Counter]: K } = {
  schedules: "schedules",
  actions: "actions",
  committed: "committed",
  steps: "steps",
  drops: "drops",
  duplicates: "duplicates",
  timeouts: "timeouts",
  partitions: "partitions",
  serverRestarts: "serverRestarts",
  skews: "skews",
  rejected: "rejected",
  divergences: "divergences",
  lost: "lost",
  doubleApplies: "doubleApplies",
  residualPending: "residualPending",
  watermarkRegressions: "watermarkRegressions",
  nondeterministic: "nondeterministic",
  violations: "violations",
  scopeLeaks: "scopeLeaks",
  corrections: "corrections",
  competingCorrections: "competingCorrections"
}
const crashPoints = Object.values<Simulation.CrashPoint>({
  "before-local-commit": "before-local-commit",
  "after-commit-before-upload": "after-commit-before-upload",
  "after-upload-before-ack": "after-upload-before-ack",
  "mid-reconcile": "mid-reconcile",
  "while-waiting": "while-waiting"
} satisfies { readonly [K in Simulation.CrashPoint]: K })

/** The one-line summary CI prints. */
export const summary = (t: Totals): string => {
  const crashes = Object.values(t.crashes).reduce((a, b) => a + b, 0)
  return `simulation: ${t.schedules} schedules, ${t.replicas} clients, ${t.actions} actions (${t.committed} committed), ` +
    `faults: ${t.drops} drops, ${t.duplicates} duplicates, ${t.timeouts} timeouts, ${t.partitions} partitions, ` +
    `${crashes} crashes (${Object.entries(t.crashes).map(([p, n]) => `${p} ${n}`).join(", ")}), ` +
    `${t.serverRestarts} server restarts, ${t.skews} clock skews; ` +
    `${t.corrections} corrections (${t.competingCorrections} rows corrected by competing replicas) | ` +
    `divergences ${t.divergences}, lost ${t.lost}, double applies ${t.doubleApplies}, ` +
    `residual pending ${t.residualPending}, scope leaks ${t.scopeLeaks}, watermark regressions ${t.watermarkRegressions}, ` +
    `nondeterministic replays ${t.nondeterministic}, invariant violations ${t.violations}, rejected uploads ${t.rejected}` +
    (t.failedSeeds.length === 0 ? "" : ` | FAILED seeds: ${t.failedSeeds.join(", ")}`)
}

/** Runs `seeds` on one simulator, printing each failure with its seed; returns the totals. */
export const runSeeds = (
  simulator: Simulation.Simulator,
  seeds: ReadonlyArray<number>,
  log: (line: string) => void
): Effect.Effect<Totals> =>
  Effect.gen(function*() {
    const totals = emptyTotals()
    for (const seed of seeds) {
      const report = yield* simulator.explore(seed)
      add(totals, report)
      if (report.problems.length > 0) {
        log(`seed ${seed} FAILED:\n  ${report.problems.join("\n  ")}`)
      }
    }
    return totals
  })
