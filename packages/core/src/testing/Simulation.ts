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
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Action from "../Action.js"
import * as ActionExecutor from "../ActionExecutor.js"
import * as ActionRegistry from "../ActionRegistry.js"
import { markUnappliedAfter, undoAfter } from "../internal/sql/engine.js"
import * as SyncEngine from "../SyncEngine.js"
import * as SyncProtocol from "../SyncProtocol.js"
import * as SyncSchema from "../SyncSchema.js"
import * as SyncTransport from "../SyncTransport.js"
import * as Tracking from "../Tracking.js"
import * as SimRandom from "./SimRandom.js"
import { makeVirtualClock } from "./internal/virtualClock.js"

/** A failure of the server's service that is not part of the protocol (a database error, say). */
export interface ServerFailure {
  readonly _tag: string
  readonly message: string
}

/**
 * The server's sync service as the simulation calls it (`@reprise/server`'s `SyncService`
 * has this shape). Requests arrive as decoded JSON, as a network transport would hand them over.
 */
export interface SyncServer {
  readonly upload: (
    callerUserId: string,
    body: unknown
  ) => Effect.Effect<SyncProtocol.UploadResponse, SyncProtocol.UploadRejected | SyncProtocol.BehindHead | ServerFailure>
  readonly fetch: (callerUserId: string, body: unknown) => Effect.Effect<SyncProtocol.FetchResponse, ServerFailure>
}

/** How the simulation builds and empties the server (`@reprise/server/testing` has one). */
export interface ServerDriver {
  /** Builds the service on the server's database; run at start and at every server restart. */
  readonly make: Effect.Effect<SyncServer, unknown, SqlClient.SqlClient>
  /** Empties the server's log between schedules (the app's tables are emptied by the simulation). */
  readonly reset: Effect.Effect<void, unknown, SqlClient.SqlClient>
}

/** An action to run with its (decoded) args, as the generator returns it. */
export interface Command {
  readonly action: Action.Any
  readonly args: unknown
}

