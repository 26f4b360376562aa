/**
 * The scheduler's world: everything one schedule changes as it steps (virtual time, the
 * messages in flight, each replica's state, the fault counters, what went wrong), held in
 * explicit state objects that the scheduler, the network and the replicas share, instead of
 * variables captured by one closure. One fiber (the scheduler) mutates them, one event at a time.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Context from "effect/Context"
import type * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import type * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import type * as Action from "../../Action.js"
import type * as ActionExecutor from "../../ActionExecutor.js"
import type * as SyncEngine from "../../SyncEngine.js"
import type * as SyncProtocol from "../../SyncProtocol.js"
import type * as SyncServer from "../../SyncServer.js"
import type * as SyncTransport from "../../SyncTransport.js"
import * as SimRandom from "../SimRandom.js"
import type { Config, CrashPoint, Faults } from "../Simulation.js"
import type { TrackedTable } from "./sql.js"

/** The simulated epoch: 2027-01-15T08:00:00Z. @internal */
export const EPOCH_MS = 1_800_000_000_000

/** What a request's caller receives: the response's JSON text, or the error it surfaces. @internal */
export type Outcome = Exit.Exit<string, SyncProtocol.BehindHead | SyncProtocol.UploadRejected | SyncTransport.TransportError>

/** The two calls a replica makes to the server. @internal */
export type Call = "upload" | "fetch"

/** A request on its way to the server: its body as the JSON a network carries. @internal */
export interface Request {
  readonly direction: "request"
  readonly id: number
  readonly replica: number
  readonly op: number
  readonly call: Call
  readonly body: unknown
  readonly reply: Deferred.Deferred<Outcome>
}

/** The server's answer on its way back to the replica that asked. @internal */
export interface Response {
  readonly direction: "response"
  readonly id: number
  readonly replica: number
  readonly op: number
  readonly call: Call
  readonly outcome: Outcome
  readonly reply: Deferred.Deferred<Outcome>
}

/** A message in flight. @internal */
export type Message = Request | Response

/** A replica's operation waits for the answer to a request. @internal */
export interface RequestWait {
  readonly kind: "request"
  readonly call: Call
  readonly sentAt: number
  readonly reply: Deferred.Deferred<Outcome>
  /** The server has handled the request (its answer may still be lost). */
  delivered: boolean
}

/** A replica's operation sleeps until virtual time `at`. @internal */
export interface TimerWait {
  readonly kind: "timer"
  readonly at: number
  readonly wake: Deferred.Deferred<void>
}

/** What a replica's operation waits on. @internal */
export type Waiting = RequestWait | TimerWait

/** What an operation of a replica returns. @internal */
export type Result =
  | { readonly kind: "act"; readonly outcome: "committed" | "refused" | "skipped" }
  | { readonly kind: "sync"; readonly report: SyncEngine.SyncReport }

/** A replica's running operation. @internal */
export interface Busy {
  readonly op: number
  readonly kind: Result["kind"]
  readonly fiber: Fiber.RuntimeFiber<void>
  waiting: Waiting | undefined
}

/** What a replica's operation tells the scheduler: it waits, or it finished. @internal */
export type Signal =
  | { readonly _tag: "Waiting"; readonly replica: number; readonly op: number; readonly waiting: Waiting }
  | { readonly _tag: "Done"; readonly replica: number; readonly op: number; readonly exit: Exit.Exit<Result, unknown> }

/** The services a replica's operations run with. @internal */
export type Services = SqlClient.SqlClient | ActionExecutor.ActionExecutor | SyncEngine.SyncEngine

/** A crash armed for a replica's running operation: at its next action run, or after `countdown` of them. @internal */
export interface Armed {
  readonly point: CrashPoint
  countdown: number
}

