/**
 * A seeded convergence simulation for an app's actions: N replicas (each its own database,
 * executor and sync engine) and the server's sync service, connected by a fault-injecting
 * in-memory network. One fiber steps the whole system one event at a time: run an action on a
 * replica, start a sync, deliver a random in-flight message (reordering), drop or duplicate it,
 * let time pass (delay), time out a request, partition or heal a replica, crash-restart a
 * replica at a named point, restart the server, skew a replica's clock. Time is virtual: each
 * replica's `Clock` is the simulation's time plus its skew, and every sleep (the engine's
 * jittered retry backoff) waits for the scheduler to reach its wake-up time. Every choice comes
 * from one seeded generator, action ids and the engine's `Random` included, so a seed replays
 * exactly.
 *
 * When the schedule's actions are spent, every fault is healed and the system is pumped to
 * quiescence (bounded: a livelock is a failure), then the invariants are checked: replicas
 * equal the server, the server equals a fresh replay of its log (the oracle), no committed
 * action is lost or applied twice, nothing stays pending, no watermark ever went back, and
 * replaying an action twice on the same state gives identical patches.
 *
 * Databases are expensive, so a `Simulator` builds them once and resets them (truncation)
 * between schedules.
 *
 * @example
 * ```ts
 * const simulator = yield* Simulation.make({ actions, setup, tables, users, generate, ... })
 * const report = yield* simulator.run(seed) // fails with SimulationFailed, naming the seed
 * ```
 *
 * The kit's parts live in `./internal/`: the scheduler and its world state, the faulty
 * network, the replicas, the oracle and the invariant checks, and the kit's own SQL.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Action from "../Action.js"
import type * as SyncServer from "../SyncServer.js"
import type * as Tracking from "../Tracking.js"
import type * as SimRandom from "./SimRandom.js"
import { bounds, configIssues } from "./internal/config.js"
import * as Rig from "./internal/rig.js"
import * as ScheduleRun from "./internal/schedule.js"

/**
 * How the simulation builds and empties the server (`@reprise/server/testing` has one). The
 * service is core's server contract: the simulation's network decodes each request, as a
 * server's transport would, and calls it with the decoded request.
 */
export interface ServerDriver {
  /** Builds the service on the server's database; run at start and at every server restart. */
  readonly make: Effect.Effect<SyncServer.SyncServerShape, unknown, SqlClient.SqlClient>
  /** Empties the server's log between schedules (the app's tables are emptied by the simulation). */
  readonly reset: Effect.Effect<void, unknown, SqlClient.SqlClient>
}

/** An action to run with its (decoded) args, as the generator returns it. */
export interface Command {
  readonly action: Action.Any
  readonly args: unknown
}

/** Builds a `Command`, its args typed by the action's Schema (so a generator cannot mistype them). */
export const command = <A, I, Out, E, R>(action: Action.Action<string, A, I, Out, E, R>, args: A): Command => ({
  action,
  args
})

/** What the generator knows when it picks the next action of a replica. */
export interface GenerateContext {
  /** The replica's index, 0-based. */
  readonly replica: number
  /** The replica's user. */
  readonly userId: string
  /** The schedule's seeded generator: take every random choice from it. */
  readonly random: SimRandom.SimRandom
}

/** A broken app invariant found on one database after quiescence. */
export interface Violation {
  /** `double-apply` when the app saw an action's effect twice; `invariant` otherwise. */
  readonly kind: "double-apply" | "invariant"
  readonly detail: string
}

/** Which faults a schedule injects, and how often. */
export interface Faults {
  /** Probability that a delivered message is dropped instead; 0.1 by default. */
  readonly drop: number
  /** Probability that a delivered message is also kept for a second delivery; 0.1 by default. */
  readonly duplicate: number
  /** Partition and heal replicas (their messages are lost while cut off). */
  readonly partition: boolean
  /** Crash-restart replicas at the named points (`CrashPoint`). */
  readonly crash: boolean
  /** Restart the server's service. */
  readonly serverRestart: boolean
  /** Largest clock skew given to a replica, in ms (±); 60 s by default. 0 turns skew off. */
  readonly maxSkewMs: number
}

