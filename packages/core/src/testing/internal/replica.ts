/**
 * The replicas: each its own database, executor and sync engine, on a virtual clock and the
 * faulty network. A replica runs one operation at a time (an action, or a sync) in a fiber of
 * its own; the scheduler runs it until it finishes or waits (on the network or a timer), so
 * the whole system steps in one fiber. A replica crashes and restarts with its engine rebuilt
 * on the same database: at a named point, or inside an action's run when a crash is armed.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Action from "../../Action.js"
import * as ActionExecutor from "../../ActionExecutor.js"
import * as ActionRegistry from "../../ActionRegistry.js"
import * as SyncEngine from "../../SyncEngine.js"
import * as SyncProtocol from "../../SyncProtocol.js"
import * as SyncTransport from "../../SyncTransport.js"
import type { CrashPoint } from "../Simulation.js"
import { ReplicaDown, ReplicaStuck, SimulatedCrash, UnknownGeneratedAction } from "./errors.js"
import * as Network from "./network.js"
import * as Sql from "./sql.js"
import { makeVirtualClock } from "./virtualClock.js"
import type { Replica, Result, Services, TimerWait, World } from "./world.js"

/** Real time a replica may take to finish or wait before the scheduler calls it stuck. @internal */
export const STUCK_AFTER = Duration.seconds(120)

/**
 * The schedule's replicas, one per user, each drawing its id stream, its engine's `Random`
 * and its action budget (0..`maxActions`, unless `budgets` gives it) from the schedule's
 * generator, in that order. @internal
 */
export const makeAll = (
  world: World,
  dbs: ReadonlyArray<Context.Context<SqlClient.SqlClient>>,
  maxActions: number,
  budgets: ReadonlyArray<number> | undefined
): Array<Replica> =>
  world.config.users.flatMap((userId, index) => {
    const db = dbs[index]
    if (db === undefined) return []
    const ids = world.rng.fork()
    const effectRandom = Random.make(world.rng.uint32())
    const drawn = world.rng.int(maxActions + 1)
    const replica: Replica = {
      index,
      userId,
      clientId: clientIdOf(index),
      db,
      ids,
      effectRandom,
      actions: new Map(),
      skewMs: 0,
      partitioned: false,
      busy: undefined,
      currentOp: -1,
      running: undefined,
      budget: budgets?.[index] ?? drawn,
      committed: 0,
      watermark: 0,
      armed: undefined
    }
    replica.actions = new Map(world.config.actions.map((action) => [action.tag, armable(replica, action)]))
    return [replica]
  })

/** Replica `index`'s client id. @internal */
export const clientIdOf = (index: number): string => `sim-replica-${index}`

/** Builds the replica's engine (executor, registry, transport) on its database, on its clock. @internal */
export const start = (world: World, replica: Replica) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const pageSize = world.config.pageSize
    const layer = SyncEngine.layer({ backoff: "200 millis", maxUploadAttempts: 4, ...(pageSize === undefined ? {} : { pageSize }) }).pipe(
      Layer.provideMerge(
        ActionExecutor.layer({ userId: replica.userId, clientId: replica.clientId, newActionId: Effect.sync(() => replica.ids.uuid()) })
      ),
      Layer.provideMerge(ActionRegistry.layer([...replica.actions.values()])),
      Layer.provideMerge(Layer.succeed(SyncTransport.SyncTransport, Network.transport(world, replica))),
      Layer.provideMerge(Layer.succeedContext(replica.db))
    )
    const services = yield* Effect.withClock(Layer.buildWithScope(layer, scope), clockOf(world, replica))
    replica.running = { services, scope }
  })

/** Interrupts the replica's operation and closes its engine (its database stays). @internal */
export const stop = (replica: Replica) =>
  Effect.gen(function*() {
    if (replica.busy !== undefined) {
      const fiber = replica.busy.fiber
      replica.busy = undefined
      yield* Fiber.interrupt(fiber)
    }
    replica.armed = undefined
    const running = replica.running
    replica.running = undefined
    if (running !== undefined) yield* Scope.close(running.scope, Exit.void)
  })

/** Issues the replica's next action (from the app's generator); with `crash`, it crashes before committing. @internal */
export const act = (world: World, replica: Replica, crash: boolean) =>
  Effect.gen(function*() {
    replica.budget--
    world.counts.actions++
    if (crash) replica.armed = { point: "before-local-commit", countdown: 1 }
    const random = world.rng.fork()
    yield* launch(world, replica, "act", Effect.gen(function*() {
      const next = yield* world.config.generate({ replica: replica.index, userId: replica.userId, random })
      if (next === undefined) return skipped
      const action = replica.actions.get(next.action.tag)
      if (action === undefined) return yield* Effect.die(new UnknownGeneratedAction({ tag: next.action.tag }))
      const executor = yield* ActionExecutor.ActionExecutor
      return yield* executor.execute(action, next.args).pipe(
        Effect.as(committed),
        // The action's own failure is its rules refusing: nothing was committed.
        Effect.catchIf((e) => !isExecutionError(e), () => Effect.succeed(refused))
      )
    }))
  })

/** Starts a sync; with `crashAfterReplays`, it crashes inside that many replayed actions. @internal */
export const sync = (world: World, replica: Replica, crashAfterReplays: number | undefined) =>
  Effect.gen(function*() {
    if (crashAfterReplays !== undefined) replica.armed = { point: "mid-reconcile", countdown: crashAfterReplays }
    yield* launch(world, replica, "sync", Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync).pipe(
      Effect.map((report): Result => ({ kind: "sync", report }))
    ))
  })