/** Builds a typed `Command`. */
export const command = <A, I, Out, E, R>(action: Action.Action<string, A, I, Out, E, R>, args: A): Command => ({
  action: action as Action.Any,
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

const isCount = (n: number, min: number) => Number.isSafeInteger(n) && n >= min

/** What is wrong with a configuration (empty when it can run). */
const configIssues = (config: Config): Array<string> => {
  const issues: Array<string> = []
  if (config.users.length === 0) issues.push("`users` needs at least one entry (one replica each)")
  if (config.audiences !== undefined) {
    const missing = [...new Set(config.users)].filter((user) => !Array.isArray(config.audiences![user]))
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
  if (config.maxSteps !== undefined && !isCount(config.maxSteps, 1)) {
    issues.push(`\`maxSteps\` must be an integer ≥ 1, got ${config.maxSteps}`)
  }
  issues.push(...faultIssues(config.faults ?? {}))
  return issues
}

const faultIssues = (faults: Partial<Faults>): Array<string> => {
  const issues: Array<string> = []
  for (const key of ["drop", "duplicate"] as const) {
    const p = faults[key]
    if (p !== undefined && !(p >= 0 && p < 1)) issues.push(`\`faults.${key}\` is a probability in [0, 1), got ${p}`)
  }
  if (faults.maxSkewMs !== undefined && !isCount(faults.maxSkewMs, 0)) {
    issues.push(`\`faults.maxSkewMs\` must be an integer ≥ 0, got ${faults.maxSkewMs}`)
  }
  return issues
}

/** Runs schedules on one set of databases. */
export interface Simulator {
  /** Runs a schedule; fails with `SimulationFailed` if any invariant breaks. */
  readonly run: (schedule: number | Schedule) => Effect.Effect<Report, SimulationFailed>
  /** Runs a schedule and returns its report whatever it found. */
  readonly explore: (schedule: number | Schedule) => Effect.Effect<Report>
}

const DEFAULT_FAULTS: Faults = {
  drop: 0.1,
  duplicate: 0.1,
  partition: true,
  crash: true,
  serverRestart: true,
  maxSkewMs: 60_000
}

/** The simulated epoch: 2027-01-15T08:00:00Z. */
const EPOCH_MS = 1_800_000_000_000
/** A request with no answer after this long (virtual) may time out. */
const REQUEST_TIMEOUT_MS = 10_000
/** Real time a replica may take to finish or wait before the scheduler calls it stuck. */
const STUCK_AFTER = Duration.seconds(120)

/** A crash injected by the simulation. */
class SimulatedCrash extends Data.TaggedError("SimulatedCrash")<{ readonly point: CrashPoint }> {}

type Outcome = Exit.Exit<string, SyncProtocol.BehindHead | SyncProtocol.UploadRejected | SyncTransport.TransportError>

interface Message {
  readonly id: number
  readonly replica: number
  readonly op: number
  readonly direction: "request" | "response"
  readonly call: "upload" | "fetch"
  readonly body: unknown
  readonly outcome: Outcome | undefined
  readonly reply: Deferred.Deferred<Outcome>
}

type Waiting =
  | { readonly kind: "request"; readonly call: "upload" | "fetch"; readonly sentAt: number; readonly reply: Deferred.Deferred<Outcome>; delivered: boolean }
  | { readonly kind: "timer"; readonly at: number; readonly wake: Deferred.Deferred<void> }

interface Busy {
  readonly op: number
  readonly kind: "act" | "sync"
  readonly fiber: Fiber.RuntimeFiber<void>
  waiting: Waiting | undefined
}

type Signal =
  | { readonly _tag: "Waiting"; readonly replica: number; readonly op: number; readonly waiting: Waiting }
  | { readonly _tag: "Done"; readonly replica: number; readonly op: number; readonly exit: Exit.Exit<unknown, unknown> }

type Services = SqlClient.SqlClient | ActionExecutor.ActionExecutor | SyncEngine.SyncEngine

interface Replica {
  readonly index: number
  readonly userId: string
  readonly clientId: string
  readonly db: Context.Context<SqlClient.SqlClient>
  skewMs: number
  partitioned: boolean
  busy: Busy | undefined
  /** The operation now running (set before its fiber starts). */
  currentOp: number
  services: Context.Context<Services> | undefined
  scope: Scope.CloseableScope | undefined
  ids: SimRandom.SimRandom
  effectRandom: Random.Random
  budget: number
  committed: number
  watermark: number
  /** The app's actions, wrapped so that an armed crash fires inside them (by tag). */
  actions: ReadonlyMap<string, Action.Any>
  /** A crash armed for the running operation: at its next action run, or after `countdown` replays. */
  armed: { readonly point: CrashPoint; countdown: number } | undefined
}

const WatermarkRow = Schema.Array(Schema.Struct({ seq: Schema.NumberFromString }))
const HashRows = Schema.Array(
  Schema.Struct({ t: Schema.String, h: Schema.String, n: Schema.Number, leaks: Schema.Number })
)
const IdRows = Schema.Array(Schema.Struct({ id: Schema.String, kind: Schema.String }))
const CountRow = Schema.Array(Schema.Struct({ n: Schema.Number }))

/**
 * Builds the databases (each client database once per replica, plus the oracle's, and the
 * server's), installs the app's tables and Reprise on each, and returns a `Simulator`.
 */
export const make = (config: Config): Effect.Effect<Simulator, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const invalid = configIssues(config)
    if (invalid.length > 0) return yield* new InvalidSimulationConfig({ issues: invalid })
    const baseFaults: Faults = { ...DEFAULT_FAULTS, ...config.faults }
    const maxActions = config.maxActionsPerReplica ?? 40
    const maxRounds = config.maxQuiescenceRounds ?? 12
    const maxSteps = config.maxSteps ?? 20_000

    const buildDb = (layer: Layer.Layer<SqlClient.SqlClient, unknown>, clientId: string | undefined) =>
      Effect.gen(function*() {
        const db = yield* Layer.build(layer)
        yield* Effect.provide(
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql.unsafe(config.setup)
            yield* SyncSchema.install(clientId === undefined ? {} : { clientId })
            yield* Tracking.install(config.tables)
          }),
          db
        )
        return db
      })

    const serverDb = yield* buildDb(config.serverDatabase, undefined)
    let server = yield* Effect.provide(config.server.make, serverDb)
    const replicaDbs = yield* Effect.forEach(config.users, (_, i) => buildDb(config.clientDatabase, `sim-replica-${i}`))
    const oracleDb = yield* buildDb(config.clientDatabase, "sim-oracle")

    const inDb = <A, E>(db: Context.Context<SqlClient.SqlClient>, effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
      Effect.provide(effect, db)

    const reset = (db: Context.Context<SqlClient.SqlClient>, client: boolean) =>
      inDb(db, Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tables = yield* trackedTables
        const internal = client ? ["reprise.action_records", "reprise.action_patches", "reprise.known_patches"] : []
        yield* sql.unsafe(`TRUNCATE ${[...tables.map((t) => t.q), ...internal].join(", ")}`)
        if (client) yield* sql`UPDATE reprise.client_state SET last_server_seq = 0, audiences = NULL`
      }))

    const run = (input: number | Schedule): Effect.Effect<Report> => {
      const given: Schedule = typeof input === "number" ? { seed: input } : input
      const seed = given.seed
      const faults: Faults = { ...baseFaults, ...given.faults }
      const rng = SimRandom.make(seed)
      const problems: Array<string> = []
      const rejected: Array<string> = []
      const counts = {
        drops: 0,
        duplicates: 0,
        timeouts: 0,
        partitions: 0,
        serverRestarts: 0,
        skews: 0,
        failedSyncs: 0,
        actions: 0,
        steps: 0,
        watermarkRegressions: 0
      }
      const crashes: Record<CrashPoint, number> = {
        "before-local-commit": 0,
        "after-commit-before-upload": 0,
        "after-upload-before-ack": 0,
        "mid-reconcile": 0,
        "while-waiting": 0
      }
      let now = EPOCH_MS
      const startedAt = performance.now()
      let serverMs = 0
      let healAt = 0
      let checksAt = 0
      const timings = () => ({
        total: performance.now() - startedAt,
        server: serverMs,
        heal: checksAt === 0 ? 0 : checksAt - healAt,
        checks: checksAt === 0 ? 0 : performance.now() - checksAt
      })
      /** Stops the schedule's replicas and fibers (set once they exist). */
      let cleanup: Effect.Effect<void> = Effect.void
      /** The report, from the counters and the checks' findings. */
      const report = (
        found: Pick<
          Report,
          | "committed"
          | "divergences"
          | "lost"
          | "doubleApplies"
          | "residualPending"
          | "nondeterministic"
          | "violations"
          | "scopeLeaks"
          | "corrections"
          | "competingCorrections"
        > & { readonly budgets: ReadonlyArray<number> },
        stopped?: string
      ): Report => {
        const { budgets, ...rest } = found
        return {
          seed,
          schedule: { seed, budgets, faults },
          replicas: config.users.length,
          steps: counts.steps,
          actions: counts.actions,
          faults: {
            drops: counts.drops,
            duplicates: counts.duplicates,
            timeouts: counts.timeouts,
            partitions: counts.partitions,
            crashes,
            serverRestarts: counts.serverRestarts,
            skews: counts.skews
          },
          failedSyncs: counts.failedSyncs,
          rejected,
          watermarkRegressions: counts.watermarkRegressions,
          ...rest,
          problems: stopped === undefined ? problems : [...problems, stopped],
          timings: timings()
        }
      }
      let nextOp = 1
      let nextMessage = 1
      const network: Array<Message> = []
      const lastReports = new Map<number, SyncEngine.SyncReport>()

      return Effect.gen(function*() {
        const invalid = [
          ...(Number.isSafeInteger(seed) ? [] : [`the seed must be an integer, got ${seed}`]),
          ...(given.budgets === undefined || (given.budgets.length === config.users.length && given.budgets.every((b) => isCount(b, 0)))
            ? []
            : [`budgets must be ${config.users.length} integers ≥ 0 (one per replica), got ${JSON.stringify(given.budgets)}`]),
          ...faultIssues(given.faults ?? {})
        ]
        if (invalid.length > 0) return yield* Effect.fail(`invalid schedule: ${invalid.join("; ")}`)
        const signals = yield* Queue.unbounded<Signal>()
        const simScope = yield* Scope.make()

        // --- replicas --------------------------------------------------------------------
        const replicas: Array<Replica> = config.users.map((userId, index) => ({
          index,
          userId,
          clientId: `sim-replica-${index}`,
          db: replicaDbs[index]!,
          skewMs: 0,
          partitioned: false,
          busy: undefined,
          currentOp: -1,
          services: undefined,
          scope: undefined,
          ids: rng.fork(),
          effectRandom: Random.make(rng.uint32()),
          budget: ((drawn) => given.budgets?.[index] ?? drawn)(rng.int(maxActions + 1)),
          committed: 0,
          watermark: 0,
          actions: new Map(),
          armed: undefined
        }))

        const budgets = replicas.map((r) => r.budget)

        const clockOf = (replica: Replica): Clock.Clock =>
          makeVirtualClock(() => now + replica.skewMs, (millis) =>
            Effect.gen(function*() {
              const wake = yield* Deferred.make<void>()
              const op = replica.currentOp
              // Whole milliseconds, as a real clock: jittered backoffs are fractional.
              yield* Queue.offer(signals, { _tag: "Waiting", replica: replica.index, op, waiting: { kind: "timer", at: now + Math.ceil(millis), wake } })
              yield* Deferred.await(wake)
            }))

        const transportOf = (replica: Replica): SyncTransport.SyncTransportShape => {
          const call = <A, I>(
            name: "upload" | "fetch",
            request: unknown,
            requestSchema: Schema.Schema<unknown>,
            responseSchema: Schema.Schema<A, I>
          ) =>
            Effect.gen(function*() {
              const body = JSON.parse(JSON.stringify(yield* Effect.orDie(Schema.encode(requestSchema)(request)))) as unknown
              const reply = yield* Deferred.make<Outcome>()
              const op = replica.currentOp
              network.push({ id: nextMessage++, replica: replica.index, op, direction: "request", call: name, body, outcome: undefined, reply })
              yield* Queue.offer(signals, {
                _tag: "Waiting",
                replica: replica.index,
                op,
                waiting: { kind: "request", call: name, sentAt: now, reply, delivered: false }
              })
              const outcome = yield* Deferred.await(reply)
              const text = yield* outcome
              return yield* Effect.mapError(
                Schema.decodeUnknown(Schema.parseJson(responseSchema))(text),
                (error) => new SyncTransport.TransportError({ detail: error.message })
              )
            })
          return {
            upload: (request) => call("upload", request, SyncProtocol.UploadRequest as Schema.Schema<unknown>, SyncProtocol.UploadResponse),
            fetch: (request) =>
              Effect.catchTags(
                call("fetch", request, SyncProtocol.FetchRequest as Schema.Schema<unknown>, SyncProtocol.FetchResponse),
                { BehindHead: (e) => Effect.die(e), UploadRejected: (e) => Effect.die(e) }
              )
          }
        }

        // Each replica runs wrapped actions: a crash armed for its current operation fires
        // inside the action's transaction, before it commits (the database rolls it back).
        const wrapFor = (replica: Replica) => (action: Action.Any): Action.Any =>
          Action.make({
            tag: action.tag,
            args: action.args,
            authority: action.authority,
            run: (args) =>
              Effect.zipLeft(
                action.run(args),
                Effect.suspend(() => {
                  const armed = replica.armed
                  if (armed === undefined) return Effect.void
                  armed.countdown -= 1
                  if (armed.countdown > 0) return Effect.void
                  replica.armed = undefined
                  return Effect.die(new SimulatedCrash({ point: armed.point }))
                })
              )
          })

        for (const replica of replicas) replica.actions = new Map(config.actions.map((a) => [a.tag, wrapFor(replica)(a)]))

        const start = (replica: Replica) =>
          Effect.gen(function*() {
            const scope = yield* Scope.make()
            const layer = SyncEngine.layer({ backoff: "200 millis", maxUploadAttempts: 4 }).pipe(
              Layer.provideMerge(
                ActionExecutor.layer({ userId: replica.userId, clientId: replica.clientId, newActionId: Effect.sync(() => replica.ids.uuid()) })
              ),
              Layer.provideMerge(ActionRegistry.layer([...replica.actions.values()])),
              Layer.provideMerge(Layer.succeed(SyncTransport.SyncTransport, transportOf(replica))),
              Layer.provideMerge(Layer.succeedContext(replica.db))
            )
            replica.services = yield* Effect.withClock(Layer.buildWithScope(layer, scope), clockOf(replica))
            replica.scope = scope
          })

        const stop = (replica: Replica) =>
          Effect.gen(function*() {
            if (replica.busy !== undefined) {
              const fiber = replica.busy.fiber
              replica.busy = undefined
              yield* Fiber.interrupt(fiber)
            }
            replica.armed = undefined
            if (replica.scope !== undefined) yield* Scope.close(replica.scope, Exit.void)
            replica.scope = undefined
            replica.services = undefined
          })

        const readWatermark = (replica: Replica) =>
          inDb(replica.db, Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => Effect.flatMap(sql`SELECT last_server_seq::text AS seq FROM reprise.client_state`, Schema.decodeUnknown(WatermarkRow))
          )).pipe(Effect.map((rows) => rows[0]?.seq ?? 0))

        const checkWatermark = (replica: Replica) =>
          Effect.gen(function*() {
            const seq = yield* readWatermark(replica)
            if (seq < replica.watermark) {
              counts.watermarkRegressions++
              problems.push(`replica ${replica.index}: watermark went back from ${replica.watermark} to ${seq}`)
            }
            replica.watermark = Math.max(replica.watermark, seq)
          })

        const crashRestart = (replica: Replica, point: CrashPoint) =>
          Effect.gen(function*() {
            crashes[point]++
            yield* stop(replica)
            yield* start(replica)
            yield* checkWatermark(replica)
          })

        /** Runs `replica`'s operation until it finishes or waits on the network or a timer. */
        const settle = (replica: Replica): Effect.Effect<void, unknown> =>
          Effect.gen(function*() {
            for (;;) {
              const signal = yield* Queue.take(signals).pipe(
                Effect.timeoutFail({
                  duration: STUCK_AFTER,
                  onTimeout: () => `replica ${replica.index} neither finished nor waited within ${Duration.format(STUCK_AFTER)} (real time)`
                })
              )
              const busy = replica.busy
              if (signal.replica !== replica.index || busy === undefined || signal.op !== busy.op) continue
              if (signal._tag === "Waiting") {
                busy.waiting = signal.waiting
                return
              }
              replica.busy = undefined
              replica.armed = undefined
              yield* finished(replica, busy.kind, signal.exit)
              return
            }
          })

        const finished = (replica: Replica, kind: "act" | "sync", exit: Exit.Exit<unknown, unknown>) =>
          Effect.gen(function*() {
            if (Exit.isSuccess(exit)) {
              if (kind === "act" && exit.value === "committed") replica.committed++
              if (kind === "sync") lastReports.set(replica.index, exit.value as SyncEngine.SyncReport)
              yield* checkWatermark(replica)
              return
            }
            const crash = Option.getOrUndefined(Cause.dieOption(exit.cause))
            if (crash instanceof SimulatedCrash) return yield* crashRestart(replica, crash.point)
            const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
            const tag = typeof failure === "object" && failure !== null && "_tag" in failure ? String(failure._tag) : undefined
            if (kind === "sync" && (tag === "TransportError" || tag === "BehindHead")) {
              counts.failedSyncs++
            } else if (kind === "sync" && failure instanceof SyncProtocol.UploadRejected) {
              counts.failedSyncs++
              rejected.push(`replica ${replica.index}: ${failure.message}`)
            } else {
              problems.push(`replica ${replica.index}: ${kind === "act" ? "an action" : "a sync"} failed unexpectedly: ${Cause.pretty(exit.cause)}`)
            }
            yield* checkWatermark(replica)
          })

        const launch = (replica: Replica, kind: "act" | "sync", effect: Effect.Effect<unknown, unknown, Services>) =>
          Effect.gen(function*() {
            const op = nextOp++
            replica.currentOp = op
            const services = replica.services!
            const fiber = yield* effect.pipe(
              Effect.provide(services),
              Effect.withClock(clockOf(replica)),
              Effect.withRandom(replica.effectRandom),
              Effect.exit,
              Effect.flatMap((exit) => Queue.offer(signals, { _tag: "Done", replica: replica.index, op, exit })),
              Effect.asVoid,
              Effect.forkIn(simScope)
            )
            replica.busy = { op, kind, fiber, waiting: undefined }
            yield* settle(replica)
          })

        const act = (replica: Replica, crash: boolean) =>
          Effect.gen(function*() {
            replica.budget--
            counts.actions++
            if (crash) replica.armed = { point: "before-local-commit", countdown: 1 }
            const random = rng.fork()
            yield* launch(replica, "act", Effect.gen(function*() {
              const next = yield* config.generate({ replica: replica.index, userId: replica.userId, random })
              if (next === undefined) return "skipped"
              const action = replica.actions.get(next.action.tag)
              if (action === undefined) return yield* Effect.die(new Error(`the generator returned ${next.action.tag}, which is not among the simulation's actions`))
              const executor = yield* ActionExecutor.ActionExecutor
              return yield* executor.execute(action, next.args).pipe(
                Effect.as("committed"),
                // The action's own failure is its rules refusing: nothing was committed.
                Effect.catchIf((e) => !isExecutionError(e), () => Effect.succeed("refused"))
              )
            }))
          })

        const sync = (replica: Replica, crashAfterReplays: number | undefined) =>
          Effect.gen(function*() {
            if (crashAfterReplays !== undefined) replica.armed = { point: "mid-reconcile", countdown: crashAfterReplays }
            yield* launch(replica, "sync", Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))
          })

        const deliver = (index: number, withFaults: boolean) =>
          Effect.gen(function*() {
            const message = network[index]!
            const replica = replicas[message.replica]!
            if (withFaults && faults.duplicate > 0 && rng.chance(faults.duplicate)) {
              counts.duplicates++
            } else {
              network.splice(index, 1)
            }
            if (replica.partitioned || (withFaults && faults.drop > 0 && rng.chance(faults.drop))) {
              counts.drops++
              return
            }
            if (message.direction === "request") {
              const call = message.call === "upload"
                ? server.upload(replica.userId, message.body).pipe(
                  Effect.flatMap((r) => Schema.encode(SyncProtocol.UploadResponse)(r)),
                  Effect.map((r) => JSON.stringify(r))
                )
                : server.fetch(replica.userId, message.body).pipe(
                  Effect.flatMap((r) => Schema.encode(SyncProtocol.FetchResponse)(r)),
                  Effect.map((r) => JSON.stringify(r))
                )
              const before = performance.now()
              const exit = yield* Effect.exit(Effect.withClock(call, makeVirtualClock(() => now, () => Effect.void)))
              serverMs += performance.now() - before
              let outcome: Outcome
              if (Exit.isSuccess(exit)) {
                outcome = Exit.succeed(exit.value)
              } else {
                const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
                if (failure instanceof SyncProtocol.BehindHead || failure instanceof SyncProtocol.UploadRejected) {
                  outcome = Exit.fail(failure)
                } else if (failure !== undefined && failure._tag !== "ParseError") {
                  outcome = Exit.fail(new SyncTransport.TransportError({ detail: failure.message }))
                } else {
                  problems.push(`server: ${message.call} failed with a defect: ${Cause.pretty(exit.cause)}`)
                  outcome = Exit.fail(new SyncTransport.TransportError({ detail: "server defect" }))
                }
              }
              if (replica.busy?.op === message.op && replica.busy.waiting?.kind === "request") {
                replica.busy.waiting.delivered = true
              }
              network.push({ ...message, id: nextMessage++, direction: "response", outcome })
              return
            }
            const busy = replica.busy
            if (busy === undefined || busy.op !== message.op || busy.waiting?.kind !== "request" || busy.waiting.reply !== message.reply) {
              return // its caller crashed, timed out or already has an answer
            }
            busy.waiting = undefined
            yield* Deferred.succeed(message.reply, message.outcome!)
            yield* settle(replica)
          })

        const wake = (replica: Replica) =>
          Effect.gen(function*() {
            const waiting = replica.busy!.waiting as Extract<Waiting, { kind: "timer" }>
            now = Math.max(now, waiting.at)
            replica.busy!.waiting = undefined
            yield* Deferred.succeed(waiting.wake, undefined)
            yield* settle(replica)
          })

        const timeout = (replica: Replica) =>
          Effect.gen(function*() {
            const waiting = replica.busy!.waiting as Extract<Waiting, { kind: "request" }>
            now = Math.max(now, waiting.sentAt + REQUEST_TIMEOUT_MS)
            counts.timeouts++
            replica.busy!.waiting = undefined
            yield* Deferred.succeed(
              waiting.reply,
              Exit.fail(new SyncTransport.TransportError({ detail: `no answer to ${waiting.call} within ${REQUEST_TIMEOUT_MS} ms` }))
            )
            yield* settle(replica)
          })

        const crashNow = (replica: Replica) =>
          Effect.gen(function*() {
            const waiting = replica.busy?.waiting
            const point: CrashPoint = replica.busy === undefined
              ? "after-commit-before-upload"
              : waiting?.kind === "request" && waiting.call === "upload" && waiting.delivered
              ? "after-upload-before-ack"
              : "while-waiting"
            yield* crashRestart(replica, point)
          })

        // --- one schedule ------------------------------------------------------------------
        yield* reset(serverDb, false)
        yield* Effect.provide(config.server.reset, serverDb)
        cleanup = Effect.gen(function*() {
          for (const replica of replicas) yield* stop(replica)
          yield* Scope.close(simScope, Exit.void)
        }).pipe(Effect.catchAllCause(() => Effect.void))
        for (const replica of replicas) {
          yield* reset(replica.db, true)
          yield* start(replica)
        }

        type Event = { readonly weight: number; readonly run: Effect.Effect<void, unknown> }
        const chaos = (): Array<Event> => {
          const events: Array<Event> = []
          for (const replica of replicas) {
            const idle = replica.busy === undefined
            if (idle && replica.budget > 0) {
              events.push({ weight: 3, run: act(replica, faults.crash && rng.chance(0.03)) })
            }
            if (idle) {
              const crashAt = faults.crash && rng.chance(0.08) ? rng.between(1, 4) : undefined
              events.push({ weight: 1.5, run: sync(replica, crashAt) })
            }
            const waiting = replica.busy?.waiting
            if (waiting?.kind === "timer" && waiting.at <= now) events.push({ weight: 2, run: wake(replica) })
            if (waiting?.kind === "request" && waiting.sentAt + REQUEST_TIMEOUT_MS <= now) {
              events.push({ weight: 1, run: timeout(replica) })
            }
            if (faults.partition) {
              events.push(replica.partitioned
                ? { weight: 0.5, run: Effect.sync(() => { replica.partitioned = false }) }
                : { weight: 0.05, run: Effect.sync(() => { replica.partitioned = true; counts.partitions++ }) })
            }
            if (faults.crash) events.push({ weight: 0.04, run: crashNow(replica) })
            if (faults.maxSkewMs > 0) {
              events.push({
                weight: 0.04,
                run: Effect.sync(() => {
                  replica.skewMs = rng.between(-faults.maxSkewMs, faults.maxSkewMs)
                  counts.skews++
                })
              })
            }
          }
          if (network.length > 0) {
            events.push({ weight: 4 + network.length, run: Effect.suspend(() => deliver(rng.int(network.length), true)) })
          }
          events.push({ weight: 1, run: Effect.sync(() => { now += rng.between(1, 3_000) }) })
          if (faults.serverRestart) {
            events.push({
              weight: 0.03,
              run: Effect.gen(function*() {
                counts.serverRestarts++
                server = yield* Effect.provide(config.server.make, serverDb)
              })
            })
          }
          return events
        }

        const pick = (events: ReadonlyArray<Event>): Event => {
          const total = events.reduce((sum, e) => sum + e.weight, 0)
          let x = rng.next() * total
          for (const event of events) {
            x -= event.weight
            if (x < 0) return event
          }
          return events[events.length - 1]!
        }

        const budgetLeft = () => replicas.some((r) => r.budget > 0)
        while (budgetLeft() && counts.steps < maxSteps) {
          counts.steps++
          yield* pick(chaos()).run
        }
        if (budgetLeft()) problems.push(`the schedule did not spend its actions within ${maxSteps} steps`)

        // --- heal and pump to quiescence -----------------------------------------------------
        healAt = performance.now()
        for (const replica of replicas) replica.partitioned = false
        /** Drives everything in flight to completion, messages in order, no faults. */
        const drain = Effect.gen(function*() {
          for (;;) {
            if (++counts.steps > maxSteps * 2) return yield* Effect.fail("draining did not finish (livelock)")
            if (network.length > 0) {
              yield* deliver(0, false)
              continue
            }
            const waiting = replicas.find((r) => r.busy !== undefined)
            if (waiting === undefined) return
            const w = waiting.busy!.waiting
            if (w === undefined) return yield* Effect.fail(`replica ${waiting.index} is busy but not waiting`)
            if (w.kind === "timer") yield* wake(waiting)
            else yield* timeout(waiting)
          }
        })
        yield* drain
        let quiescent = false
        for (let round = 0; round < maxRounds && !quiescent; round++) {
          let work = false
          for (const replica of replicas) {
            lastReports.delete(replica.index)
            yield* sync(replica, undefined)
            yield* drain
            const report = lastReports.get(replica.index)
            config.trace?.(
              `round ${round} replica ${replica.index} (${replica.userId}): ${report === undefined ? "no report" : JSON.stringify(report)}`
            )
            if (report === undefined) work = true
            else if (report.fetched + report.uploaded + report.corrections + report.adopted > 0) work = true
          }
          quiescent = !work
        }
        if (!quiescent) problems.push(`no quiescence within ${maxRounds} sync rounds after healing (livelock)`)

        // --- invariants -----------------------------------------------------------------------
        checksAt = performance.now()
        // Each user's view of the server: its rows in the user's audiences (all of them when
        // nothing is filtered).
        const audiencesOf = (userId: string): ReadonlyArray<string> | null => config.audiences?.[userId] ?? null
        const serverViews = new Map<string, Map<string, string>>()
        const serverView = (userId: string) =>
          Effect.gen(function*() {
            const key = JSON.stringify(audiencesOf(userId))
            const known = serverViews.get(key)
            if (known !== undefined) return known
            const view = (yield* inDb(serverDb, scopedHashes(audiencesOf(userId)))).hashes
            serverViews.set(key, view)
            return view
          })
        let divergences = 0
        let scopeLeaks = 0
        for (const replica of replicas) {
          const { hashes, leaks } = yield* inDb(replica.db, scopedHashes(audiencesOf(replica.userId)))
          for (const [table, h] of yield* serverView(replica.userId)) {
            if (hashes.get(table) !== h) {
              divergences++
              const scope = audiencesOf(replica.userId)
              const mine = yield* inDb(replica.db, scopedRows(table, scope))
              const theirs = yield* inDb(serverDb, scopedRows(table, scope))
              problems.push(
                `replica ${replica.index}: table ${table} differs from the server's (${hashes.get(table)} vs ${h})` +
                  rowDifferences(mine, theirs)
              )
            }
          }
          scopeLeaks += leaks
          if (leaks > 0) problems.push(`replica ${replica.index}: ${leaks} rows outside ${replica.userId}'s audiences`)
        }

        // The oracle: a fresh replica replaying the server's whole log in canonical order; with
        // audiences, once per user, as that user, over what that user may fetch.
        const oracleUsers = config.audiences === undefined ? ["sim-oracle"] : [...new Set(config.users)]
        let oracle: { readonly scope: Scope.CloseableScope; readonly services: Context.Context<SyncEngine.SyncEngine> }
        let oraclePull: Effect.Effect<SyncEngine.SyncReport, SyncEngine.SyncError>
        const oracleClock = makeVirtualClock(() => now + faults.maxSkewMs + 1, () => Effect.void)
        const oracleLogIds = new Set<string>()
        for (const [i, oracleUser] of oracleUsers.entries()) {
          if (i > 0) yield* Scope.close(oracle!.scope, Exit.void)
          yield* reset(oracleDb, true)
          oracle = yield* Effect.gen(function*() {
            const scope = yield* Scope.make()
            const direct: SyncTransport.SyncTransportShape = {
              upload: () => Effect.die("the oracle never uploads"),
              fetch: (request) =>
                server.fetch(oracleUser, JSON.parse(JSON.stringify(request))).pipe(
                  Effect.mapError((e) => new SyncTransport.TransportError({ detail: e.message }))
                )
            }
            const layer = SyncEngine.layer({}).pipe(
              Layer.provideMerge(ActionExecutor.layer({ userId: oracleUser, clientId: "sim-oracle" })),
              Layer.provideMerge(ActionRegistry.layer(config.actions)),
              Layer.provideMerge(Layer.succeed(SyncTransport.SyncTransport, direct)),
              Layer.provideMerge(Layer.succeedContext(oracleDb))
            )
            return { scope, services: yield* Layer.buildWithScope(layer, scope) }
          })
          const services = oracle.services
          oraclePull = Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.pull).pipe(
            Effect.provide(services),
            Effect.withClock(oracleClock)
          )
          yield* oraclePull
          for (const row of yield* inDb(oracleDb, actionIds(undefined))) oracleLogIds.add(row.id)
          const { hashes, leaks } = yield* inDb(oracleDb, scopedHashes(audiencesOf(oracleUser)))
          for (const [table, h] of yield* serverView(oracleUser)) {
            if (hashes.get(table) !== h) {
              divergences++
              const scope = audiencesOf(oracleUser)
              const replayed = yield* inDb(oracleDb, scopedRows(table, scope))
              const held = yield* inDb(serverDb, scopedRows(table, scope))
              problems.push(
                `server: table ${table} differs from a fresh replay of its log (the oracle` +
                  `${config.audiences === undefined ? "" : ` of ${oracleUser}`})` + rowDifferences(replayed, held)
              )
            }
          }
          scopeLeaks += leaks
          if (leaks > 0) problems.push(`the oracle of ${oracleUser}: ${leaks} rows outside its audiences`)
        }

        // Nothing lost: every action a replica committed is on the replica and in the log.
        // The log as the oracles fetched it (each user sees at least its own actions).
        const logIds = oracleLogIds
        let lost = 0
        let residualPending = 0
        for (const replica of replicas) {
          const own = yield* inDb(replica.db, actionIds(replica.clientId))
          const ownActions = own.filter((r) => r.kind === "action").length
          if (ownActions !== replica.committed) {
            lost += Math.abs(replica.committed - ownActions)
            problems.push(`replica ${replica.index}: committed ${replica.committed} actions but holds ${ownActions} of its own`)
          }
          for (const row of own) {
            // Adoptions are local: never uploaded.
            if (row.kind !== "adoption" && !logIds.has(row.id)) {
              lost++
              problems.push(`replica ${replica.index}: its ${row.kind} ${row.id} is not in the server's log`)
            }
          }
          const [pending] = yield* inDb(replica.db, Effect.flatMap(SqlClient.SqlClient, (sql) =>
            Effect.flatMap(sql`SELECT count(*)::int AS n FROM reprise.action_records WHERE NOT synced`, Schema.decodeUnknown(CountRow))))
          residualPending += pending?.n ?? 0
          if ((pending?.n ?? 0) > 0) problems.push(`replica ${replica.index}: ${pending!.n} actions still pending`)
        }

        // Determinism: replaying every action a second time on the same states gives the same patches.
        yield* inDb(oracleDb, Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`DROP TABLE IF EXISTS pg_temp.sim_first_replay`
          // Adoptions are not replayed (a replay drops them and adopts anew, under new ids).
          yield* sql`
            CREATE TEMP TABLE sim_first_replay AS SELECT p.* FROM reprise.action_patches p
            JOIN reprise.action_records r ON r.id = p.action_id WHERE r.kind <> 'adoption'`
          yield* sql.withTransaction(Effect.zipRight(sql.unsafe(undoAfter, [null, null]), sql.unsafe(markUnappliedAfter, [null, null])))
        }))
        yield* oraclePull!
        const [differing] = yield* inDb(oracleDb, Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.flatMap(
            sql`
              WITH replayed AS (
                SELECT p.* FROM reprise.action_patches p
                JOIN reprise.action_records r ON r.id = p.action_id WHERE r.kind <> 'adoption'
              )
              SELECT count(DISTINCT action_id)::int AS n FROM (
                (SELECT * FROM sim_first_replay EXCEPT ALL SELECT * FROM replayed)
                UNION ALL
                (SELECT * FROM replayed EXCEPT ALL SELECT * FROM sim_first_replay)
              ) AS d`,
            Schema.decodeUnknown(CountRow)
          )))
        const twice = differing?.n ?? 0
        const [corrections] = yield* inDb(oracleDb, Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.flatMap(
            sql`SELECT count(*)::int AS n FROM reprise.action_records WHERE kind = 'correction' AND synced`,
            Schema.decodeUnknown(CountRow)
          )))
        const [competing] = yield* inDb(oracleDb, Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.flatMap(
            sql`
              SELECT count(*)::int AS n FROM (
                SELECT k.table_schema, k.table_name, k.row_id FROM reprise.known_patches k
                JOIN reprise.action_records r ON r.id = k.action_id
                WHERE r.kind = 'correction' AND r.synced
                GROUP BY 1, 2, 3 HAVING count(DISTINCT r.client_id) > 1
              ) AS rows`,
            Schema.decodeUnknown(CountRow)
          )))
        if (twice > 0) problems.push(`${twice} actions wrote other patches when replayed again on the same state`)
        yield* Scope.close(oracle!.scope, Exit.void)

        // The app's own invariants on every database.
        let doubleApplies = 0
        let violations = 0
        if (config.invariants !== undefined) {
          const databases: Array<[string, Context.Context<SqlClient.SqlClient>]> = [
            ["server", serverDb],
            ["oracle", oracleDb],
            ...replicas.map((r): [string, Context.Context<SqlClient.SqlClient>] => [`replica ${r.index}`, r.db])
          ]
          for (const [name, db] of databases) {
            for (const violation of yield* inDb(db, config.invariants(name))) {
              if (violation.kind === "double-apply") doubleApplies++
              else violations++
              problems.push(`${name}: ${violation.kind}: ${violation.detail}`)
            }
          }
        }

        yield* cleanup
        return report({
          budgets,
          committed: replicas.reduce((n, r) => n + r.committed, 0),
          divergences,
          lost,
          doubleApplies,
          residualPending,
          nondeterministic: twice,
          violations,
          scopeLeaks,
          corrections: corrections?.n ?? 0,
          competingCorrections: competing?.n ?? 0
        })
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.as(
            cleanup,
            report({
              budgets: given.budgets ?? [],
              committed: 0,
              divergences: 0,
              lost: 0,
              doubleApplies: 0,
              residualPending: 0,
              nondeterministic: 0,
              violations: 0,
              scopeLeaks: 0,
              corrections: 0,
              competingCorrections: 0
            }, `the simulation stopped: ${Cause.pretty(cause)}`)
          )
        )
      )
    }

    return {
      explore: run,
      run: (schedule) =>
        Effect.flatMap(run(schedule), (report) =>
          report.problems.length === 0
            ? Effect.succeed(report)
            : Effect.fail(new SimulationFailed({ seed: report.seed, problems: report.problems })))
    }
  })

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
        const budget = best.schedule.budgets[i]!
        for (const smaller of [...new Set([0, Math.floor(budget / 2), budget - 1])].filter((b) => b >= 0 && b < budget)) {
          const budgets = best.schedule.budgets.map((b, j) => (j === i ? smaller : b))
          if (tries < maxTries && (yield* attempt({ ...best.schedule, budgets }))) {
            improved = true
            break
          }
        }
      }
      const switches: ReadonlyArray<Partial<Faults>> = [
        { drop: 0 },
        { duplicate: 0 },
        { partition: false },
        { crash: false },
        { serverRestart: false },
        { maxSkewMs: 0 }
      ]
      for (const off of switches) {
        const [key, value] = Object.entries(off)[0]!
        if (best.schedule.faults[key as keyof Faults] === value || tries >= maxTries) continue
        if (yield* attempt({ ...best.schedule, faults: { ...best.schedule.faults, ...off } })) improved = true
      }
    }
    return { ...best, tries }
  })

