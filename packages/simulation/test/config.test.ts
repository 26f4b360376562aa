/**
 * A configuration that cannot run is refused with every issue named, before any database is
 * built.
 */
import { assert, it } from "@effect/vitest"
import { Simulation } from "@reprise/core/testing"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { App, config } from "../src/index.js"

it.effect("refuses an unusable configuration with a typed error naming each issue", () =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Simulation.make(config(PgliteClient.layer({}), {
      users: [],
      actions: [...App.actions, App.increment],
      maxActionsPerReplica: -1,
      faults: { drop: 1.5 }
    }))))
    assert.isTrue(Exit.isFailure(exit))
    const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
    assert.instanceOf(failure, Simulation.InvalidSimulationConfig)
    const message = failure?.message ?? ""
    for (const part of ["`users`", "repeats tags: counter.increment.v1", "`maxActionsPerReplica`", "`faults.drop`"]) {
      assert.include(message, part)
    }
  }))

it.effect("refuses audiences that leave a user out", () =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Simulation.make(config(PgliteClient.layer({}), {
      users: ["alice", "dave"],
      audiences: { alice: ["team"] }
    }))))
    const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
    assert.instanceOf(failure, Simulation.InvalidSimulationConfig)
    assert.include(failure?.message ?? "", "`audiences` has no entry for \"dave\"")
  }))
