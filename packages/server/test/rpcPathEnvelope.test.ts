/**
 * The envelope checks of the RPC endpoints (internal/rpc/envelope.ts), at their bounds: a
 * well-formed request or ack passes, and each message one step away from a well-formed one is
 * refused with the Schema's account (the hostile-network tests send thousands more, generated,
 * over the wire).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { checkHttpBody, checkSocketMessage, connectionHeader } from "../src/internal/rpc/envelope.js"

const request = {
  _tag: "Request",
  id: "12",
  tag: "Upload",
  payload: { anything: ["the payload is the procedure's to check"] },
  headers: [["authorization", "Bearer a.b.c"]] as ReadonlyArray<readonly [string, string]>
}

const text = (message: unknown) => JSON.stringify(message)

describe("RPC envelope checks", () => {
  it("accepts well-formed requests and acks, and returns a request's own headers", () => {
    const traced = { ...request, traceId: "t".repeat(128), spanId: "s", sampled: true }
    assert.deepStrictEqual(checkHttpBody(text(request)), Either.right(request.headers))
    assert.deepStrictEqual(checkHttpBody(text(traced)), Either.right(request.headers))
    assert.isTrue(Either.isRight(checkSocketMessage(text({ ...request, tag: "Subscribe" }))))
    assert.isTrue(Either.isRight(checkSocketMessage(text(traced))))
    assert.isTrue(Either.isRight(checkSocketMessage(text({ _tag: "Ack", requestId: "12" }))))
    assert.isTrue(Either.isRight(checkSocketMessage(text({ _tag: "Interrupt", requestId: "0" }))))
    assert.isTrue(Either.isRight(checkSocketMessage(text({ _tag: "Ping" }))))
    const many = { ...request, headers: Array.from({ length: 64 }, (_, i) => [`h${i}`, "v".repeat(32 * 1024)]) }
    assert.isTrue(Either.isRight(checkHttpBody(text(many))))
  })

  it("refuses each message one step from a well-formed one, with the Schema's account", () => {
    const cases: ReadonlyArray<readonly [string, unknown, string]> = [
      ["an extra key", { ...request, extra: 1 }, "extra"],
      ["an id with a letter", { ...request, id: "1a" }, "id"],
      ["an id of 21 digits", { ...request, id: "1".repeat(21) }, "id"],
      ["a numeric id", { ...request, id: 12 }, "id"],
      ["an unknown procedure", { ...request, tag: "Drop" }, "not a procedure"],
      ["65 headers", { ...request, headers: Array.from({ length: 65 }, () => ["a", "b"]) }, "headers"],
      ["an empty header name", { ...request, headers: [["", "b"]] }, "headers"],
      ["a header name of 257 characters", { ...request, headers: [["n".repeat(257), "b"]] }, "headers"],
      ["a header value over 32 KiB", { ...request, headers: [["a", "v".repeat(32 * 1024 + 1)]] }, "headers"],
      ["a header of three strings", { ...request, headers: [["a", "b", "c"]] }, "headers"],
      ["a header value that is a number", { ...request, headers: [["a", 1]] }, "headers"],
      ["a traceId of 129 characters", { ...request, traceId: "t".repeat(129) }, "traceId"],
      ["sampled as a string", { ...request, sampled: "yes" }, "sampled"],
      ["a tag of Response", { ...request, _tag: "Response" }, "_tag"]
    ]
    for (const [what, message, names] of cases) {
      for (const check of [checkHttpBody, checkSocketMessage]) {
        const result: Either.Either<unknown, string> = check(text(message))
        assert.isTrue(Either.isLeft(result), `${what} was accepted`)
        const account = Either.isLeft(result) ? result.left : ""
        assert.include(account, "not a message of the sync protocol", what)
        assert.include(account, names, what)
      }
    }
    const acks: ReadonlyArray<readonly [string, unknown]> = [
      ["an ack with an extra key", { _tag: "Ack", requestId: "1", extra: true }],
      ["an ack with a numeric id", { _tag: "Ack", requestId: 1 }],
      ["an ack without an id", { _tag: "Ack" }],
      ["an ack with an id of letters", { _tag: "Interrupt", requestId: "one" }]
    ]
    for (const [what, message] of acks) {
      assert.isTrue(Either.isLeft(checkSocketMessage(text(message))), `${what} was accepted`)
    }
  })

  it("keeps the connection header the server's own, and Subscribe off HTTP", () => {
    const spoofed = { ...request, headers: [[connectionHeader.toUpperCase(), "0"]] }
    const refused = checkSocketMessage(text(spoofed))
    assert.isTrue(Either.isLeft(refused) && refused.left.includes(connectionHeader))
    const subscribe = checkHttpBody(text({ ...request, tag: "Subscribe" }))
    assert.isTrue(Either.isLeft(subscribe) && subscribe.left.includes("WebSocket"))
  })
})
