/**
 * Actions for apps that do not use Effect: an async function over a transaction handle, with
 * args checked by any Standard Schema (zod, valibot, ArkType, Effect Schema). `defineAction`
 * returns a core `Action`, so promise and Effect actions share one registry, one executor, one
 * record format and one replay (R-ACT-1).
 *
 * The rules for the function (R-ACT-3), which replay depends on:
 * - Touch the database only through `tx.query`, and `await` every call before returning (an
 *   action that returns with a statement still running fails with `UnawaitedStatement`; a
 *   statement called after it returned is refused with `TransactionClosed`, never run).
 * - Read the time from `ctx.now()`, randomness from `ctx.random()` and new row ids from
 *   `ctx.id(key)`, never `Date.now()`, `new Date()`, `Math.random()` or `crypto.randomUUID()`.
 * - No other I/O (fetch, storage, timers): pass outside values in as args.
 * - A failed statement aborts the transaction: catching its error does not save the action,
 *   which fails with it. Check first (`SELECT`), or use `ON CONFLICT`.
 * - Throwing fails the action (`ActionFailed`, with what was thrown as its cause) and rolls
 *   back everything it wrote.
 *
 * @example
 * ```ts
 * import { PromiseAction } from "@reprise/client"
 * import { z } from "zod"
 *
 * export const createTodo = PromiseAction.defineAction({
 *   tag: "todo.create.v1",
 *   args: z.object({ title: z.string().min(1), list: z.string() }),
 *   run: async (tx, { title, list }, ctx) => {
 *     const id = ctx.id("todo")
 *     await tx.query(
 *       "INSERT INTO todos (id, title, done, created_at, audience_key) VALUES ($1, $2, false, $3, $4)",
 *       [id, title, new Date(ctx.now()).toISOString(), list]
 *     )
 *     return id
 *   }
 * })
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Action, ActionIds } from "@reprise/core"
import type { StandardSchemaV1 } from "@standard-schema/spec"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ActionFailed, messageOf, RepriseError, UnawaitedStatement } from "./internal/promiseErrors.js"
import { fromStandard, isStandardSchema } from "./internal/promiseSchema.js"
import * as Tx from "./internal/promiseTransaction.js"

export type { ActionContext, Transaction } from "./internal/promiseTransaction.js"

/** The failures of a promise action's own run, besides the executor's (`ActionExecutor.ExecutionError`). */
export type PromiseActionError = ActionFailed | UnawaitedStatement | SqlError

/**
 * A promise action: a core `Action` whose args are `A` once decoded (what `run` gets) and `I`
 * as given (what the facade's action functions take, the schema's input).
 */
export type PromiseAction<Tag extends string, A, I, Out> = Action.Action<Tag, A, I, Out, PromiseActionError, never>

/** What a promise action's function is. */
export type Run<A, Out> = (tx: Tx.Transaction, args: A, ctx: Tx.ActionContext) => Promise<Out>

/** The options of `defineAction`. */
export interface Definition<Tag extends string, S, A, Out> {
  /** A versioned name (`todo.create.v1`); never change what a synced tag does, publish `v2`. */
  readonly tag: Tag
  /** The args' schema: any Standard Schema, or an Effect Schema (with JSON-safe encoded form). */
  readonly args: S
  /** The action's code: an async function of the transaction, the decoded args and the context. */
  readonly run: Run<A, Out>
  /** `"replica"` by default; see core's `Action.Authority`. */
  readonly authority?: Action.Authority
}

/**
 * Defines a promise action. An Effect Schema (plain, or through `Schema.standardSchemaV1`) is
 * used as it is, encoding included; any other Standard Schema validates the args as given,
 * which are recorded as they were passed (its input form) and validated again on each replay.
 */
export function defineAction<const Tag extends string, A, I, Out>(
  definition: Definition<Tag, Schema.Schema<A, I, never>, A, Out>
): PromiseAction<Tag, A, I, Out>
export function defineAction<const Tag extends string, S extends StandardSchemaV1, Out>(
  definition: Definition<Tag, S, StandardSchemaV1.InferOutput<S>, Out>
): PromiseAction<Tag, StandardSchemaV1.InferOutput<S>, StandardSchemaV1.InferInput<S>, Out>
export function defineAction<const Tag extends string, A, I, Out>(
  definition: Definition<Tag, Schema.Schema<A, I, never> | StandardSchemaV1<I, A>, A, Out>
): PromiseAction<Tag, A, I, Out> {
  const args = definition.args
  const schema: Schema.Schema<A, I, never> = isEffectSchema(args)
    ? args
    : isStandardSchema(args)
    ? fromStandard(args)
    : invalidSchema(definition.tag)
  return Action.make<Tag, A, I, Out, PromiseActionError, never>({
    tag: definition.tag,
    args: schema,
    run: (decoded) => runPromise(definition.tag, definition.run, decoded),
    ...(definition.authority === undefined ? {} : { authority: definition.authority })
  })
}

/** Runs the action's function inside the action's Effect: its transaction, time, `Random` and ids. */
const runPromise = <A, Out>(
  tag: string,
  run: Run<A, Out>,
  args: A
): Effect.Effect<Out, PromiseActionError, Action.Provided> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ids = yield* ActionIds.ActionIds
    const now = yield* Clock.currentTimeMillis
    const random = yield* Effect.random
    const runtime = yield* Effect.runtime<never>()
    const opened = Tx.open(tag, sql, runtime)
    const ctx = Tx.context(ids, now, random)
    const outcome = yield* Effect.promise(() => settle(() => run(opened.tx, args, ctx)))
    const left = yield* Effect.promise(() => opened.close())
    if (outcome._tag === "Thrown") return yield* Effect.fail(thrown(tag, outcome.error))
    if (left.unfinished.length > 0) {
      return yield* new UnawaitedStatement({ tag, count: left.unfinished.length, sql: left.unfinished[0]! })
    }
    // The code caught a statement's error and went on: the transaction is aborted all the same.
    if (left.failure !== undefined) return yield* Effect.fail(left.failure)
    return outcome.value
  })

type Outcome<Out> = { readonly _tag: "Returned"; readonly value: Out } | { readonly _tag: "Thrown"; readonly error: unknown }

/** Calls the action's function, catching a synchronous throw as well as a rejection. */
const settle = async <Out>(call: () => Promise<Out>): Promise<Outcome<Out>> => {
  try {
    return { _tag: "Returned", value: await call() }
  } catch (error) {
    return { _tag: "Thrown", error }
  }
}

/**
 * What a throw becomes: a statement's `SqlError` stays itself (so a reused `ctx.id` key is
 * still told apart as `DuplicateActionId`), anything else is the action's `ActionFailed`.
 */
const thrown = (tag: string, error: unknown): PromiseActionError => {
  if (error instanceof RepriseError && error.tag === "SqlError" && isSqlError(error.cause)) return error.cause
  if (isSqlError(error)) return error
  return new ActionFailed({ tag, detail: messageOf(error), cause: error })
}

const isSqlError = (error: unknown): error is SqlError =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "SqlError"

// Both overloads give the schema's A and I, so an Effect Schema here is a Schema<A, I, never>.
const isEffectSchema = <A, I>(args: Schema.Schema<A, I, never> | StandardSchemaV1<I, A>): args is Schema.Schema<A, I, never> =>
  Schema.isSchema(args)

const invalidSchema = (tag: string): never => {
  throw new TypeError(
    `The args of action ${JSON.stringify(tag)} are neither an Effect Schema nor a Standard Schema: pass a zod, ` +
      `valibot or ArkType schema, or an Effect Schema`
  )
}