/** Lets virtual time reach the replica's timer and runs it on. @internal */
export const wake = (world: World, replica: Replica, waiting: TimerWait) =>
  Effect.gen(function*() {
    world.now = Math.max(world.now, waiting.at)
    if (replica.busy !== undefined) replica.busy.waiting = undefined
    yield* Deferred.succeed(waiting.wake, undefined)
    yield* settle(world, replica)
  })

/** Crashes and restarts the replica now, at the point its state says it is at. @internal */
export const crashNow = (world: World, replica: Replica) =>
  Effect.suspend(() => {
    const waiting = replica.busy?.waiting
    const point: CrashPoint = replica.busy === undefined
      ? "after-commit-before-upload"
      : waiting?.kind === "request" && waiting.call === "upload" && waiting.delivered
      ? "after-upload-before-ack"
      : "while-waiting"
    return crashRestart(world, replica, point)
  })

/** Runs the replica's operation until it finishes or waits on the network or a timer. @internal */
export const settle = (world: World, replica: Replica) =>
  Effect.gen(function*() {
    for (;;) {
      const signal = yield* Queue.take(world.signals).pipe(
        Effect.timeoutFail({
          duration: STUCK_AFTER,
          onTimeout: () => new ReplicaStuck({ replica: replica.index, after: Duration.format(STUCK_AFTER) })
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
      yield* finished(world, replica, busy.kind, signal.exit)
      return
    }
  })

const committed: Result = { kind: "act", outcome: "committed" }
const refused: Result = { kind: "act", outcome: "refused" }
const skipped: Result = { kind: "act", outcome: "skipped" }

// Each replica runs wrapped actions: a crash armed for its current operation fires inside the
// action's transaction, before it commits (the database rolls it back).
const armable = (replica: Replica, action: Action.Any): Action.Any =>
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

const clockOf = (world: World, replica: Replica): Clock.Clock =>
  makeVirtualClock(() => world.now + replica.skewMs, (millis) =>
    Effect.gen(function*() {
      const wake = yield* Deferred.make<void>()
      const op = replica.currentOp
      // Whole milliseconds, as a real clock: jittered backoffs are fractional.
      yield* Queue.offer(world.signals, {
        _tag: "Waiting",
        replica: replica.index,
        op,
        waiting: { kind: "timer", at: world.now + Math.ceil(millis), wake }
      })
      yield* Deferred.await(wake)
    }))

const launch = (world: World, replica: Replica, kind: Result["kind"], effect: Effect.Effect<Result, unknown, Services>) =>
  Effect.gen(function*() {
    const op = world.nextOp++
    replica.currentOp = op
    const running = replica.running
    if (running === undefined) return yield* Effect.die(new ReplicaDown({ replica: replica.index }))
    const fiber = yield* effect.pipe(
      Effect.provide(running.services),
      Effect.withClock(clockOf(world, replica)),
      Effect.withRandom(replica.effectRandom),
      Effect.exit,
      Effect.flatMap((exit) => Queue.offer(world.signals, { _tag: "Done", replica: replica.index, op, exit })),
      Effect.asVoid,
      Effect.forkIn(world.fibers)
    )
    replica.busy = { op, kind, fiber, waiting: undefined }
    yield* settle(world, replica)
  })

const finished = (world: World, replica: Replica, kind: Result["kind"], exit: Exit.Exit<Result, unknown>) =>
  Effect.gen(function*() {
    if (Exit.isSuccess(exit)) {
      const result = exit.value
      if (result.kind === "act" && result.outcome === "committed") replica.committed++
      if (result.kind === "sync") world.lastReports.set(replica.index, result.report)
      yield* checkWatermark(world, replica)
      return
    }
    const crash = Option.getOrUndefined(Cause.dieOption(exit.cause))
    if (crash instanceof SimulatedCrash) return yield* crashRestart(world, replica, crash.point)
    const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
    if (kind === "sync" && (Predicate.isTagged(failure, "TransportError") || Predicate.isTagged(failure, "BehindHead"))) {
      world.counts.failedSyncs++
    } else if (kind === "sync" && failure instanceof SyncProtocol.UploadRejected) {
      world.counts.failedSyncs++
      world.rejected.push(`replica ${replica.index}: ${failure.message}`)
    } else {
      world.problems.push(
        `replica ${replica.index}: ${kind === "act" ? "an action" : "a sync"} failed unexpectedly: ${Cause.pretty(exit.cause)}`
      )
    }
    yield* checkWatermark(world, replica)
  })

const crashRestart = (world: World, replica: Replica, point: CrashPoint) =>
  Effect.gen(function*() {
    world.crashes[point]++
    yield* stop(replica)
    yield* start(world, replica)
    yield* checkWatermark(world, replica)
  })

/** A fetch watermark never goes back (R-SYNC-7): checked after every operation and restart. */
const checkWatermark = (world: World, replica: Replica) =>
  Effect.gen(function*() {
    const seq = yield* Effect.provide(Sql.watermark, replica.db)
    if (seq < replica.watermark) {
      world.counts.watermarkRegressions++
      world.problems.push(`replica ${replica.index}: watermark went back from ${replica.watermark} to ${seq}`)
    }
    replica.watermark = Math.max(replica.watermark, seq)
  })

const isExecutionError = (error: unknown): boolean =>
  error instanceof ActionExecutor.InvalidActionArgs ||
  error instanceof ActionExecutor.NondeterministicAction ||
  Predicate.isTagged(error, "SqlError")
