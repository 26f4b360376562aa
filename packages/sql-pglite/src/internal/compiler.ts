import * as Statement from "@effect/sql/Statement"

/** @internal */
export type PgliteJson = Statement.Custom<"PgliteJson", unknown>

/** @internal */
export const PgliteJson = Statement.custom<PgliteJson>("PgliteJson")

const escape = Statement.defaultEscape("\"")

/**
 * A Postgres-dialect compiler: `$n` placeholders, double-quoted identifiers, `VALUES ... AS`
 * record updates. JSON values are sent as their JSON text, which Postgres accepts for both
 * `json` and `jsonb` parameters.
 *
 * @internal
 */
export const makeCompiler = (
  transform?: (_: string) => string,
  transformJson = true
): Statement.Compiler => {
  const transformValue = transformJson && transform !== undefined
    ? Statement.defaultTransforms(transform).value
    : undefined
  return Statement.makeCompiler<PgliteJson>({
    dialect: "pg",
    placeholder: (index) => `$${index}`,
    onIdentifier: transform === undefined
      ? escape
      : (value, withoutTransform) => withoutTransform ? escape(value) : escape(transform(value)),
    onRecordUpdate: (placeholders, valueAlias, valueColumns, values, returning) => [
      `(values ${placeholders}) AS ${valueAlias}${valueColumns}${returning ? ` RETURNING ${returning[0]}` : ""}`,
      returning ? values.flat().concat(returning[1]) : values.flat()
    ],
    onCustom: (custom, placeholder, withoutTransform) => {
      const value = withoutTransform || transformValue === undefined ? custom.i0 : transformValue(custom.i0)
      return [placeholder(undefined), [JSON.stringify(value)]]
    }
  })
}
