import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { SyncProtocol } from "../src/index.js"
import { seedFor } from "./suites/hlcSql.js"

const seed = seedFor("SyncProtocol.test")

const remoteActions = fc.array(
  Arbitrary.make(SyncProtocol.RemoteAction).map((action) => ({ ...action, patches: action.patches.slice(0, 5) })),
  { maxLength: 5 }
)
const encodeWireSchema = Schema.encodeSync(Schema.Array(SyncProtocol.ActionWire))
const encodeSchema = Schema.encodeSync(Schema.Array(SyncProtocol.RemoteAction))

describe("SyncProtocol.encodeActionWire / encodeRemoteAction", () => {
  // The transport and the engine move whole fetch pages with it instead of Schema.encode.
  it("is the Schema's encoding, field for field and in the same order", () => {
    fc.assert(
      fc.property(remoteActions, (actions) => {
        const fast = actions.map(SyncProtocol.encodeRemoteAction)
        const schema = encodeSchema(actions)
        assert.deepStrictEqual(fast, schema)
        assert.strictEqual(JSON.stringify(fast), JSON.stringify(schema))
        assert.deepStrictEqual(Schema.decodeUnknownSync(Schema.Array(SyncProtocol.RemoteAction))(fast), actions)
        const wire = actions.map(({ serverSeq: _, ...action }) => action)
        assert.strictEqual(
          JSON.stringify(wire.map(SyncProtocol.encodeActionWire)),
          JSON.stringify(encodeWireSchema(wire))
        )
      }),
      { seed, numRuns: 200 }
    )
  })
})
