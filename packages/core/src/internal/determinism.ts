import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Action from "../Action.js"
import * as ActionIds from "../ActionIds.js"

/**
 * The `Clock` an action runs with. What the action reads through Effect's accessors
 * (`Clock.currentTimeMillis`, `Clock.currentTimeNanos`, and so `DateTime.now` and
 * `Effect.timed`) is frozen at the action's captured timestamp: the same on every run and every
 * replica. The raw `unsafe*` readings, which Effect's own machinery takes (span start and end
 * times, log dates, metric timers, cache expiry), stay on the real clock, so tracing shows when
 * and for how long an action actually ran, a replay included. Sleeping waits in real time.
 */
const frozenClock = (timestampMs: number, underlying: Clock.Clock): Clock.Clock => {
  const nanos = BigInt(timestampMs) * 1_000_000n
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    currentTimeMillis: Effect.succeed(timestampMs),
    currentTimeNanos: Effect.succeed(nanos),
    unsafeCurrentTimeMillis: () => underlying.unsafeCurrentTimeMillis(),
    unsafeCurrentTimeNanos: () => underlying.unsafeCurrentTimeNanos(),
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