/** Where a replica crashes. */
export type CrashPoint =
  | "before-local-commit"
  | "after-commit-before-upload"
  | "after-upload-before-ack"
  | "mid-reconcile"
  | "while-waiting"

/** The simulation's configuration. */
export interface Config {
  /** The app's actions (its registry). */
  readonly actions: ReadonlyArray<Action.Any>
  /** SQL creating the app's tables; run once on every database. */
  readonly setup: string
  /** The tracked tables (as for `Tracking.install`). */
  readonly tables: ReadonlyArray<string | Tracking.TableConfig>
  /** One replica per entry, signed in as that user (a user may have several replicas). */
  readonly users: ReadonlyArray<string>
  /**
   * The audience keys each user may see, exactly as the server's `audiences` option resolves
   * them (R-SRV-3); omit when the server filters nothing. With it, each replica is compared with
   * the server's rows in its user's audiences (rows with a null audience key are public), rows
   * outside them on a replica count as scope leaks, and the oracle replays the log once per
   * user, as that user.
   */
  readonly audiences?: Readonly<Record<string, ReadonlyArray<string>>>
  /**
   * Picks a replica's next action, reading its database if it wants (existing rows to update,
   * say); `undefined` skips the turn. Take every random choice from `context.random`.
   */
  readonly generate: (
    context: GenerateContext
  ) => Effect.Effect<Command | undefined, unknown, SqlClient.SqlClient>
  /** A client database; built once per replica (and once for the oracle), reset by truncation. */
  readonly clientDatabase: Layer.Layer<SqlClient.SqlClient, unknown>
  /** The server's database; built once, reset by truncation and `server.reset`. */
  readonly serverDatabase: Layer.Layer<SqlClient.SqlClient, unknown>
  /** The server's sync service. */
  readonly server: ServerDriver
  /** At most this many actions per replica in a schedule (each replica draws 0..max); 40 by default. */
  readonly maxActionsPerReplica?: number
  /** Faults to inject; all on by default. */
  readonly faults?: Partial<Faults>
  /** App invariants checked on every database (replicas, server, oracle) after quiescence. */
  readonly invariants?: (
    database: string
  ) => Effect.Effect<ReadonlyArray<Violation>, unknown, SqlClient.SqlClient>
  /** Sync rounds allowed to reach quiescence after healing; 12 by default. */
  readonly maxQuiescenceRounds?: number
  /**
   * Actions per fetch page of the replicas' engines; the engine's default (500) when absent. A
   * small page makes a replica's catch-up span many pages, each its own transaction, so crashes
   * and faults land between them (R-SYNC-9, R-SYNC-10).
   */
  readonly pageSize?: number
  /** Scheduler steps allowed per schedule before it counts as a livelock; 20,000 by default. */
  readonly maxSteps?: number
  /**
   * Receives one line per replica and sync round after healing, with what the sync did (its
   * `SyncReport`): where a livelock shows, which replicas keep correcting or adopting.
   */
  readonly trace?: (line: string) => void
}

/** What one schedule did and found. Every failure count is 0 in a passing schedule. */
export interface Report {
  readonly seed: number
  /** The schedule that ran (budgets as drawn or given, faults in force). */
  readonly schedule: Required<Schedule>
  readonly replicas: number
  readonly steps: number
  /** Actions the generator issued (including those the app's rules refused). */
  readonly actions: number
  /** Actions committed locally. */
  readonly committed: number
  readonly faults: {
    readonly drops: number
    readonly duplicates: number
    readonly timeouts: number
    readonly partitions: number
    readonly crashes: Readonly<Record<CrashPoint, number>>
    readonly serverRestarts: number
    readonly skews: number
  }
  /** Sync runs that failed with an error the engine surfaces (transport, behind head). */
  readonly failedSyncs: number
  /** Uploads the server rejected, surfaced to the replica (with their reasons). */
  readonly rejected: ReadonlyArray<string>
  /**
   * Replica tables unlike the server's, plus server tables unlike the oracle's (in the user's
   * audiences when `Config.audiences` is given).
   */
  readonly divergences: number
  /** Committed actions missing from the server's log (or from their own replica). */
  readonly lost: number
  /** Actions applied twice, as the app's invariants report them. */
  readonly doubleApplies: number
  /** Actions still unsynced after quiescence. */
  readonly residualPending: number
  /** Times a replica's watermark went back. */
  readonly watermarkRegressions: number
  /** Actions whose second replay on the same state wrote other patches. */
  readonly nondeterministic: number
  /** Other broken app invariants. */
  readonly violations: number
  /** Rows a replica (or an oracle) holds outside its user's audiences (R-SRV-3). */
  readonly scopeLeaks: number
  /** Correction records in the server's log (R-SYNC-3). */
  readonly corrections: number
  /** Rows corrected by corrections from two or more replicas (competing overwrites). */
  readonly competingCorrections: number
  /** What failed, in words (empty when the schedule passed). */
  readonly problems: ReadonlyArray<string>
  /** Where the schedule's real time went, in ms. */
  readonly timings: {
    readonly total: number
    readonly server: number
    readonly heal: number
    readonly checks: number
  }
}

