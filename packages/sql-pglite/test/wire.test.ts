import { assert, describe, it } from "@effect/vitest"
import { protocol } from "@electric-sql/pglite"
import { bindExecuteSync } from "../src/internal/wire.js"

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

describe("wire", () => {
  it("writes BIND + EXECUTE + SYNC as pg-protocol's serializer does, minus per-parameter format codes", () => {
    const cases: ReadonlyArray<ReadonlyArray<string | null>> = [
      [],
      ["a"],
      [null],
      ["", null, "ü", "😀x", "a\u0000b", "\ud800", "é".repeat(3000), "x".repeat(5000)]
    ]
    for (const values of cases) {
      const ours = bindExecuteSync("reprise_7", values)
      // pg-protocol sends one text format code per parameter where we send none (all text).
      const theirs = protocol.serialize.bind({
        statement: "reprise_7",
        values: [...values],
        valueMapper: (value) => value as string | null
      })
      const view = new DataView(theirs.buffer, theirs.byteOffset, theirs.byteLength)
      const header = 1 + 4 + 1 + "reprise_7".length + 1
      const withoutCodes = concat([
        theirs.subarray(0, header),
        new Uint8Array([0, 0]),
        theirs.subarray(header + 2 + 2 * values.length)
      ])
      new DataView(withoutCodes.buffer).setInt32(1, view.getInt32(1) - 2 * values.length)
      const expected = concat([withoutCodes, protocol.serialize.execute(), protocol.serialize.sync()])
      assert.deepStrictEqual(Array.from(ours), Array.from(expected))
    }
  })
})
