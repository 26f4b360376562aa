import type * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Action, ActionExecutor, ActionRegistry, Patch } from "../../src/index.js"

let counter = 0
/** A table/schema name unique within the test run. */
export const uniqueName = (base: string) => `${base}_${process.pid}_${++counter}`

/** The typed failure of an exit (fails the test on success or on a defect). */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/**
 * Runs `effect` as the body of a real action (through the executor), and returns the patches
 * the triggers captured for it.
 */
export const asAction = <A, E>(sql: SqlClient.SqlClient, effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const step = Action.make({ tag: "test.step.v1", args: Schema.Struct({}), run: () => effect })
    const executor = yield* ActionExecutor.make().pipe(
      Effect.provideService(ActionRegistry.ActionRegistry, ActionRegistry.make([step]))
    )
    yield* executor.execute(step, {})
    const [last] = yield* sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records ORDER BY hlc DESC LIMIT 1`
    return yield* Patch.forActions([last!.id])
  })