/** A schedule broke an invariant (or the simulation could not run it); replay it with its seed. */
export class SimulationFailed extends Schema.TaggedError<SimulationFailed>()("SimulationFailed", {
  seed: Schema.Number,
  problems: Schema.Array(Schema.String)
}) {
  override get message() {
    return `Simulation seed ${this.seed} failed (replay it with this seed):\n  ${this.problems.join("\n  ")}`
  }
}

/**
 * One schedule: its seed, and optionally smaller action budgets or fewer faults than the
 * configuration's (what shrinking a failure produces, and what a regression case records).
 */
export interface Schedule {
  readonly seed: number
  /** Actions per replica (instead of each replica drawing 0..max from the seed). */
  readonly budgets?: ReadonlyArray<number>
  /** Faults overriding the configuration's. */
  readonly faults?: Partial<Faults>
}

/** The configuration cannot run: `issues` says what to change. Nothing was built. */
export class InvalidSimulationConfig extends Schema.TaggedError<InvalidSimulationConfig>()("InvalidSimulationConfig", {
  issues: Schema.Array(Schema.String)
}) {
  override get message() {
    return `Invalid simulation configuration: ${this.issues.join("; ")}`
  }
}

/**
 * The simulation could not build its databases or the server's service (a layer, the app's
 * setup SQL or an install failed); `cause` is the failure. Nothing ran.
 */
export class SimulationSetupFailed extends Schema.TaggedError<SimulationSetupFailed>()("SimulationSetupFailed", {
  cause: Schema.Defect
}) {
  override get message() {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `The simulation could not build its databases or the server's service: ${cause}`
  }
}

/** Runs schedules on one set of databases. */
export interface Simulator {
  /** Runs a schedule; fails with `SimulationFailed` if any invariant breaks. */
  readonly run: (schedule: number | Schedule) => Effect.Effect<Report, SimulationFailed>
  /** Runs a schedule and returns its report whatever it found. */
  readonly explore: (schedule: number | Schedule) => Effect.Effect<Report>
  /**
   * A simulator on the same databases with `variation` applied (its server's service built
   * anew with the variation's driver). Building a database takes seconds, so the variants of one
   * app's simulation (with and without audiences, say) share them; a seed reports the same as on
   * a simulator made afresh. Run schedules on one of them at a time.
   */
  readonly vary: (variation: Variation) => Effect.Effect<Simulator, InvalidSimulationConfig | SimulationSetupFailed>
}

/** What a variant of a simulator may change: everything but what shapes its databases. */
export type Variation = Partial<
  Pick<
    Config,
    | "actions"
    | "audiences"
    | "generate"
    | "invariants"
    | "server"
    | "faults"
    | "maxActionsPerReplica"
    | "maxQuiescenceRounds"
    | "pageSize"
    | "maxSteps"
    | "trace"
  >
>

/**
 * Builds the databases (each client database once per replica, plus the oracle's, and the
 * server's), installs the app's tables and Reprise on each, and returns a `Simulator`. A
 * configuration that cannot run fails with `InvalidSimulationConfig` before anything is built.
 */
export const make = (
  config: Config
): Effect.Effect<Simulator, InvalidSimulationConfig | SimulationSetupFailed, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(config)
    const rig = yield* Effect.mapError(Rig.build(config), (cause) => new SimulationSetupFailed({ cause }))
    return simulatorOn(rig, config)
  })