const isExecutionError = (error: unknown): boolean =>
  error instanceof ActionExecutor.InvalidActionArgs ||
  error instanceof ActionExecutor.NondeterministicAction ||
  (typeof error === "object" && error !== null && "_tag" in error && error._tag === "SqlError")

const trackedTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ q: string; schema: string; name: string }>`
    SELECT format('%I.%I', table_schema, table_name) AS q, table_schema AS schema, table_name AS name
    FROM reprise.tracked_tables ORDER BY 1`)

/** Audience keys as a Postgres text[] literal (null: every row is in scope). */
const scopeLiteral = (audiences: ReadonlyArray<string> | null): string | null =>
  audiences === null ? null : `{${audiences.map((a) => `"${a.replace(/["\\]/g, "\\$&")}"`).join(",")}}`

/**
 * Each tracked table's rows in the audiences given (all rows when null; rows with a null
 * audience key are public), hashed (to_jsonb text in id order), and how many rows lie outside
 * them.
 */
const scopedHashes = (audiences: ReadonlyArray<string> | null) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = yield* trackedTables
    const hashes = new Map<string, string>()
    let leaks = 0
    const scope = scopeLiteral(audiences)
    for (const { name, q, schema } of tables) {
      const rows = yield* Effect.flatMap(
        sql`
          WITH x AS (
            SELECT to_jsonb(t) AS j, t.id::text AS id FROM ${sql.literal(q)} AS t
          ), scoped AS (
            SELECT x.*, (${scope}::text[] IS NULL OR a.key IS NULL OR a.key = ANY (${scope}::text[])) AS visible
            FROM x CROSS JOIN LATERAL (SELECT reprise.audience_of(${schema}, ${name}, x.j) AS key) AS a
          )
          SELECT ${q} AS t,
            md5(coalesce(string_agg(j::text, E'\\n' ORDER BY id) FILTER (WHERE visible), '')) AS h,
            (count(*) FILTER (WHERE visible))::int AS n,
            (count(*) FILTER (WHERE NOT visible))::int AS leaks
          FROM scoped`,
        Schema.decodeUnknown(HashRows)
      )
      for (const row of rows) {
        hashes.set(row.t, `${row.n}:${row.h}`)
        leaks += row.leaks
      }
    }
    return { hashes, leaks }
  })

