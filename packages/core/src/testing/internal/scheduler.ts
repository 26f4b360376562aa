/**
 * The scheduler: one fiber stepping the whole system one event at a time, each drawn from the
 * schedule's generator by weight (run an action, start a sync, deliver a message, let time
 * pass, time a request out, partition or heal, crash, skew a clock, restart the server), until
 * the schedule's actions are spent; then it heals every fault and pumps the system to
 * quiescence, round after round of syncs, within bounds (a livelock is a failure).
 *
 * The order of the generator's draws is part of a seed's meaning: changing it changes what
 * every committed seed and regression case simulates.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as SimRandom from "../SimRandom.js"
import { BusyNotWaiting, DrainLivelock } from "./errors.js"
import * as Network from "./network.js"
import * as Replicas from "./replica.js"
import type { World } from "./world.js"

/** Steps the system until every replica spent its actions (or `maxSteps` ran out). @internal */
export const runChaos = (world: World, maxSteps: number) =>
  Effect.gen(function*() {
    const replicas = world.replicas
    const budgetLeft = () => replicas.some((r) => r.budget > 0)
    while (budgetLeft() && world.counts.steps < maxSteps) {
      world.counts.steps++
      yield* pick(world.rng, events(world)).run
    }
    if (budgetLeft()) world.problems.push(`the schedule did not spend its actions within ${maxSteps} steps`)
  })

/**
 * Heals every partition, drives everything in flight to completion, then syncs every replica
 * round after round until a whole round moves nothing (or `maxRounds` ran out: a livelock).
 * @internal
 */
export const healAndQuiesce = (world: World, maxSteps: number, maxRounds: number) =>
  Effect.gen(function*() {
    const replicas = world.replicas
    for (const replica of replicas) replica.partitioned = false
    const drain = drainAll(world, maxSteps)
    yield* drain
    let quiescent = false
    for (let round = 0; round < maxRounds && !quiescent; round++) {
      let work = false
      for (const replica of replicas) {
        world.lastReports.delete(replica.index)
        yield* Replicas.sync(world, replica, undefined)
        yield* drain
        const report = world.lastReports.get(replica.index)
        world.config.trace?.(
          `round ${round} replica ${replica.index} (${replica.userId}): ${report === undefined ? "no report" : JSON.stringify(report)}`
        )
        if (report === undefined) work = true
        else if (report.fetched + report.uploaded + report.corrections + report.adopted > 0) work = true
      }
      quiescent = !work
    }
    if (!quiescent) world.problems.push(`no quiescence within ${maxRounds} sync rounds after healing (livelock)`)
  })

/** An event the scheduler may pick, with its weight. */
interface Event {
  readonly weight: number
  readonly run: Effect.Effect<void, unknown>
}

/** The events possible in the world's current state (drawing the crash choices as it goes). */
const events = (world: World): Array<Event> => {
  const { faults, replicas, rng } = world
  const list: Array<Event> = []
  for (const replica of replicas) {
    const idle = replica.busy === undefined
    if (idle && replica.budget > 0) {
      list.push({ weight: 3, run: Replicas.act(world, replica, faults.crash && rng.chance(0.03)) })
    }
    if (idle) {
      const crashAt = faults.crash && rng.chance(0.08) ? rng.between(1, 4) : undefined
      list.push({ weight: 1.5, run: Replicas.sync(world, replica, crashAt) })
    }
    const waiting = replica.busy?.waiting
    if (waiting?.kind === "timer" && waiting.at <= world.now) list.push({ weight: 2, run: Replicas.wake(world, replica, waiting) })
    if (waiting?.kind === "request" && waiting.sentAt + Network.REQUEST_TIMEOUT_MS <= world.now) {
      list.push({ weight: 1, run: Effect.zipRight(Network.timeout(world, replica, waiting), Replicas.settle(world, replica)) })
    }
    if (faults.partition) {
      list.push(replica.partitioned
        ? { weight: 0.5, run: Effect.sync(() => { replica.partitioned = false }) }
        : { weight: 0.05, run: Effect.sync(() => { replica.partitioned = true; world.counts.partitions++ }) })
    }
    if (faults.crash) list.push({ weight: 0.04, run: Replicas.crashNow(world, replica) })
    if (faults.maxSkewMs > 0) {
      list.push({
        weight: 0.04,
        run: Effect.sync(() => {
          replica.skewMs = rng.between(-faults.maxSkewMs, faults.maxSkewMs)
          world.counts.skews++
        })
      })
    }
  }
  if (world.network.length > 0) {
    list.push({ weight: 4 + world.network.length, run: Effect.suspend(() => deliverAt(world, rng.int(world.network.length), true)) })
  }
  list.push({ weight: 1, run: Effect.sync(() => { world.now += rng.between(1, 3_000) }) })
  if (faults.serverRestart) {
    list.push({
      weight: 0.03,
      run: Effect.gen(function*() {
        world.counts.serverRestarts++
        world.server.current = yield* Effect.provide(world.config.server.make, world.server.db)
      })
    })
  }
  return list
}

/** One event, by weight. */
const pick = (rng: SimRandom.SimRandom, list: ReadonlyArray<Event>): Event => {
  const total = list.reduce((sum, e) => sum + e.weight, 0)
  let x = rng.next() * total
  for (const event of list) {
    x -= event.weight
    if (x < 0) return event
  }
  // Only float rounding gets here; the list is never empty (time can always pass).
  return list[list.length - 1] ?? { weight: 0, run: Effect.void }
}

/** Delivers a message and runs on the replica it answered, if any. */
const deliverAt = (world: World, index: number, withFaults: boolean) =>
  Effect.flatMap(
    Network.deliver(world, index, withFaults),
    (resumed) => resumed === undefined ? Effect.void : Replicas.settle(world, resumed)
  )

/** Drives everything in flight to completion: messages in order, no faults, timers and timeouts as they come. */
const drainAll = (world: World, maxSteps: number) =>
  Effect.gen(function*() {
    for (;;) {
      if (++world.counts.steps > maxSteps * 2) return yield* new DrainLivelock({ steps: world.counts.steps })
      if (world.network.length > 0) {
        yield* deliverAt(world, 0, false)
        continue
      }
      const busy = world.replicas.find((r) => r.busy !== undefined)
      if (busy === undefined) return
      const waiting = busy.busy?.waiting
      if (waiting === undefined) return yield* new BusyNotWaiting({ replica: busy.index })
      if (waiting.kind === "timer") yield* Replicas.wake(world, busy, waiting)
      else yield* Effect.zipRight(Network.timeout(world, busy, waiting), Replicas.settle(world, busy))
    }
  })
