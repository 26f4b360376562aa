import * as Patch from "../Patch.js"

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

const changedColumns = (a: Patch.RowJson | null, b: Patch.RowJson | null): Array<string> => {
  if (a === b) return []
  const left = Patch.columns(a) ?? {}
  const right = Patch.columns(b) ?? {}
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])]
  const differing = keys.filter((key) => !sameJson(left[key], right[key]))
  // Texts differ but parsed values agree: the difference is in digits JavaScript rounds away.
  return (differing.length > 0 ? differing : keys).sort()
}

/**
 * The first difference between two runs' patches, or undefined when they are identical.
 *
 * @internal
 */
export const diffPatches = (
  first: ReadonlyArray<Patch.Patch>,
  second: ReadonlyArray<Patch.Patch>
): { table: string; rowId: string; columns: ReadonlyArray<string>; detail: string } | undefined => {
  const length = Math.max(first.length, second.length)
  for (let i = 0; i < length; i++) {
    const a = first[i]
    const b = second[i]
    if (a === undefined || b === undefined) {
      const extra = (a ?? b)!
      return {
        table: extra.table,
        rowId: extra.rowId,
        columns: Object.keys(Patch.columns(extra.forward ?? extra.reverse) ?? {}).sort(),
        detail: a === undefined
          ? `the second run wrote a ${extra.op} the first did not`
          : `the first run wrote a ${extra.op} the second did not`
      }
    }
    if (a.table !== b.table || a.schema !== b.schema || a.rowId !== b.rowId || a.op !== b.op) {
      return {
        table: a.table,
        rowId: a.rowId,
        columns: [],
        detail: `write #${i + 1} was ${a.op} ${a.table}/${a.rowId} in the first run and ${b.op} ${b.table}/${b.rowId} in the second`
      }
    }
    const columns = [...new Set([...changedColumns(a.forward, b.forward), ...changedColumns(a.reverse, b.reverse)])].sort()
    if (columns.length > 0) {
      return { table: a.table, rowId: a.rowId, columns, detail: `the two runs wrote different values (${a.op})` }
    }
  }
  return undefined
}
