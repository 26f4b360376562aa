/**
 * Hostile requests found by trying bad input against the sync service (issue 15, item 8), each
 * a test run on PGlite (`hostile.test.ts`) and on real Postgres (`hostile.pg.test.ts`): every
 * one is refused with a typed error naming the field and the limit, quickly, before it reaches
 * Postgres, and nothing of it is stored; honest replicas keep syncing.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import type * as SqlClient from "@effect/sql/SqlClient"
import { SyncProtocol } from "@reprise/core"
import * as Effect from "effect/Effect"
import {
  createNote,
  fetchRaw,
  loggedIds,
  nestedJson,
  noteAction,
  NOTES,
  notesOf,
  replicaNotes,
  run,
  type Server,
  startReplica,
  startServer,
  syncReplica,
  uploadRaw
} from "./hostileWorld.js"

const MB = 1_000_000

/** The typed failure of `effect`, timed; a success or a defect fails the test. */
const refusal = <E>(effect: Effect.Effect<unknown, E>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const exit = yield* Effect.either(effect)
    const ms = performance.now() - start
    if (exit._tag === "Right") assert.fail(`expected a refusal, got a success: ${JSON.stringify(exit.right).slice(0, 200)}`)
    return { error: exit.left, ms }
  })

/** Asserts `error` is an `UploadRejected` with `reason` whose message names each of `mentions`. */
const assertRejected = (error: unknown, reason: SyncProtocol.UploadRejected["reason"], mentions: ReadonlyArray<string>, label: string) => {
  if (!(error instanceof SyncProtocol.UploadRejected)) {
    return assert.fail(`${label}: expected UploadRejected (${reason}), got ${describeError(error)}`)
  }
  assert.strictEqual(error.reason, reason, `${label}: ${error.message}`)
  for (const m of mentions) assert.include(error.message, m, label)
  assert.isBelow(error.message.length, 4000, `${label}: the message stays readable`)
}

/** An error's tag and message, for a failed assertion. */
export const describeError = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && "message" in error
    ? `${String(error._tag)}: ${String(error.message).slice(0, 300)}`
    : String(error).slice(0, 300)

const logSize = (server: Server) => Effect.map(loggedIds(server.sql), (ids) => ids.length)