/** One replica: its database, its running engine (rebuilt at each crash) and its part of the schedule. @internal */
export interface Replica {
  readonly index: number
  readonly userId: string
  readonly clientId: string
  readonly db: Context.Context<SqlClient.SqlClient>
  /** Seeds the action ids of this replica. */
  readonly ids: SimRandom.SimRandom
  /** The engine's `Random` (retry jitter). */
  readonly effectRandom: Random.Random
  /** The app's actions, wrapped so that an armed crash fires inside them (by tag; set once, at creation). */
  actions: ReadonlyMap<string, Action.Any>
  skewMs: number
  partitioned: boolean
  busy: Busy | undefined
  /** The operation now running (set before its fiber starts). */
  currentOp: number
  /** The running engine and its scope; undefined while the replica is down. */
  running: { readonly services: Context.Context<Services>; readonly scope: Scope.CloseableScope } | undefined
  /** Actions left to issue. */
  budget: number
  /** Actions committed locally. */
  committed: number
  /** The highest fetch watermark seen. */
  watermark: number
  armed: Armed | undefined
}

/** The server's service, replaced at each simulated restart (it outlives a schedule). @internal */
export interface ServerHandle {
  readonly db: Context.Context<SqlClient.SqlClient>
  current: SyncServer.SyncServerShape
}

/** The fault and event counters a report shows. @internal */
export interface Counts {
  drops: number
  duplicates: number
  timeouts: number
  partitions: number
  serverRestarts: number
  skews: number
  failedSyncs: number
  actions: number
  steps: number
  watermarkRegressions: number
}

/** Where the schedule's real time went (`performance.now()` marks, 0 until reached). @internal */
export interface Stopwatch {
  readonly startedAt: number
  serverMs: number
  healAt: number
  checksAt: number
}

/** One schedule's world. @internal */
export interface World {
  readonly config: Config
  readonly faults: Faults
  readonly rng: SimRandom.SimRandom
  readonly tables: ReadonlyArray<TrackedTable>
  readonly server: ServerHandle
  /** The replicas, in user order (filled once the schedule has drawn them). */
  readonly replicas: Array<Replica>
  readonly signals: Queue.Queue<Signal>
  /** Where the replicas' operations are forked (closed when the schedule ends). */
  readonly fibers: Scope.CloseableScope
  /** Virtual time, in ms since the Unix epoch (a replica's clock adds its skew). */
  now: number
  nextOp: number
  nextMessage: number
  readonly network: Array<Message>
  readonly counts: Counts
  readonly crashes: Record<CrashPoint, number>
  /** The broken invariants found so far, in words. */
  readonly problems: Array<string>
  /** Uploads the server rejected, with their reasons. */
  readonly rejected: Array<string>
  /** Each replica's last successful sync's report (what the quiescence rounds look at). */
  readonly lastReports: Map<number, SyncEngine.SyncReport>
  readonly stopwatch: Stopwatch
}

/** Counters at zero. @internal */
export const zeroCounts = (): Counts => ({
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
})

/** No crashes yet. @internal */
export const zeroCrashes = (): Record<CrashPoint, number> => ({
  "before-local-commit": 0,
  "after-commit-before-upload": 0,
  "after-upload-before-ack": 0,
  "mid-reconcile": 0,
  "while-waiting": 0
})

/**
 * A new world for one schedule: virtual time at the epoch, nothing in flight, no replicas yet,
 * its generator seeded with `seed`. @internal
 */
export const make = (options: {
  readonly config: Config
  readonly faults: Faults
  readonly seed: number
  readonly tables: ReadonlyArray<TrackedTable>
  readonly server: ServerHandle
}): Effect.Effect<World> =>
  Effect.gen(function*() {
    const world: World = {
      config: options.config,
      faults: options.faults,
      rng: SimRandom.make(options.seed),
      tables: options.tables,
      server: options.server,
      replicas: [],
      signals: yield* Queue.unbounded<Signal>(),
      fibers: yield* Scope.make(),
      now: EPOCH_MS,
      nextOp: 1,
      nextMessage: 1,
      network: [],
      counts: zeroCounts(),
      crashes: zeroCrashes(),
      problems: [],
      rejected: [],
      lastReports: new Map(),
      stopwatch: { startedAt: performance.now(), serverMs: 0, healAt: 0, checksAt: 0 }
    }
    return world
  })
