/**
 * One schedule from start to report: check it fits the configuration, empty the databases,
 * draw and start the replicas, step the chaos until the actions are spent, heal and pump to
 * quiescence, run the checks, and stop everything. Whatever happens, the schedule ends in a
 * `Report`; a schedule that cannot go on (an invalid schedule, a stuck replica, a livelock)
 * ends with the reason among its problems.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type { Faults, Report, Schedule } from "../Simulation.js"
import * as Checks from "./checks.js"
import type { Bounds } from "./config.js"
import { scheduleIssues } from "./config.js"
import { InvalidSchedule, isStopped } from "./errors.js"
import * as Replicas from "./replica.js"
import * as Rig from "./rig.js"
import * as Scheduler from "./scheduler.js"
import * as Sql from "./sql.js"
import * as World from "./world.js"

/** Runs one schedule on the rig's databases and reports what it did and found. @internal */
export const run = (
  rig: Rig.Rig,
  config: World.World["config"],
  bounds: Bounds,
  input: number | Schedule
): Effect.Effect<Report> => {
  const given: Schedule = typeof input === "number" ? { seed: input } : input
  const faults: Faults = { ...bounds.faults, ...given.faults }
  return Effect.flatMap(
    World.make({ config, faults, seed: given.seed, tables: rig.tables, server: rig.server }),
    (world) =>
      Effect.gen(function*() {
        const issues = scheduleIssues(config, given)
        if (issues.length > 0) return yield* new InvalidSchedule({ issues })
        yield* Rig.resetServer(rig, config)
        world.replicas.push(...Replicas.makeAll(world, rig.replicaDbs, bounds.maxActions, given.budgets))
        const budgets = world.replicas.map((r) => r.budget)
        for (const replica of world.replicas) {
          yield* Effect.provide(Sql.reset(rig.tables, true), replica.db)
          yield* Replicas.start(world, replica)
        }
        yield* Scheduler.runChaos(world, bounds.maxSteps)
        world.stopwatch.healAt = performance.now()
        yield* Scheduler.healAndQuiesce(world, bounds.maxSteps, bounds.maxRounds)
        world.stopwatch.checksAt = performance.now()
        const findings = yield* Checks.run(world, rig.oracleDb)
        yield* cleanup(world)
        return report(world, {
          ...findings,
          budgets,
          committed: world.replicas.reduce((n, r) => n + r.committed, 0)
        })
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.as(
            cleanup(world),
            report(world, { ...nothingFound, budgets: given.budgets ?? [], committed: 0 }, `the simulation stopped: ${reason(cause)}`)
          )
        )
      )
  )
}

/** The counts of a schedule whose checks did not run. */
const nothingFound: Checks.Findings = {
  divergences: 0,
  lost: 0,
  doubleApplies: 0,
  residualPending: 0,
  nondeterministic: 0,
  violations: 0,
  scopeLeaks: 0,
  corrections: 0,
  competingCorrections: 0
}

/** The report, from the world's counters and the checks' findings (and why it stopped, if it did). */
const report = (
  world: World.World,
  found: Checks.Findings & { readonly budgets: ReadonlyArray<number>; readonly committed: number },
  stopped?: string
): Report => {
  const { budgets, ...rest } = found
  const { counts, stopwatch } = world
  const seed = world.rng.seed
  const now = performance.now()
  return {
    seed,
    schedule: { seed, budgets, faults: world.faults },
    replicas: world.config.users.length,
    steps: counts.steps,
    actions: counts.actions,
    faults: {
      drops: counts.drops,
      duplicates: counts.duplicates,
      timeouts: counts.timeouts,
      partitions: counts.partitions,
      crashes: world.crashes,
      serverRestarts: counts.serverRestarts,
      skews: counts.skews
    },
    failedSyncs: counts.failedSyncs,
    rejected: world.rejected,
    watermarkRegressions: counts.watermarkRegressions,
    ...rest,
    problems: stopped === undefined ? world.problems : [...world.problems, stopped],
    timings: {
      total: now - stopwatch.startedAt,
      server: stopwatch.serverMs,
      heal: stopwatch.checksAt === 0 ? 0 : stopwatch.checksAt - stopwatch.healAt,
      checks: stopwatch.checksAt === 0 ? 0 : now - stopwatch.checksAt
    }
  }
}

/** Stops the replicas and every fiber the schedule forked; what fails here changes no finding. */
const cleanup = (world: World.World): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (const replica of world.replicas) yield* Replicas.stop(replica)
    yield* Scope.close(world.fibers, Exit.void)
  }).pipe(Effect.catchAllCause(() => Effect.void))

/** Why a schedule stopped, in words: the kit's own reasons by their message, anything else in full. */
const reason = (cause: Cause.Cause<unknown>): string => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  return isStopped(failure) ? failure.message : Cause.pretty(cause)
}
