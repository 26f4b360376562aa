import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Action from "../Action.js"
import * as ActionIds from "../ActionIds.js"

/**
 * A `Clock` frozen at the action's captured timestamp: `currentTimeMillis` is the same on
 * every run and every replica. Sleeping still waits in real time.
 */
const frozenClock = (timestampMs: number, underlying: Clock.Clock): Clock.Clock => {
  const nanos = BigInt(timestampMs) * 1_000_000n
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => timestampMs,
    currentTimeMillis: Effect.succeed(timestampMs),
    unsafeCurrentTimeNanos: () => nanos,
    currentTimeNanos: Effect.succeed(nanos),
    sleep: (duration) => underlying.sleep(duration)
  }
}

/**
 * Runs an action's Effect with its deterministic inputs: the frozen clock, `Random` seeded by
 * the action id, and the `ActionIds` service for the action id (R-ACT-3).
 *
 * @internal
 */
export const runDeterministic = <Out, E, R>(
  sql: SqlClient.SqlClient,
  action: Action.Action<string, unknown, unknown, Out, E, R>,
  args: unknown,
  actionId: string,
  timestampMs: number
): Effect.Effect<Out, E, Exclude<R, Action.Provided>> =>
  Effect.flatMap(Effect.clock, (underlying) =>
    action.run(args).pipe(
      Effect.provide(Context.make(ActionIds.ActionIds, ActionIds.make(actionId)).pipe(Context.add(SqlClient.SqlClient, sql))),
      Effect.withClock(frozenClock(timestampMs, underlying)),
      Effect.withRandom(Random.make(actionId))
    ))
