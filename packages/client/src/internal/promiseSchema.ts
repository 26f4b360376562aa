/**
 * Any Standard Schema (zod, valibot, ArkType, Effect Schema through `Schema.standardSchemaV1`)
 * as the Effect Schema a core action's args need.
 *
 * @internal
 */
import type { StandardSchemaV1 } from "@standard-schema/spec"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/** Whether `value` is a Standard Schema (has a version-1 `~standard` property). */
export const isStandardSchema = (value: unknown): value is StandardSchemaV1 =>
  (Predicate.isObject(value) || Predicate.isFunction(value)) &&
  Predicate.hasProperty(value, "~standard") && Predicate.isObject(value["~standard"]) &&
  Predicate.hasProperty(value["~standard"], "version") && value["~standard"].version === 1

/**
 * The Effect Schema of a Standard Schema: decoding validates (synchronously or not, as the
 * library does), and its issues, with their paths, become the `ParseError`'s message. A
 * Standard Schema cannot encode: encoding accepts an output that is also a valid input, as it
 * is (true of every schema without transformations), and otherwise fails saying to run the
 * action with its input, which is what the facade and `executeTag` pass.
 */
export const fromStandard = <I, A>(standard: StandardSchemaV1<I, A>): Schema.Schema<A, I, never> => {
  const validate = (value: unknown, ast: Schema.Schema.Any["ast"], encoding: boolean) => {
    const outcome = (result: StandardSchemaV1.Result<A>): Effect.Effect<A, ParseResult.ParseIssue> =>
      result.issues === undefined
        ? Effect.succeed(encoding ? value as A : result.value)
        : Effect.fail(new ParseResult.Type(ast, value, describe(standard, result.issues, encoding)))
    const result = standard["~standard"].validate(value)
    return result instanceof Promise ? Effect.flatMap(Effect.promise(() => result), outcome) : outcome(result)
  }
  const transformed = Schema.transformOrFail(Schema.Unknown, Schema.Unknown, {
    strict: true,
    decode: (input, _options, ast) => validate(input, ast, false),
    encode: (output, _options, ast) => validate(output, ast, true)
  })
  return Schema.make<A, I, never>(transformed.ast)
}

const describe = (
  standard: StandardSchemaV1,
  issues: ReadonlyArray<StandardSchemaV1.Issue>,
  encoding: boolean
): string => {
  const lines = issues.map((issue) => {
    const path = (issue.path ?? []).map((segment) =>
      String(Predicate.isObject(segment) && Predicate.hasProperty(segment, "key") ? segment.key : segment)
    )
    return path.length === 0 ? issue.message : `${path.join(".")}: ${issue.message}`
  })
  const text = lines.join("; ")
  return encoding
    ? `these args are not a valid input of the action's ${standard["~standard"].vendor} schema (${text}); ` +
      `a Standard Schema cannot encode its output, so run the action with its input ` +
      `(reprise.run, Client.runTag, ActionExecutor.executeTag)`
    : text
}
