/**
 * The reconnection backoff: jittered, exponential, capped (R-CLI-4).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Backoff from "../src/internal/transport/backoff.js"

describe("backoff", () => {
  /** Verifies: R-CLI-4 (waits grow exponentially, never exceed the cap, and are jittered) */
  it.effect("waits between half and all of min(max, initial × factor^n)", () =>
    Effect.gen(function*() {
      const backoff = Backoff.resolve({ initial: "100 millis", max: "5 seconds", factor: 2 })
      const seen = new Set<number>()
      for (let attempt = 0; attempt < 20; attempt++) {
        const ceiling = Math.min(5000, 100 * 2 ** attempt)
        assert.strictEqual(Backoff.ceilingMs(backoff, attempt), ceiling)
        for (let sample = 0; sample < 20; sample++) {
          const ms = Duration.toMillis(yield* Backoff.delay(backoff, attempt))
          assert.isAtLeast(ms, Math.floor(ceiling / 2))
          assert.isAtMost(ms, ceiling)
          seen.add(ms)
        }
      }
      // Jittered: the same attempt does not always wait the same time.
      assert.isAbove(seen.size, 100)
    }).pipe(Effect.withRandom(Random.make(20261203))))

  /** Verifies: R-CLI-4 (a backoff that cannot work is refused, naming the values) */
  it("refuses settings that cannot work", () => {
    assert.throws(() => Backoff.resolve({ initial: "0 millis" }), /initial/)
    assert.throws(() => Backoff.resolve({ initial: "2 seconds", max: "1 second" }), /max/)
    assert.throws(() => Backoff.resolve({ factor: 0.5 }), /factor/)
  })
})