/** The hostile-input tests, run inside a layer providing the server's database (live clock). */
export const hostileCaseTests = (it: Vitest.MethodsNonLive<SqlClient.SqlClient, true>) => {
  describe("hostile requests (R-SRV-7)", () => {
    /** Verifies: R-SRV-7 (one client can never stop another's sync) */
    it.effect("an action whose args are not the { input, timestamp } record is refused; other clients keep syncing", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startServer()
        const alice = yield* startReplica(server, "alice")
        const bob = yield* startReplica(server, "bob")
        yield* run(alice, createNote, { title: "from alice" })
        yield* syncReplica(alice)
        yield* syncReplica(bob)
        const before = yield* loggedIds(server.sql)
        const now = Date.now()
        const head = yield* server.sync.head("mallory")
        const badArgs: ReadonlyArray<readonly [string, unknown]> = [
          ["a string", "not-an-object"],
          ["an array", [1, 2]],
          ["null", null],
          ["no timestamp", { input: { title: "x" } }],
          ["a string timestamp", { input: { title: "x" }, timestamp: "now" }],
          ["a fractional timestamp", { input: { title: "x" }, timestamp: 1.5 }],
          ["a negative timestamp", { input: { title: "x" }, timestamp: -1 }],
          ["a timestamp past the clock's range", { input: { title: "x" }, timestamp: 1e300 }]
        ]
        for (const [label, args] of badArgs) {
          const action = { ...noteAction({ clientId: "mallory-1", userId: "mallory", wallMs: now - 1000 }), args, patches: [] }
          const { error } = yield* refusal(uploadRaw(server, "mallory", { clientId: "mallory-1", basis: head, actions: [action] }))
          assertRejected(error, "Malformed", ["args"], `args ${label}`)
        }
        assert.deepStrictEqual(yield* loggedIds(server.sql), before)
        // Both honest clients go on acting and syncing, and agree with the server.
        yield* run(alice, createNote, { title: "alice again" })
        yield* run(bob, createNote, { title: "from bob" })
        for (const replica of [alice, bob, alice, bob]) yield* syncReplica(replica)
        const canonical = yield* notesOf(server.sql)
        assert.strictEqual(canonical.length, 3)
        assert.deepStrictEqual(yield* replicaNotes(alice), canonical)
        assert.deepStrictEqual(yield* replicaNotes(bob), canonical)
      })), 120_000)

    /** Verifies: R-SRV-7 (JSON depth: no hang, no stack overflow, refused in well under a second) */
    it.effect("JSON nested 100,000 or 1,000 levels deep is refused quickly; 64 levels are accepted", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startServer()
        const now = Date.now()
        const upload = (action: typeof SyncProtocol.ActionWire.Encoded) =>
          Effect.flatMap(server.sync.head("u1"), (basis) => uploadRaw(server, "u1", { clientId: "deep-1", basis, actions: [action] }))
        const size = yield* logSize(server)
        const image = (rowId: string, doc: string) => `{"id":${JSON.stringify(rowId)},"title":"t","doc":${doc},"n":0,"audience_key":null}`
        for (const depth of [100_000, 1000, 65]) {
          const row = noteAction({ clientId: "deep-1", userId: "u1", wallMs: now - 1000, rowId: "deep", forward: image("deep", nestedJson(depth)) })
          const inRow = yield* refusal(upload(row))
          assertRejected(inRow.error, "TooLarge", ["forward", `${SyncProtocol.Limits.maxJsonDepth}`], `row image ${depth} deep`)
          assert.isBelow(inRow.ms, 1000, `row image ${depth} deep: refused in ${inRow.ms} ms`)
          const args = { ...noteAction({ clientId: "deep-1", userId: "u1", wallMs: now - 1000 }), args: { input: JSON.parse(nestedJson(depth)), timestamp: now } }
          const inArgs = yield* refusal(upload(args))
          assertRejected(inArgs.error, "TooLarge", ["args", `${SyncProtocol.Limits.maxJsonDepth}`], `args ${depth} deep`)
          assert.isBelow(inArgs.ms, 1000, `args ${depth} deep: refused in ${inArgs.ms} ms`)
          console.log(`[hostile] depth ${depth}: row image refused in ${inRow.ms.toFixed(1)} ms, args in ${inArgs.ms.toFixed(1)} ms`)
        }
        assert.strictEqual(yield* logSize(server), size)
        // The row object is level 1: 63 more levels in a column are 64 in all, the limit.
        const deepest = nestedJson(SyncProtocol.Limits.maxJsonDepth - 1)
        const ok = noteAction({ clientId: "deep-1", userId: "u1", wallMs: now - 900, rowId: "ok", forward: image("ok", deepest) })
        // The input object is level 1 of the args' JSON: 63 levels more in a field are 64. (It stays
        // valid for the app's action, whose Schema ignores the extra field: the replicas of the
        // tests sharing this database replay it.)
        const deepInput = { title: "t", extra: JSON.parse(nestedJson(SyncProtocol.Limits.maxJsonDepth - 1)) }
        yield* upload({ ...ok, args: { input: deepInput, timestamp: now } })
        const [stored] = yield* server.sql<{ doc: string }>`SELECT doc::text AS doc FROM ${server.sql(NOTES)} WHERE id = 'ok'`
        assert.strictEqual(stored?.doc.replaceAll(" ", ""), deepest)
      })), 120_000)

    /** Verifies: R-SRV-7 (string lengths) */
    it.effect("a 1 MB audience key, caller user id or title is refused, naming the field and the limit", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startServer()
        const now = Date.now()
        const size = yield* logSize(server)
        const basis = yield* server.sync.head("u1")
        const big = "k".repeat(MB)
        const action = noteAction({ clientId: "big-1", userId: "u1", wallMs: now - 1000 })
        const keyed = { ...action, patches: action.patches.map((p) => ({ ...p, audienceKey: big })) }
        const key = yield* refusal(uploadRaw(server, "u1", { clientId: "big-1", basis, actions: [keyed] }))
        assertRejected(key.error, "TooLarge", ["audienceKey", `${SyncProtocol.Limits.maxAudienceKeyChars}`], "audience key")
        const user = yield* refusal(uploadRaw(server, big, {
          clientId: "big-1",
          basis,
          actions: [noteAction({ clientId: "big-1", userId: big, wallMs: now - 1000 })]
        }))
        assertRejected(user.error, "TooLarge", ["user id", `${SyncProtocol.Limits.maxUserIdChars}`], "user id")
        const fetched = yield* refusal(fetchRaw(server, big, { since: 0, limit: 10 }))
        assert.isTrue(fetched.error instanceof SyncProtocol.FetchRejected, describeError(fetched.error))
        assert.include(fetched.error.message, `${SyncProtocol.Limits.maxUserIdChars}`)
        const rowId = "big-title"
        const titled = noteAction({
          clientId: "big-1",
          userId: "u1",
          wallMs: now - 1000,
          rowId,
          forward: JSON.stringify({ id: rowId, title: "t".repeat(MB), doc: null, n: 0, audience_key: null })
        })
        const title = yield* refusal(uploadRaw(server, "u1", { clientId: "big-1", basis, actions: [titled] }))
        assertRejected(title.error, "TooLarge", ["forward", `${SyncProtocol.Limits.maxRowImageChars}`], "title")
        assert.strictEqual(yield* logSize(server), size)
      })), 120_000)

    /** Verifies: R-SRV-7 (numeric ranges) */
    it.effect("a patch seq of 2^31 is refused as UploadRejected, never a database error", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startServer()
        const now = Date.now()
        const size = yield* logSize(server)
        const basis = yield* server.sync.head("u1")
        const action = noteAction({ clientId: "seq-1", userId: "u1", wallMs: now - 1000 })
        for (const seq of [2 ** 31, 2 ** 53, 0, -1]) {
          const bad = { ...action, patches: action.patches.map((p) => ({ ...p, seq })) }
          const { error } = yield* refusal(uploadRaw(server, "u1", { clientId: "seq-1", basis, actions: [bad] }))
          assertRejected(error, "Malformed", ["seq"], `seq ${seq}`)
        }
        // The largest seq is accepted.
        yield* uploadRaw(server, "u1", {
          clientId: "seq-1",
          basis,
          actions: [{ ...action, patches: action.patches.map((p) => ({ ...p, seq: SyncProtocol.Limits.maxPatchSeq })) }]
        })
        assert.strictEqual(yield* logSize(server), size + 1)
        for (const [label, basisValue] of [["basis 2^53", 2 ** 53], ["basis 1.5", 1.5]] as const) {
          const { error } = yield* refusal(uploadRaw(server, "u1", { clientId: "seq-1", basis: basisValue, actions: [noteAction({ clientId: "seq-1", userId: "u1", wallMs: now - 500 })] }))
          assertRejected(error, "Malformed", ["basis"], label)
        }
        const since = yield* refusal(fetchRaw(server, "u1", { since: 2 ** 53, limit: 10 }))
        assert.isTrue(since.error instanceof SyncProtocol.FetchRejected, describeError(since.error))
        assert.include(since.error.message, "since")
      })), 120_000)
  })
}
