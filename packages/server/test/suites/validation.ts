/**
 * The sync service's refusals, part of the service suite (`syncService.ts`): requests refused
 * by the transports' decoding (`SyncCodec`) or by the service's own validation, a server
 * database without the app's setup, and database failures as `ServerFailure`.
 */
import { assert, describe, type Vitest } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { SyncProtocol, SyncServer, Tracking } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { InProcessTransport, SyncCodec } from "../../src/index.js"
import { body, failureOf, insert, request, setupServer, stored, titles, uniqueName, uploadBody, wire } from "./helpers.js"

/** The validation tests, run inside the service suite's layer. */
export const validationTests = (it: Vitest.MethodsNonLive<SqlClient.SqlClient, true>) => {
  describe("validation", () => {
    /** Verifies: R-SRV-1, R-SYNC-8, R-SYNC-9 */
    it.effect("rejects malformed, foreign, oversized and drifted uploads with a reason, writing nothing", () =>
      Effect.gen(function*() {
        const { sql, sync, table } = yield* setupServer()
        const strict = yield* setupServer({ maxDriftMs: 1000 })
        const now = yield* Clock.currentTimeMillis
        const basis = yield* sync.head("u1")
        const ok = (patches = [insert(table, { id: uniqueName("v") })]) =>
          wire({ clientId: "val-a", userId: "u1", wallMs: now - 1000, patches })
        const before = yield* stored(sql, table)
        const tooMany = Array.from({ length: SyncProtocol.Limits.maxActionsPerUpload + 1 }, () => ok())
        const manyPatches = ok(Array.from({ length: SyncProtocol.Limits.maxPatchesPerAction + 1 }, (_, i) => insert(table, { id: `m${i}` })))
        const hugeArgs = { ...ok(), args: { input: { text: "x".repeat(SyncProtocol.Limits.maxArgsChars) }, timestamp: now } }
        const drifted = wire({ clientId: "val-a", userId: "u1", wallMs: now + 10 * 60 * 1000, patches: [] })
        const untracked = ok([insert(uniqueName("nope"), { id: "u" })])
        // Where each is refused: by the transport's decoding (`SyncCodec`), or by the service's
        // own validation of a request that decodes.
        const cases: ReadonlyArray<
          readonly [string, unknown, SyncProtocol.UploadRejected["reason"], string | null, "decoding" | "service"]
        > = [
          ["not an object", "hello", "Malformed", null, "decoding"],
          ["bad hlc", body("val-a", basis, [{ ...ok(), hlc: "yesterday" }]), "Malformed", null, "decoding"],
          ["no actions", body("val-a", basis, []), "Malformed", null, "decoding"],
          ["negative basis", body("val-a", -1, [ok()]), "Malformed", null, "decoding"],
          ["forward not JSON", body("val-a", basis, [{ ...ok(), patches: [{ ...ok().patches[0]!, forward: "{\"a\": " }] }]), "Malformed", "id", "service"],
          ["delete without old row", body("val-a", basis, [ok([{ op: "DELETE", table, rowId: "z", forward: null, reverse: null }])]), "Malformed", "id", "service"],
          ["untracked table", body("val-a", basis, [untracked]), "UntrackedTable", untracked.id, "service"],
          ["wrong author", body("val-a", basis, [ok(), wire({ clientId: "val-a", userId: "u2", wallMs: now, patches: [] })]), "WrongAuthor", "id", "service"],
          ["anonymous author", body("val-a", basis, [wire({ clientId: "val-a", userId: null, wallMs: now, patches: [] })]), "WrongAuthor", "id", "service"],
          ["wrong client", body("val-a", basis, [wire({ clientId: "val-b", userId: "u1", wallMs: now, patches: [] })]), "WrongClient", "id", "service"],
          ["too many actions", body("val-a", basis, tooMany), "TooLarge", null, "decoding"],
          ["too many patches", body("val-a", basis, [manyPatches]), "TooLarge", manyPatches.id, "decoding"],
          ["args too large", body("val-a", basis, [hugeArgs]), "TooLarge", hugeArgs.id, "service"],
          ["drifted clock", body("val-a", basis, [ok(), drifted]), "ClockDrift", drifted.id, "service"]
        ]
        for (const [label, raw, reason, actionId, where] of cases) {
          const decoded = yield* Effect.exit(SyncCodec.decodeUploadRequest(raw))
          assert.strictEqual(decoded._tag, where === "decoding" ? "Failure" : "Success", `${label}: refused by ${where}`)
          const error = failureOf(yield* Effect.exit(uploadBody(sync, "u1", raw)))
          assert.strictEqual(error._tag, "UploadRejected", label)
          if (error._tag !== "UploadRejected") continue
          assert.strictEqual(error.reason, reason, `${label}: ${error.message}`)
          if (actionId !== null && actionId !== "id") assert.strictEqual(error.actionId, actionId, label)
          if (actionId === "id") assert.isString(error.actionId, label)
          assert.deepStrictEqual(yield* stored(sql, table), before, label)
        }
        // Values no decoding lets through, which a caller of the service can still build: the
        // service refuses them itself.
        const valid = request("val-a", basis, [ok()])
        const action = valid.actions[0]!
        const built: ReadonlyArray<readonly [string, SyncProtocol.UploadRequest, SyncProtocol.UploadRejected["reason"]]> = [
          ["too many actions", { ...valid, actions: tooMany.map(() => ({ ...action, id: crypto.randomUUID() })) }, "TooLarge"],
          ["too many patches", {
            ...valid,
            actions: [{
              ...action,
              patches: Array.from({ length: SyncProtocol.Limits.maxPatchesPerAction + 1 }, (_, i) => ({ ...action.patches[0]!, seq: i + 1 }))
            }]
          }, "TooLarge"],
          ["no actions", { ...valid, actions: [] }, "Malformed"],
          ["negative basis", { ...valid, basis: -1 }, "Malformed"],
          ["the same action twice", { ...valid, actions: [action, action] }, "Malformed"]
        ]
        for (const [label, value, reason] of built) {
          const error = failureOf(yield* Effect.exit(sync.upload("u1", value)))
          assert.strictEqual(error._tag === "UploadRejected" && error.reason, reason, `${label}: ${error.message}`)
          assert.deepStrictEqual(yield* stored(sql, table), before, label)
        }
        // The drift bound is configurable.
        const slightlyAhead = wire({ clientId: "val-a", userId: "u1", wallMs: now + 30_000, patches: [insert(strict.table, { id: "s" })] })
        const refused = failureOf(yield* Effect.exit(strict.sync.upload("u1", request("val-a", basis, [slightlyAhead]))))
        assert.strictEqual(refused._tag === "UploadRejected" && refused.reason, "ClockDrift")
        yield* sync.upload("u1", request("val-a", basis, [slightlyAhead]))
        assert.deepStrictEqual(yield* titles(sql, strict.table), [{ id: "s", title: null, body: null }])
      }))

    /** Verifies: R-SRV-1 */
    it.effect("names the missing setup when the server's database lacks the app's table or its tracking", () =>
      Effect.gen(function*() {
        const { sql, sync } = yield* setupServer()
        const now = yield* Clock.currentTimeMillis
        const table = uniqueName("todos")
        const create = wire({ clientId: "setup-a", userId: "u1", wallMs: now - 1000, patches: [insert(table, { id: "t1" })] })
        const upload = () => Effect.flatMap(sync.head("u1"), (basis) => sync.upload("u1", request("setup-a", basis, [create])))
        const expectRefused = Effect.gen(function*() {
          const error = failureOf(yield* Effect.exit(upload()))
          assert.strictEqual(error._tag, "UploadRejected")
          if (error._tag !== "UploadRejected") return
          assert.strictEqual(error.reason, "UntrackedTable")
          assert.strictEqual(error.actionId, create.id)
          assert.include(error.message, `"public.${table}"`)
          assert.include(error.message, `Tracking.install(["${table}"])`)
          assert.include(error.message, "the server's database")
        })
        // The server's database has no such table; then it has one, not tracked.
        yield* expectRefused
        yield* sql`CREATE TABLE ${sql(table)} (id text PRIMARY KEY, audience_key text)`
        yield* expectRefused
        // Another schema is named as Tracking.install takes it.
        const other = wire({ clientId: "setup-a", userId: "u1", wallMs: now - 500, patches: [{ ...insert(table, { id: "t2" }), schema: "app" }] })
        const elsewhere = failureOf(yield* Effect.exit(Effect.flatMap(sync.head("u1"), (basis) => sync.upload("u1", request("setup-a", basis, [other])))))
        assert.include(elsewhere.message, `Tracking.install([{ schema: "app", name: "${table}" }])`)
        // Set up as the message says, the same upload is accepted.
        yield* Tracking.install([table])
        const accepted = yield* upload()
        assert.strictEqual(accepted.accepted.length, 1)
        assert.deepStrictEqual(yield* sql<{ id: string }>`SELECT id FROM ${sql(table)}`, [{ id: "t1" }])
      }))

    /** Verifies: R-SRV-1 */
    it.effect("rolls back the whole upload when its patches do not fit the canonical tables", () =>
      Effect.gen(function*() {
        const { sql, sync, table } = yield* setupServer()
        const now = yield* Clock.currentTimeMillis
        const basis = yield* sync.head("u1")
        yield* sync.upload("u1", request("fit-a", basis, [wire({ clientId: "fit-a", userId: "u1", wallMs: now - 2000, patches: [insert(table, { id: "f1" })] })]))
        const before = yield* stored(sql, table)
        const duplicateRow = wire({ clientId: "fit-a", userId: "u1", wallMs: now - 1000, patches: [insert(table, { id: "f2" }), insert(table, { id: "f1" })] })
        const error = failureOf(yield* Effect.exit(sync.upload("u1", request("fit-a", Number(before.head), [duplicateRow]))))
        assert.strictEqual(error._tag === "UploadRejected" && error.reason, "Malformed")
        assert.deepStrictEqual(yield* stored(sql, table), before)
      }))
  })

  describe("server failures", () => {
    /** Verifies: R-SRV-1 */
    it.effect("reports a database failure as ServerFailure saying what failed, never the database's message", () =>
      Effect.gen(function*() {
        const missing = uniqueName("no_such_table")
        const sql = yield* SqlClient.SqlClient
        const { sync, table } = yield* setupServer({
          audiences: () => Effect.map(sql<{ key: string }>`SELECT key FROM ${sql(missing)}`, (rows) => rows.map((r) => r.key))
        })
        const now = yield* Clock.currentTimeMillis
        const upload = failureOf(yield* Effect.exit(sync.upload("u1", request("fail-a", 0, [
          wire({ clientId: "fail-a", userId: "u1", wallMs: now - 1000, patches: [insert(table, { id: "x" })] })
        ]))))
        const fetch = failureOf(yield* Effect.exit(sync.fetch("u1", { since: 0, limit: 10 })))
        for (const error of [upload, fetch]) {
          assert.strictEqual(error._tag, "ServerFailure")
          assert.instanceOf(error, SyncServer.ServerFailure)
          assert.include(error.message, "resolving the caller's audiences failed in the server's database (SQLSTATE 42P01)")
          assert.notInclude(error.message, missing)
        }
        // Through a transport, the client sees a TransportError (it retries later).
        const transport = InProcessTransport.fromServer("u1", sync)
        const sent = failureOf(yield* Effect.exit(transport.fetch({ since: 0, limit: 10 })))
        assert.strictEqual(sent._tag, "TransportError")
        assert.include(sent.message, "The sync server failed")
      }))
  })
}
