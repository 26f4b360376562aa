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
 * The action whose code is running, provided to it by `runDeterministic`; the executor finds
 * it to refuse an execution nested inside an action.
 *
 * @internal
 */
export class RunningAction extends Context.Tag("@reprise/core/RunningAction")<
  RunningAction,
  { readonly tag: string; readonly actionId: string }
>() {}

/** What an action is given (`Action.Provided`), plus the marker of the running action. */
const provided = (sql: SqlClient.SqlClient, tag: string, actionId: string): Context.Context<Action.Provided> =>
  Context.make(ActionIds.ActionIds, ActionIds.make(actionId)).pipe(
    Context.add(SqlClient.SqlClient, sql),
    Context.add(RunningAction, { tag, actionId })
  )

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
      Effect.provide(provided(sql, action.tag, actionId)),
      Effect.withClock(frozenClock(timestampMs, underlying)),
      Effect.withRandom(Random.make(actionId))
    ))