/** A table's rows (id → to_jsonb text) in the audiences given (all when null). */
const scopedRows = (table: string, audiences: ReadonlyArray<string> | null) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [tracked] = (yield* trackedTables).filter((t) => t.q === table)
    if (tracked === undefined) return new Map<string, string>()
    const scope = scopeLiteral(audiences)
    const rows = yield* sql<{ id: string; j: string }>`
      SELECT t.id::text AS id, to_jsonb(t)::text AS j FROM ${sql.literal(table)} AS t
      WHERE ${scope}::text[] IS NULL OR reprise.audience_of(${tracked.schema}, ${tracked.name}, to_jsonb(t)) IS NULL
        OR reprise.audience_of(${tracked.schema}, ${tracked.name}, to_jsonb(t)) = ANY (${scope}::text[])`
    return new Map(rows.map((r) => [r.id, r.j]))
  })

/** The first few rows that differ between two row maps, in words. */
const rowDifferences = (mine: Map<string, string>, theirs: Map<string, string>): string => {
  const ids = [...new Set([...mine.keys(), ...theirs.keys()])].filter((id) => mine.get(id) !== theirs.get(id)).sort()
  return ids.slice(0, 3).map((id) => `; row ${id}: ${mine.get(id) ?? "absent"} vs ${theirs.get(id) ?? "absent"}`).join("") +
    (ids.length > 3 ? `; and ${ids.length - 3} more` : "")
}

const actionIds = (clientId: string | undefined) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.flatMap(
      clientId === undefined
        ? sql`SELECT id::text AS id, kind FROM reprise.action_records`
        : sql`SELECT id::text AS id, kind FROM reprise.action_records WHERE client_id = ${clientId}`,
      Schema.decodeUnknown(IdRows)
    ))
