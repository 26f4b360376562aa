/**
 * Jittered, capped exponential backoff between connection attempts (and the sync loop's
 * retries): attempt n waits a random time in [½, 1] × min(max, initial × factor^n), so clients
 * cut off together do not all come back at the same instant, and none waits longer than `max`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"

/** How long to wait between attempts. */
export interface BackoffOptions {
  /** The wait before the second attempt (before jitter); 250 ms by default. */
  readonly initial?: Duration.DurationInput
  /** The longest wait; 30 s by default. */
  readonly max?: Duration.DurationInput
  /** How much each wait grows; 2 by default. */
  readonly factor?: number
}

/** Resolved backoff settings, in milliseconds. @internal */
export interface Backoff {
  readonly initialMs: number
  readonly maxMs: number
  readonly factor: number
}

/** The settings with their defaults, checked (a bad value is a defect naming it). @internal */
export const resolve = (options: BackoffOptions = {}): Backoff => {
  const initialMs = Duration.toMillis(Duration.decode(options.initial ?? "250 millis"))
  const maxMs = Duration.toMillis(Duration.decode(options.max ?? "30 seconds"))
  const factor = options.factor ?? 2
  if (!(initialMs > 0) || !(maxMs >= initialMs) || !(factor >= 1)) {
    throw new RangeError(
      `backoff: need 0 < initial <= max and factor >= 1 (got initial ${initialMs} ms, max ${maxMs} ms, factor ${factor})`
    )
  }
  return { initialMs, maxMs, factor }
}

/** The cap of attempt `n` (0-based) before jitter. @internal */
export const ceilingMs = (backoff: Backoff, attempt: number): number =>
  Math.min(backoff.maxMs, backoff.initialMs * Math.pow(backoff.factor, Math.min(attempt, 64)))

/** A jittered wait for attempt `n`, from Effect's `Random` (so tests can seed it). @internal */
export const delay = (backoff: Backoff, attempt: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (r) => Duration.millis(Math.round(ceilingMs(backoff, attempt) * (0.5 + r / 2))))
