import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
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
const provided = (
  sql: SqlClient.SqlClient,
  tag: string,
  ids: ActionIds.ActionIdsShape
): Context.Context<Action.Provided> =>
  Context.make(ActionIds.ActionIds, ids).pipe(
    Context.add(SqlClient.SqlClient, sql),
    Context.add(RunningAction, { tag, actionId: ids.actionId })
  )

/** A unique violation's detail and table, from the driver's error (`pg` and PGlite both carry them). */
const uniqueViolation = (error: unknown): { readonly detail: string; readonly table: string | null } | undefined => {
  if (!(error instanceof SqlError)) return undefined
  const cause = error.cause
  if (!Predicate.hasProperty(cause, "code") || cause.code !== "23505") return undefined
  const detail = Predicate.hasProperty(cause, "detail") && typeof cause.detail === "string" ? cause.detail : ""
  const table = Predicate.hasProperty(cause, "table") && typeof cause.table === "string" ? cause.table : null
  return { detail: `${detail} ${error.message}`, table }
}

/**
 * Runs an action's Effect with its deterministic inputs: the frozen clock, `Random` seeded by
 * the action id, and the `ActionIds` service for the action id (R-ACT-3).
 *
 * A unique violation on an id `ActionIds` derived in this run means the action gave two rows
 * the same key: it fails with `DuplicateActionId`, naming the key (R-ACT-3). Any other unique
 * violation (the app's own constraints, an id from elsewhere) stays the `SqlError` it is.
 *
 * @internal
 */
export const runDeterministic = <Out, E, R>(
  sql: SqlClient.SqlClient,
  action: Action.Action<string, unknown, unknown, Out, E, R>,
  args: unknown,
  actionId: string,
  timestampMs: number
): Effect.Effect<Out, E | ActionIds.DuplicateActionId, Exclude<R, Action.Provided>> =>
  Effect.suspend(() => {
    const tracked = ActionIds.makeTracked(actionId)
    return Effect.flatMap(Effect.clock, (underlying) =>
      action.run(args).pipe(
        Effect.provide(provided(sql, action.tag, tracked.ids)),
        Effect.withClock(frozenClock(timestampMs, underlying)),
        Effect.withRandom(Random.make(actionId)),
        Effect.catchIf(
          (error): error is E => uniqueViolation(error) !== undefined,
          (error): Effect.Effect<never, E | ActionIds.DuplicateActionId> => {
            const violation = uniqueViolation(error)!
            const found = tracked.keyIn(violation.detail)
            return found === undefined
              ? Effect.fail(error)
              : Effect.fail(
                new ActionIds.DuplicateActionId({ tag: action.tag, key: found[0], id: found[1], table: violation.table })
              )
          }
        )
      ))
  })
