/**
 * The promise facade's errors: `RepriseError`, the one `Error` subclass a facade user catches
 * (with the typed `tag` of what went wrong and the original error as its `cause`), and the typed
 * failures of promise actions as Effect code sees them.
 *
 * @internal
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * A promise action's own code threw or rejected (a thrown `Error`, a failed check): the action
 * was rolled back, record and writes alike. `cause` is what it threw.
 */
export class ActionFailed extends Schema.TaggedError<ActionFailed>()("ActionFailed", {
  /** The action's tag. */
  tag: Schema.String,
  /** What was thrown, as text. */
  detail: Schema.String,
  /** What was thrown. */
  cause: Schema.Defect
}) {
  override get message() {
    return `Action ${JSON.stringify(this.tag)} failed: ${this.detail}`
  }
}

/**
 * A promise action returned while statements it started through `tx` had not finished (it did
 * not `await` them): what they wrote would not be the action's, so nothing was kept.
 */
export class UnawaitedStatement extends Schema.TaggedError<UnawaitedStatement>()("UnawaitedStatement", {
  /** The action's tag. */
  tag: Schema.String,
  /** How many statements were still running. */
  count: Schema.Number,
  /** The SQL of the first of them. */
  sql: Schema.String
}) {
  override get message() {
    return `Action ${JSON.stringify(this.tag)} returned before ${this.count} of its statements finished ` +
      `(the first: ${JSON.stringify(this.sql.slice(0, 200))}): await every tx.query(...) call ` +
      `(or Promise.all them) before the action returns. Nothing was written.`
  }
}

/** The tags a `RepriseError` can carry: the `_tag` of the typed error it stands for. */
export type RepriseErrorTag =
  | "ActionFailed"
  | "UnawaitedStatement"
  | "TransactionClosed"
  | "InvalidActionArgs"
  | "NondeterministicAction"
  | "NestedAction"
  | "DuplicateActionId"
  | "UnknownActionTag"
  | "SqlError"
  | "Closed"
  | (string & {})

/**
 * The one error class the promise facade rejects with: an `Error` whose `tag` names the typed
 * error it stands for (`"InvalidActionArgs"`, `"SqlError"`, `"SyncError"`, ...) and whose
 * `cause` is that error (an Effect `TaggedError` with all its fields), so apps can branch on
 * `error.tag` without importing Effect.
 *
 * @example
 * ```ts
 * try {
 *   await reprise.actions.createTodo({ title: "" })
 * } catch (error) {
 *   if (error instanceof RepriseError && error.tag === "InvalidActionArgs") showHint(error.message)
 * }
 * ```
 */
export class RepriseError extends Error {
  /** The typed error's `_tag`. */
  readonly tag: RepriseErrorTag
  /** The same as `tag`, so code that matches Effect errors on `_tag` works on these too. */
  readonly _tag: RepriseErrorTag

  constructor(options: { readonly tag: RepriseErrorTag; readonly message: string; readonly cause?: unknown }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = "RepriseError"
    this.tag = options.tag
    this._tag = options.tag
  }

  /**
   * Wraps whatever an Effect failed with (a tagged error, a defect, a thrown value) as a
   * `RepriseError`, keeping it as the cause; a `RepriseError` is returned as it is.
   */
  static from(error: unknown): RepriseError {
    if (error instanceof RepriseError) return error
    if (Predicate.hasProperty(error, "_tag") && typeof error._tag === "string") {
      return new RepriseError({ tag: error._tag, message: messageOf(error), cause: error })
    }
    return new RepriseError({ tag: "Defect", message: `Unexpected error: ${messageOf(error)}`, cause: error })
  }
}

/** Whether `error` is a `RepriseError`, with `tag` when given. */
export const isRepriseError = (error: unknown, tag?: RepriseErrorTag): error is RepriseError =>
  error instanceof RepriseError && (tag === undefined || error.tag === tag)

/** The message of anything thrown. */
export const messageOf = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string") return error.message
  try {
    return typeof error === "string" ? error : JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}
