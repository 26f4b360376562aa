/**
 * Postgres array literals, for the statements Reprise runs with an array parameter: a
 * `text[]` literal's text, sent as one string parameter and cast in SQL (`$1::text[]`,
 * `$1::uuid[]`), behaves identically on `pg` and PGlite, whose array parameter serialization
 * differ. The one builder the client, the server and the simulation kit share.
 *
 * @example
 * ```ts
 * sql`SELECT * FROM reprise.action_records WHERE id = ANY (${SqlArray.text(ids)}::uuid[])`
 * ```
 */

/**
 * The array literal of `values`: each element double-quoted with `"` and `\` escaped, so any
 * text (commas, braces, quotes, spaces, `NULL`) reads back as itself.
 */
export const text = (values: ReadonlyArray<string>): string =>
  `{${values.map((value) => `"${value.replace(/[\\"]/g, "\\$&")}"`).join(",")}}`
