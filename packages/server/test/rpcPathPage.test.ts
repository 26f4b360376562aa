/**
 * `SyncRpc.Page`, the wire schema of `Fetch`'s answer and of `Subscribe`'s pages: it encodes a
 * page field by field instead of with `SyncProtocol.FetchResponse`'s Schema, and decodes it
 * with that Schema synchronously. What goes on the wire must be exactly the Schema's encoding,
 * and what does not decode must still fail as a parse error (which `@effect/rpc` reports to
 * the caller), never slip through.
 */
import { assert, describe, it } from "@effect/vitest"
import { SyncProtocol, SyncRpc } from "@reprise/core"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const seed = Number(process.env["REPRISE_SEED"] ?? 20261204)

const pages = Arbitrary.make(SyncProtocol.FetchResponse).map((page) => ({
  ...page,
  actions: page.actions.slice(0, 5).map((action) => ({ ...action, patches: action.patches.slice(0, 5) }))
}))

const encodeSchema = Schema.encodeSync(SyncProtocol.FetchResponse)
const encodePage = Schema.encodeSync(SyncRpc.Page)
const decodePage = ParseResult.decodeUnknownEither(SyncRpc.Page)
const decodeSchema = Schema.decodeUnknownSync(SyncProtocol.FetchResponse)

describe("SyncRpc.Page", () => {
  it("encodes a page as the FetchResponse Schema does, as JSON text too, and decodes it back", () => {
    fc.assert(
      fc.property(pages, (page) => {
        const fast = encodePage(page)
        const schema = encodeSchema(page)
        assert.deepStrictEqual(fast, schema)
        assert.strictEqual(JSON.stringify(fast), JSON.stringify(schema))
        const decoded = decodePage(JSON.parse(JSON.stringify(fast)))
        assert.isTrue(Either.isRight(decoded))
        assert.deepStrictEqual(Either.getOrThrow(decoded), decodeSchema(schema))
      }),
      { seed, numRuns: 200 }
    )
  })

  it("refuses what the FetchResponse Schema refuses, with the Schema's account", () => {
    const page = fc.sample(pages.filter((p) => p.actions.length > 0), { seed, numRuns: 1 })[0]!
    const wire = encodeSchema(page) as unknown as { actions: Array<Record<string, unknown>> }
    const cases: ReadonlyArray<readonly [string, unknown]> = [
      ["not an object", "page"],
      ["no next", { ...wire, next: undefined }],
      ["a negative head", { ...wire, head: -1 }],
      ["an action id that is not a UUID", { ...wire, actions: [{ ...wire.actions[0], id: "not-a-uuid" }] }],
      ["an hlc that does not parse", { ...wire, actions: [{ ...wire.actions[0], hlc: "yesterday" }] }],
      ["audiences that are not strings", { ...wire, audiences: [1] }]
    ]
    for (const [what, input] of cases) {
      const decoded = decodePage(input)
      assert.isTrue(Either.isLeft(decoded), `${what} decoded`)
      const schemaAccount = Either.match(ParseResult.decodeUnknownEither(SyncProtocol.FetchResponse)(input), {
        onLeft: (issue) => ParseResult.TreeFormatter.formatIssueSync(issue),
        onRight: () => "decoded"
      })
      assert.include(
        ParseResult.TreeFormatter.formatIssueSync(Either.flip(decoded).pipe(Either.getOrThrow)),
        schemaAccount.split("\n").at(-1)!.trim(),
        what
      )
    }
  })
})
