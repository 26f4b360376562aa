/**
 * A `Clock` whose time is the simulation's (plus a replica's skew) and whose sleeps wait for
 * the scheduler: `sleep` hands the wake-up time to the simulation, which resumes the sleeper
 * when it lets time reach it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** @internal */
export const makeVirtualClock = (
  nowMs: () => number,
  sleep: (millis: number) => Effect.Effect<void>
): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => nowMs(),
  currentTimeMillis: Effect.sync(nowMs),
  unsafeCurrentTimeNanos: () => BigInt(nowMs()) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(nowMs()) * 1_000_000n),
  sleep: (duration) => sleep(Duration.toMillis(duration))
})
