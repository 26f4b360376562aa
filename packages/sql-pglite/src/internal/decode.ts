import type { messages } from "@electric-sql/pglite"

/** The result parser for a type OID, if any. @internal */
export type ParserLookup = (oid: number) => ((value: string, typeId: number) => unknown) | undefined

/**
 * What one exchange with PGlite returned, read from its backend messages.
 *
 * @internal
 */
export interface Decoded {
  /** The rows of each completed statement, as objects or as value arrays. */
  readonly sets: Array<Array<unknown>>
  /** The first database error; Postgres skipped the rest up to SYNC. */
  readonly error: messages.DatabaseError | undefined
  /** The transaction status of the closing ReadyForQuery: `I` idle, `T` in a block, `E` failed. */
  readonly status: string
  /** From a statement DESCRIBE: the parameter types and the result columns (none: no rows). */
  readonly paramTypes: ReadonlyArray<number>
  readonly fields: ReadonlyArray<messages.Field> | undefined
  /** A command ran that may change what a prepared statement means (DDL, SET, DISCARD, ...). */
  readonly schemaChanged: boolean
  /** A ROLLBACK (or ROLLBACK TO SAVEPOINT) completed, or a COMMIT that rolled back. */
  readonly rolledBack: boolean
  /** Per completed statement, its result columns and command tag (collected when asked). */
  readonly described: Array<DescribedSet> | undefined
  /** At each ReadyForQuery (one per simple query, one per SYNC), how many statements had completed. */
  readonly ready: ReadonlyArray<number>
  /** When the first error came: how many ReadyForQuery and completed statements preceded it. */
  readonly errorAfter: { readonly ready: number; readonly sets: number }
}

/** A completed statement's result columns and command tag, for PGlite-shaped raw results. @internal */
export interface DescribedSet {
  readonly fields: ReadonlyArray<messages.Field>
  readonly command: string
}

/**
 * Reads PGlite's backend messages into rows, parsing each value by its column's type OID the
 * way PGlite's `parseResults` does, without its per-row intermediate arrays. `preset` gives the
 * result columns of a prepared statement, whose executions send no RowDescription.
 *
 * @internal
 */
export const decode = (
  received: ReadonlyArray<messages.BackendMessage>,
  parserFor: ParserLookup,
  preset?: { readonly fields: ReadonlyArray<messages.Field> | undefined; readonly arrays: boolean },
  describe = false
): Decoded => {
  const described: Array<DescribedSet> | undefined = describe ? [] : undefined
  const sets: Array<Array<unknown>> = []
  const arrays = preset?.arrays ?? false
  let fields = preset?.fields
  let columns: Columns | undefined
  let rows: Array<unknown> = []
  let error: messages.DatabaseError | undefined
  let status = "I"
  let paramTypes: ReadonlyArray<number> = NO_TYPES
  let schemaChanged = false
  let rolledBack = false
  const ready: Array<number> = []
  let errorAfter = NO_ERROR
  // By message name, as PGlite's `parseResults` does: `instanceof` would fail for messages
  // built by another copy of PGlite's protocol module.
  for (const message of received) {
    switch (message.name) {
      case "dataRow": {
        const raw = (message as messages.DataRowMessage).fields
        columns ??= columnsOf(fields ?? NO_FIELDS, parserFor)
        rows.push(arrays ? arrayRow(raw, columns) : objectRow(raw, columns))
        break
      }
      case "commandComplete": {
        sets.push(rows)
        rows = []
        const text = (message as messages.CommandCompleteMessage).text
        const space = text.indexOf(" ")
        const command = space === -1 ? text : text.slice(0, space)
        described?.push({ fields: fields ?? NO_FIELDS, command: text })
        if (!KEEPS_PLANS.has(command)) schemaChanged = true
        if (command === "ROLLBACK") rolledBack = true
        // The next statement's rows are described by its own RowDescription (simple queries)
        // or, for an execution of a prepared statement (which sends none), by the preset: a
        // simple query that went ahead of it in the exchange must not lend it its columns.
        if (fields !== preset?.fields) {
          fields = preset?.fields
          columns = undefined
        }
        break
      }
      case "rowDescription":
        fields = (message as messages.RowDescriptionMessage).fields
        columns = undefined
        break
      case "readyForQuery":
        status = (message as messages.ReadyForQueryMessage).status
        ready.push(sets.length)
        break
      case "parameterDescription":
        paramTypes = (message as messages.ParameterDescriptionMessage).dataTypeIDs
        break
      case "error":
        if (error === undefined) {
          error = message as messages.DatabaseError
          errorAfter = { ready: ready.length, sets: sets.length }
        }
        break
    }
  }
  return { sets, error, status, paramTypes, fields, schemaChanged, rolledBack, described, ready, errorAfter }
}

/** Command tags after which prepared statements keep their meaning. */
const KEEPS_PLANS = new Set([
  "SELECT",
  "INSERT",
  "UPDATE",
  "DELETE",
  "MERGE",
  "COPY",
  "FETCH",
  "MOVE",
  "VALUES",
  "BEGIN",
  "START",
  "COMMIT",
  "END",
  "ROLLBACK",
  "SAVEPOINT",
  "RELEASE",
  "SHOW",
  "LISTEN",
  "UNLISTEN",
  "NOTIFY",
  "LOCK",
  "TRUNCATE",
  "ANALYZE",
  "VACUUM",
  "EXPLAIN",
  "DECLARE",
  "CLOSE",
  "CHECKPOINT"
])

const NO_TYPES: ReadonlyArray<number> = []
const NO_FIELDS: ReadonlyArray<messages.Field> = []

interface Columns {
  readonly names: ReadonlyArray<string>
  readonly oids: ReadonlyArray<number>
  readonly parsers: ReadonlyArray<((value: string, typeId: number) => unknown) | undefined>
  /** A column is named `__proto__`, which plain assignment would not create. */
  readonly protoName: boolean
}

const columnsOf = (fields: ReadonlyArray<messages.Field>, parserFor: ParserLookup): Columns => ({
  names: fields.map((field) => field.name),
  oids: fields.map((field) => field.dataTypeID),
  parsers: fields.map((field) => parserFor(field.dataTypeID)),
  protoName: fields.some((field) => field.name === "__proto__")
})

const valueOf = (raw: string | null, columns: Columns, i: number): unknown => {
  if (raw === null) return null
  const parser = columns.parsers[i]
  return parser === undefined ? raw : parser(raw, columns.oids[i]!)
}

const arrayRow = (raw: ReadonlyArray<string | null>, columns: Columns): Array<unknown> => {
  const row = new Array<unknown>(raw.length)
  for (let i = 0; i < raw.length; i++) row[i] = valueOf(raw[i] ?? null, columns, i)
  return row
}

const objectRow = (raw: ReadonlyArray<string | null>, columns: Columns): Record<string, unknown> => {
  const row: Record<string, unknown> = {}
  const { names } = columns
  if (columns.protoName) {
    for (let i = 0; i < raw.length; i++) {
      Object.defineProperty(row, names[i]!, {
        value: valueOf(raw[i] ?? null, columns, i),
        enumerable: true,
        writable: true,
        configurable: true
      })
    }
  } else {
    for (let i = 0; i < raw.length; i++) row[names[i]!] = valueOf(raw[i] ?? null, columns, i)
  }
  return row
}

const NO_ERROR = { ready: -1, sets: -1 }