/** Fails with every issue of a configuration that cannot run. */
const validate = (config: Config): Effect.Effect<void, InvalidSimulationConfig> => {
  const issues = configIssues(config)
  return issues.length > 0 ? Effect.fail(new InvalidSimulationConfig({ issues })) : Effect.void
}

/** The simulator of `config` on a rig's databases. */
const simulatorOn = (rig: Rig.Rig, config: Config): Simulator => {
  const resolved = bounds(config)
  const explore = (schedule: number | Schedule) => ScheduleRun.run(rig, config, resolved, schedule)
  return {
    explore,
    run: (schedule) =>
      Effect.flatMap(explore(schedule), (report) =>
        report.problems.length === 0
          ? Effect.succeed(report)
          : Effect.fail(new SimulationFailed({ seed: report.seed, problems: report.problems }))),
    vary: (variation) =>
      Effect.gen(function*() {
        const varied: Config = { ...config, ...variation }
        yield* validate(varied)
        const server = yield* Effect.mapError(Rig.serverOn(rig, varied), (cause) => new SimulationSetupFailed({ cause }))
        return simulatorOn({ ...rig, server }, varied)
      })
  }
}

/** What shrinking found: the smallest schedule tried that still fails, and its report. */
export interface Shrunk {
  readonly schedule: Required<Schedule>
  readonly report: Report
  /** Schedules run while shrinking. */
  readonly tries: number
}

/**
 * Shrinks a failing schedule: with the same seed, tries smaller action budgets (halving, then
 * one less, replica by replica) and turning faults off one at a time, keeping every change
 * that still fails, until nothing smaller fails or `maxTries` schedules ran. Commit the result
 * as a regression case (`Schedule` is plain JSON).
 */
export const shrink = (
  simulator: Simulator,
  failing: Report,
  options: { readonly maxTries?: number; readonly log?: (line: string) => void } = {}
): Effect.Effect<Shrunk> =>
  Effect.gen(function*() {
    const maxTries = options.maxTries ?? 60
    let best: { schedule: Required<Schedule>; report: Report } = { schedule: failing.schedule, report: failing }
    let tries = 0
    const attempt = (schedule: Required<Schedule>) =>
      Effect.gen(function*() {
        tries++
        const report = yield* simulator.explore(schedule)
        const fails = report.problems.length > 0
        options.log?.(`shrink try ${tries}: budgets [${schedule.budgets.join(", ")}], faults ${JSON.stringify(schedule.faults)} → ${fails ? "fails" : "passes"}`)
        if (fails) best = { schedule: report.schedule, report }
        return fails
      })
    let improved = true
    while (improved && tries < maxTries) {
      improved = false
      for (let i = 0; i < best.schedule.budgets.length && tries < maxTries; i++) {
        const budget = best.schedule.budgets[i] ?? 0
        for (const smaller of [...new Set([0, Math.floor(budget / 2), budget - 1])].filter((b) => b >= 0 && b < budget)) {
          const budgets = best.schedule.budgets.map((b, j) => (j === i ? smaller : b))
          if (tries < maxTries && (yield* attempt({ ...best.schedule, budgets }))) {
            improved = true
            break
          }
        }
      }
      for (const { isOff, off } of faultSwitches) {
        if (isOff(best.schedule.faults) || tries >= maxTries) continue
        if (yield* attempt({ ...best.schedule, faults: { ...best.schedule.faults, ...off } })) improved = true
      }
    }
    return { ...best, tries }
  })

/** Each fault shrinking tries to turn off, and whether a schedule has it off already. */
const faultSwitches: ReadonlyArray<{ readonly off: Partial<Faults>; readonly isOff: (faults: Partial<Faults>) => boolean }> = [
  { off: { drop: 0 }, isOff: (f) => f.drop === 0 },
  { off: { duplicate: 0 }, isOff: (f) => f.duplicate === 0 },
  { off: { partition: false }, isOff: (f) => f.partition === false },
  { off: { crash: false }, isOff: (f) => f.crash === false },
  { off: { serverRestart: false }, isOff: (f) => f.serverRestart === false },
  { off: { maxSkewMs: 0 }, isOff: (f) => f.maxSkewMs === 0 }
]
