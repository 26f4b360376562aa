/**
 * Actions: named, deterministic business-logic functions, the only way an app writes to its
 * tracked tables. An action is defined once (a versioned tag, an args Schema, an Effect) and
 * executed by tag and args, locally now and again on every replica that replays it.
 *
 * Determinism contract (R-ACT-3): inside `run`, read time from Effect's `Clock` (it returns the
 * timestamp captured when the action was first executed), randomness from Effect's `Random`
 * (seeded by the action id), and new row ids from `ActionIds`. Read and write the database
 * freely through `SqlClient`; do not read anything else that can change (network, globals,
 * `Date.now()`, `Math.random()`): pass such values in as arguments.
 *
 * @example
 * ```ts
 * const createNote = Action.make({
 *   tag: "note.create.v1",
 *   args: Schema.Struct({ title: Schema.String }),
 *   run: ({ title }) =>
 *     Effect.gen(function*() {
 *       const sql = yield* SqlClient.SqlClient
 *       const id = (yield* ActionIds.ActionIds).id("note")
 *       const now = yield* Clock.currentTimeMillis
 *       yield* sql`INSERT INTO notes ${sql.insert({ id, title, created_at: new Date(now) })}`
 *       return id
 *     })
 * })
 * ```
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type { ActionIds } from "./ActionIds.js"

/** What an action's Effect may use besides its own requirements. */
export type Provided = SqlClient.SqlClient | ActionIds

/**
 * Whose result stands when a replica that sees less than an action's author replays it
 * (private data, R-SYNC-3 with R-SRV-3):
 *
 * - `"replica"` (the default): every replica's replay stands for the rows it sees, and a
 *   replica whose replay differs from the server corrects it. Right for actions whose effect on
 *   a row depends only on rows everyone who sees it can see (most actions: create, rename,
 *   toggle, move, increment, a rule over one shared list).
 * - `"author"`: when the server filters by audience, other users' replicas replay the action
 *   and then set the rows its author wrote to the server's image of them at that point of the
 *   log (the author's result); only the author's own devices recompute (and correct) them.
 *   Without filtering every replica sees what the author saw, and its replay stands. For
 *   actions that write shared rows from rows only some users see (a total over the author's
 *   private rows, say): replicas that see other rows would otherwise each compute, and
 *   correct, their own result.
 */
export type Authority = "replica" | "author"

/** A defined action. `Out` is what executing it returns; `E` its own typed failures. */
export interface Action<Tag extends string, A, I, Out, E, R> {
  readonly tag: Tag
  /** Decodes the recorded (JSON) args; they must encode to JSON. */
  readonly args: Schema.Schema<A, I, never>
  readonly run: (args: A) => Effect.Effect<Out, E, R | Provided>
  /** Whose result stands on other users' replicas when the server filters; see `Authority`. */
  readonly authority: Authority
}

/** Any action, for registries and generic code. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = Action<string, any, any, any, any, any>

/** The tags of an action union. */
export type TagOf<X extends Any> = X["tag"]

const TAG = /^[A-Za-z0-9_.:-]{1,200}$/

/**
 * Defines an action. The tag is a versioned name (`todo.create.v1`): once actions with a tag
 * have synced, its behaviour must not change; publish `v2` instead.
 */
export const make = <const Tag extends string, A, I, Out, E = never, R = never>(options: {
  readonly tag: Tag
  readonly args: Schema.Schema<A, I, never>
  readonly run: (args: A) => Effect.Effect<Out, E, R | Provided>
  /** `"replica"` by default; see `Authority`. */
  readonly authority?: Authority
}): Action<Tag, A, I, Out, E, R> => {
  if (!TAG.test(options.tag)) {
    throw new TypeError(
      `Invalid action tag ${JSON.stringify(options.tag)}: use 1-200 characters from A-Z a-z 0-9 _ . : -, e.g. "todo.create.v1"`
    )
  }
  const authority = options.authority ?? "replica"
  if (authority !== "replica" && authority !== "author") {
    throw new TypeError(`Invalid authority ${JSON.stringify(authority)} for action ${options.tag}: use "replica" or "author"`)
  }
  return { tag: options.tag, args: options.args, run: options.run, authority }
}
