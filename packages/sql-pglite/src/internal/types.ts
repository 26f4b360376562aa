import type { ParserOptions } from "@electric-sql/pglite"
import { types } from "@electric-sql/pglite"

const INT8 = 20
const INT8_ARRAY = 1016
const DATE = 1082
const DATE_ARRAY = 1182

const parseLocalDate = (value: string): Date | string => {
  const match = /^(\d{4,})-(\d{2})-(\d{2})$/.exec(value)
  if (match === null) return value === "infinity" || value === "-infinity" ? value : new Date(value)
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]))
  // Years 0-99 are shifted to 1900-1999 by the Date constructor.
  date.setFullYear(Number(match[1]))
  return date
}

const keep = (value: string) => value

/**
 * Result parsers that make PGlite return the same JavaScript values as `pg` (node-postgres)
 * with its defaults, so a query reads identically on the client and on the server:
 * `int8` stays a string (no silent precision loss) and `date` becomes local midnight, in
 * arrays too.
 *
 * @internal
 */
export const pgCompatibleParsers: ParserOptions = {
  [INT8]: keep,
  [INT8_ARRAY]: (value: string) => types.arrayParser(value, keep, INT8_ARRAY),
  [DATE]: parseLocalDate,
  [DATE_ARRAY]: (value: string) => types.arrayParser(value, parseLocalDate, DATE_ARRAY)
}
