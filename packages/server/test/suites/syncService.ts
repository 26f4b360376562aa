/**
 * The sync service: one suite run on PGlite and on real Postgres.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import { Action, ActionExecutor, ActionIds, ActionRegistry, Patch, SyncProtocol, SyncSchema, Tracking } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import {
  failureOf,
  insert,
  logPosition,
  remove,
  request,
  rowsOf,
  setupServer,
  stored,
  titles,
  update,
  wire,
  writesSince
} from "./helpers.js"
import { validationTests } from "./validation.js"
import { InProcessTransport, ServerSchema, SyncCodec } from "../../src/index.js"

/** A client replica on its own PGlite: runs real actions and returns what it would upload. */
const clientSession = (table: string, clientId: string, userId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE ${sql(table)} (id text PRIMARY KEY, title text, body text, n bigint, audience_key text)`
    yield* SyncSchema.install({ clientId })
    yield* Tracking.install([table])
    const create = Action.make({
      tag: "note.create.v1",
      args: Schema.Struct({ title: Schema.String, n: Schema.String }),
      run: ({ n, title }) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const id = (yield* ActionIds.ActionIds).id("note")
          yield* sql`INSERT INTO ${sql(table)} (id, title, body, n, audience_key)
            VALUES (${id}, ${title}, ${"tëxt \"q\" \\"}, ${n}::bigint, 'team-1')`
          return id
        })
    })
    const rename = Action.make({
      tag: "note.rename.v1",
      args: Schema.Struct({ id: Schema.String, title: Schema.String }),
      run: ({ id, title }) =>
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE ${sql(table)} SET title = ${title} WHERE id = ${id}`)
    })
    const drop = Action.make({
      tag: "note.delete.v1",
      args: Schema.Struct({ id: Schema.String }),
      run: ({ id }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM ${sql(table)} WHERE id = ${id}`)
    })
    const executor = yield* ActionExecutor.make({ userId, clientId }).pipe(
      Effect.provideService(ActionRegistry.ActionRegistry, ActionRegistry.make([create, rename, drop]))
    )
    const big = yield* executor.execute(create, { title: "big", n: "9223372036854775807" })
    const small = yield* executor.execute(create, { title: "small", n: "-9223372036854775808" })
    yield* executor.execute(rename, { id: big, title: "big, renamed" })
    yield* executor.execute(drop, { id: small })
    const records = yield* sql<{
      id: string
      tag: string
      args: unknown
      client_id: string
      user_id: string | null
      hlc: string
      kind: "action" | "correction"
    }>`SELECT id::text AS id, tag, args, client_id, user_id, hlc, kind FROM reprise.action_records ORDER BY hlc, id`
    const patches = yield* Patch.forActions(records.map((r) => r.id))
    const actions: Array<typeof SyncProtocol.ActionWire.Encoded> = records.map((r) => ({
      id: r.id,
      tag: r.tag,
      args: r.args,
      clientId: r.client_id,
      userId: r.user_id,
      hlc: r.hlc,
      kind: r.kind,
      patches: patches.filter((p) => p.actionId === r.id).map((p) => ({
        seq: p.seq,
        schema: p.schema,
        table: p.table,
        rowId: p.rowId,
        op: p.op,
        forward: p.forward,
        reverse: p.reverse,
        audienceKey: p.audienceKey
      }))
    }))
    return { actions, rows: yield* rowsOf(sql, table) }
  })

/** The sync service's contract, run against the given server database driver. */
export const syncServiceSuite = (name: string, driver: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  layer(driver, { timeout: "120 seconds", excludeTestServices: true })(`SyncService: ${name}`, (it) => {
    describe("ServerSchema", () => {
      /** Verifies: R-SRV-1 (the log and its two orders live in an idempotent, versioned schema) */
      it.effect("installs idempotently, with the sequence and canonical-order indexes and core's applier", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* ServerSchema.install()
          yield* ServerSchema.install()
          assert.strictEqual(yield* ServerSchema.installedVersion, ServerSchema.CURRENT_VERSION)
          const indexes = yield* sql<{ indexname: string }>`
            SELECT indexname FROM pg_indexes WHERE schemaname = 'reprise_server' ORDER BY 1`
          const names = indexes.map((r) => r.indexname)
          for (const name of ["actions_canonical_order", "actions_server_seq_key", "patches_pkey", "patches_row"]) {
            assert.include(names, name)
          }
          const [state] = yield* sql<{ rows: number; applier: boolean }>`
            SELECT (SELECT count(*) FROM reprise_server.state)::int AS rows,
                   to_regprocedure('reprise.apply_patches(jsonb, text)') IS NOT NULL AS applier`
          assert.deepStrictEqual(state, { rows: 1, applier: true })
        }))
    })

    describe("upload and fetch", () => {
      /** Verifies: R-SRV-1, R-SYNC-9 */
      it.effect("stores real captured actions, hands them back byte for byte and materializes the client's rows", () =>
        Effect.gen(function*() {
          const { encodedFetch, sql, sync, table } = yield* setupServer()
          const client = yield* Effect.provide(clientSession(table, "client-rt", "u1"), PgliteClient.layer({}))
          const basis = yield* sync.head("u1")
          const response = yield* sync.upload("u1", request("client-rt", basis, client.actions))
          assert.deepStrictEqual(
            response.accepted,
            client.actions.map((a, i) => ({ id: a.id, serverSeq: basis + i + 1 }))
          )
          assert.strictEqual(response.head, basis + client.actions.length)

          const page = yield* sync.fetch("u2", { since: basis, limit: 100 })
          assert.strictEqual(page.hasMore, false)
          assert.strictEqual(page.next, basis + client.actions.length)
          assert.strictEqual(page.head, response.head)
          const encoded = page.actions.map((a) => Schema.encodeSync(SyncProtocol.RemoteAction)(a))
          assert.deepStrictEqual(
            encoded,
            client.actions.map((a, i) => ({ ...a, serverSeq: basis + i + 1, fullView: true }))
          )
          assert.strictEqual(page.audiences, null)
          const text = yield* encodedFetch.fetch("u2", { since: basis, limit: 100 })
          assert.deepStrictEqual(JSON.parse(text), Schema.encodeSync(SyncProtocol.FetchResponse)(page))
          // Both ways a transport sends a page (the fast path, or the decoded page encoded
          // again) hand the client the same page.
          for (const codec of [{ encodedFetch }, {}]) {
            const transport = InProcessTransport.fromServer("u2", sync, codec.encodedFetch)
            assert.deepStrictEqual(yield* transport.fetch({ since: basis, limit: 100 }), page)
          }
          assert.strictEqual(SyncCodec.encodeFetchResponse(page), JSON.stringify(Schema.encodeSync(SyncProtocol.FetchResponse)(page)))
          // The bigint extremes travel as exact JSON text, never through a JavaScript number.
          const forward = encoded[0]?.patches[0]?.forward
          assert.include(forward, "\"n\": 9223372036854775807")
          assert.include(encoded[3]?.patches[0]?.reverse, "\"n\": -9223372036854775808")
          // The canonical table now equals the client's, value for value.
          assert.deepStrictEqual(yield* rowsOf(sql, table), client.rows)
          assert.strictEqual(client.rows.length, 1)
        }))

      /** Verifies: R-SRV-1 */
      it.effect("materializes in canonical (HLC) order under each author's identity", () =>
        Effect.gen(function*() {
          const { sql, sync, table } = yield* setupServer()
          const now = yield* Clock.currentTimeMillis
          const log = yield* logPosition(sql)
          const a = wire({ clientId: "mat-a", userId: "ua", wallMs: now - 3000, patches: [
            insert(table, { id: "r1", title: "one", n: 1 }),
            insert(table, { id: "r2", title: "two", n: 2 })
          ] })
          // Sent before `a`, but ordered after it: it updates a row `a` creates.
          const b = wire({ clientId: "mat-a", userId: "ua", wallMs: now - 2000, patches: [
            update(table, "r1", { title: "one'" }, { title: "one" }),
            remove(table, { id: "r2", title: "two", body: null, n: 2, audience_key: null })
          ] })
          const basis = yield* sync.head("ua")
          const response = yield* sync.upload("ua", request("mat-a", basis, [b, a]))
          // Sequences follow the request; materialization follows the HLC order.
          assert.deepStrictEqual(response.accepted.map((x) => x.serverSeq), [basis + 1, basis + 2])
          const c = wire({ clientId: "mat-c", userId: "uc", wallMs: now - 1000, patches: [
            insert(table, { id: "r3", title: "three", body: "b", n: "12345678901234567" })
          ] })
          yield* sync.upload("uc", request("mat-c", response.head, [c]))
          assert.deepStrictEqual(yield* titles(sql, table), [
            { id: "r1", title: "one'", body: null },
            { id: "r3", title: "three", body: "b" }
          ])
          const [n] = yield* sql<{ n: string }>`SELECT n::text AS n FROM ${sql(table)} WHERE id = 'r3'`
          assert.strictEqual(n?.n, "12345678901234567")
          assert.deepStrictEqual(yield* writesSince(sql, table, log), [
            ["r1", "INSERT", "ua"],
            ["r2", "INSERT", "ua"],
            ["r1", "UPDATE", "ua"],
            ["r2", "DELETE", "ua"],
            ["r3", "INSERT", "uc"]
          ])
          // Direct writes to the canonical table are still refused: only materialization writes.
          const direct = yield* Effect.exit(sql`INSERT INTO ${sql(table)} (id) VALUES ('x')`)
          assert.strictEqual(direct._tag, "Failure")
        }))

      /** Verifies: R-SYNC-9 */
      it.effect("pages through the log with limit, next and hasMore", () =>
        Effect.gen(function*() {
          const { encodedFetch, sync, table } = yield* setupServer()
          const now = yield* Clock.currentTimeMillis
          const since = yield* sync.head("u1")
          const actions = Array.from({ length: 5 }, (_, i) =>
            wire({ clientId: "page-a", userId: "u1", wallMs: now - 10_000 + i, patches: [insert(table, { id: `p${i}`, title: `${i}` })] }))
          yield* sync.upload("u1", request("page-a", since, actions))
          const seen: Array<number> = []
          let cursor = since
          const pages: Array<[number, boolean]> = []
          for (;;) {
            const page = yield* sync.fetch("u1", { since: cursor, limit: 2 })
            // The encoded answer (what transports send) is the same page, built without decoding.
            const encoded = yield* encodedFetch.fetch("u1", { since: cursor, limit: 2 })
            assert.deepStrictEqual(JSON.parse(encoded), Schema.encodeSync(SyncProtocol.FetchResponse)(page))
            seen.push(...page.actions.map((a) => a.serverSeq))
            pages.push([page.actions.length, page.hasMore])
            assert.strictEqual(page.next, page.actions.at(-1)?.serverSeq ?? cursor)
            assert.strictEqual(page.head, since + 5)
            cursor = page.next
            if (!page.hasMore) break
          }
          assert.deepStrictEqual(pages, [[2, true], [2, true], [1, false]])
          assert.deepStrictEqual(seen, [1, 2, 3, 4, 5].map((i) => since + i))
          assert.deepStrictEqual(
            (yield* sync.fetch("u1", { since: since + 1, limit: 1 })).actions.map((a) => a.id),
            [actions[1]!.id]
          )
          const empty = yield* sync.fetch("u1", { since: cursor, limit: 10 })
          assert.deepStrictEqual([empty.actions.length, empty.next, empty.hasMore], [0, cursor, false])
          // A body that does not decode is refused by the transport's decoding; values out of
          // range that a caller could still pass are refused by the service itself.
          for (const raw of [{ since: -1, limit: 0 }, { since: 0, limit: SyncProtocol.Limits.maxFetchLimit + 1 }, "hello", { since: "0", limit: 1 }]) {
            const undecoded = failureOf(yield* Effect.exit(SyncCodec.decodeFetchRequest(raw)))
            assert.strictEqual(undecoded._tag, "FetchRejected", JSON.stringify(raw))
          }
          for (const request of [{ since: -1, limit: 1 }, { since: 0, limit: 0 }, { since: 0, limit: SyncProtocol.Limits.maxFetchLimit + 1 }, { since: 0.5, limit: 1 }]) {
            const refused = failureOf(yield* Effect.exit(sync.fetch("u1", request)))
            assert.strictEqual(refused._tag, "FetchRejected", JSON.stringify(request))
            assert.instanceOf(refused, SyncProtocol.FetchRejected)
            const refusedEncoded = failureOf(yield* Effect.exit(encodedFetch.fetch("u1", request)))
            assert.strictEqual(refusedEncoded._tag, "FetchRejected", JSON.stringify(request))
          }
        }))
    })

    describe("idempotency", () => {
      /** Verifies: R-SYNC-5 */
      it.effect("returns the same sequences for a re-upload and stores nothing new; a changed duplicate is a Conflict", () =>
        Effect.gen(function*() {
          const { sql, sync, table } = yield* setupServer()
          const now = yield* Clock.currentTimeMillis
          const a = wire({ clientId: "dup-a", userId: "u1", wallMs: now - 5000, patches: [
            { op: "INSERT", table, rowId: "d1", forward: "{\"id\": \"d1\", \"n\": 9223372036854775807, \"title\": \"x\"}", reverse: null }
          ] })
          const b = wire({ clientId: "dup-a", userId: "u1", wallMs: now - 4000, patches: [update(table, "d1", { title: "y" }, { title: "x" })] })
          const basis = yield* sync.head("u1")
          const first = yield* sync.upload("u1", request("dup-a", basis, [a, b]))
          const before = yield* stored(sql, table)
          const again = yield* sync.upload("u1", request("dup-a", basis, [a, b]))
          assert.deepStrictEqual(again, first)
          assert.deepStrictEqual(yield* stored(sql, table), before)
          // Re-sent JSON with other formatting is the same content.
          const reformatted = { ...a, patches: [{ ...a.patches[0]!, forward: "{ \"n\": 9223372036854775807,\n  \"id\": \"d1\", \"title\": \"x\" }" }] }
          assert.deepStrictEqual(yield* sync.upload("u1", request("dup-a", basis, [reformatted])), { accepted: [first.accepted[0]!], head: first.head })
          // A stored action alongside a new one: the old keeps its sequence, the new gets the next.
          const c = wire({ clientId: "dup-a", userId: "u1", wallMs: now - 3000, patches: [update(table, "d1", { title: "z" }, { title: "y" })] })
          const mixed = yield* sync.upload("u1", request("dup-a", basis, [b, c]))
          assert.deepStrictEqual(mixed.accepted, [first.accepted[1]!, { id: c.id, serverSeq: first.head + 1 }])
          // The same id with other content is refused, and nothing of the upload is stored.
          const after = yield* stored(sql, table)
          const d = wire({ clientId: "dup-a", userId: "u1", wallMs: now - 2000, patches: [insert(table, { id: "d2" })] })
          const changed = { ...c, patches: [{ ...c.patches[0]!, forward: "{\"title\": \"other\"}" }] }
          const conflict = failureOf(yield* Effect.exit(sync.upload("u1", request("dup-a", mixed.head, [d, changed]))))
          assert.strictEqual(conflict._tag, "UploadRejected")
          if (conflict._tag === "UploadRejected") {
            assert.strictEqual(conflict.reason, "Conflict")
            assert.strictEqual(conflict.actionId, c.id)
          }
          assert.deepStrictEqual(yield* stored(sql, table), after)
          assert.deepStrictEqual(yield* titles(sql, table), [{ id: "d1", title: "z", body: null }])
        }))
    })

    validationTests(it)

    describe("head gate", () => {
      /** Verifies: R-SYNC-6 */
      it.effect("refuses an upload behind another client's actions with BehindHead, then accepts it at the new basis", () =>
        Effect.gen(function*() {
          const { sql, sync, table } = yield* setupServer()
          const now = yield* Clock.currentTimeMillis
          const basis = yield* sync.head("ua")
          const first = yield* sync.upload("ua", request("gate-a", basis, [
            wire({ clientId: "gate-a", userId: "ua", wallMs: now - 5000, patches: [insert(table, { id: "g1" })] })
          ]))
          // A client's own actions never put it behind.
          const own = yield* sync.upload("ua", request("gate-a", basis, [
            wire({ clientId: "gate-a", userId: "ua", wallMs: now - 4000, patches: [insert(table, { id: "g2" })] })
          ]))
          const before = yield* stored(sql, table)
          const late = [wire({ clientId: "gate-b", userId: "ub", wallMs: now - 3000, patches: [insert(table, { id: "g3" })] })]
          const behind = failureOf(yield* Effect.exit(sync.upload("ub", request("gate-b", basis, late))))
          assert.strictEqual(behind._tag, "BehindHead")
          if (behind._tag === "BehindHead") {
            assert.deepStrictEqual([behind.basis, behind.head], [basis, own.head])
            assert.instanceOf(behind, SyncProtocol.BehindHead)
          }
          assert.deepStrictEqual(yield* stored(sql, table), before)
          const stillBehind = failureOf(yield* Effect.exit(sync.upload("ub", request("gate-b", first.head, late))))
          assert.strictEqual(stillBehind._tag, "BehindHead")
          const accepted = yield* sync.upload("ub", request("gate-b", own.head, late))
          assert.deepStrictEqual(accepted.accepted.map((a) => a.serverSeq), [own.head + 1])
          // Now the first client is behind the second one's action.
          const next = [wire({ clientId: "gate-a", userId: "ua", wallMs: now - 2000, patches: [] })]
          const aBehind = failureOf(yield* Effect.exit(sync.upload("ua", request("gate-a", own.head, next))))
          assert.strictEqual(aBehind._tag === "BehindHead" && aBehind.head, accepted.head)
          yield* sync.upload("ua", request("gate-a", accepted.head, next))
          assert.deepStrictEqual((yield* titles(sql, table)).map((r) => r.id), ["g1", "g2", "g3"])
        }))
    })

    describe("late arrivals", () => {
      /** Verifies: R-SRV-2, R-SYNC-4 */
      it.effect("puts a late update in its place, rewriting only the rows it touches", () =>
        Effect.gen(function*() {
          const { sql, sync, table } = yield* setupServer()
          const now = yield* Clock.currentTimeMillis
          const base = (n: number) => now - 60_000 + n * 1000
          const r = { id: "r", title: "orig", body: "orig body", n: null, audience_key: null }
          let head = yield* sync.head("u1")
          head = (yield* sync.upload("u1", request("late-a", head, [wire({ clientId: "late-a", userId: "u1", wallMs: base(1), patches: [
            insert(table, r),
            insert(table, { id: "s", title: "s1" }),
            insert(table, { id: "t", title: "t1" })
          ] })]))).head
          head = (yield* sync.upload("u2", request("late-b", head, [wire({ clientId: "late-b", userId: "u2", wallMs: base(3), patches: [
            update(table, "r", { title: "later" }, { title: "orig" }),
            update(table, "s", { title: "s2" }, { title: "s1" })
          ] })]))).head
          const xmin = () => sql<{ id: string; xmin: string }>`SELECT id, xmin::text AS xmin FROM ${sql(table)} ORDER BY id`
          const before = yield* xmin()
          const log = yield* logPosition(sql)
          // Older than the update above: it changes the title (overwritten later) and the body.
          yield* sync.upload("u3", request("late-c", head, [wire({ clientId: "late-c", userId: "u3", wallMs: base(2), patches: [
            update(table, "r", { title: "late", body: "late body" }, { title: "orig", body: "orig body" })
          ] })]))
          assert.deepStrictEqual(yield* titles(sql, table), [
            { id: "r", title: "later", body: "late body" },
            { id: "s", title: "s2", body: null },
            { id: "t", title: "t1", body: null }
          ])
          // Only row r was rewritten: undo the later update, apply the late one, redo the later one,
          // each under its author. s (touched by the later action) and t were not.
          assert.deepStrictEqual(yield* writesSince(sql, table, log), [
            ["r", "UPDATE", "u2"],
            ["r", "UPDATE", "u3"],
            ["r", "UPDATE", "u2"]
          ])
          const after = yield* xmin()
          assert.deepStrictEqual(after.filter((x) => x.id !== "r"), before.filter((x) => x.id !== "r"))
          assert.notStrictEqual(after.find((x) => x.id === "r")?.xmin, before.find((x) => x.id === "r")?.xmin)
        }))

      /** Verifies: R-SRV-2, R-SYNC-4 */
      it.effect("does not resurrect a row deleted later: neither by a late insert nor by a late update", () =>
        Effect.gen(function*() {
          const { sql, sync, table } = yield* setupServer()
          const now = yield* Clock.currentTimeMillis
          const base = (n: number) => now - 60_000 + n * 1000
          const row = { id: "k", title: "created late", body: null, n: null, audience_key: null }
          const other = { id: "o", title: "other", body: null, n: null, audience_key: null }
          let head = yield* sync.head("u1")
          head = (yield* sync.upload("u1", request("res-a", head, [
            wire({ clientId: "res-a", userId: "u1", wallMs: base(1), patches: [insert(table, other)] })
          ]))).head
          // The deletes arrive first (their author had seen the rows), the creations later.
          head = (yield* sync.upload("u2", request("res-b", head, [wire({ clientId: "res-b", userId: "u2", wallMs: base(5), patches: [
            remove(table, { ...row, title: "renamed" }),
            remove(table, { ...other, title: "other 2" })
          ] })]))).head
          assert.deepStrictEqual(yield* titles(sql, table), [])
          head = (yield* sync.upload("u3", request("res-c", head, [
            wire({ clientId: "res-c", userId: "u3", wallMs: base(2), patches: [insert(table, row)] }),
            wire({ clientId: "res-c", userId: "u3", wallMs: base(3), patches: [
              update(table, "k", { title: "renamed" }, { title: "created late" }),
              update(table, "o", { title: "other 2" }, { title: "other" })
            ] })
          ]))).head
          assert.deepStrictEqual(yield* titles(sql, table), [])
          // And a later action's effects stay: a row inserted after the deletes is untouched.
          yield* sync.upload("u1", request("res-a", head, [
            wire({ clientId: "res-a", userId: "u1", wallMs: base(6), patches: [insert(table, { id: "n", title: "new" })] })
          ]))
          assert.deepStrictEqual((yield* titles(sql, table)).map((r) => r.id), ["n"])
        }))

      /** Verifies: R-SRV-1, R-SRV-2 */
      it.effect("materializes a mixed batch in canonical order, with a late action among them", () =>
        Effect.gen(function*() {
          const { sql, sync, table } = yield* setupServer()
          const now = yield* Clock.currentTimeMillis
          const base = (n: number) => now - 60_000 + n * 1000
          let head = yield* sync.head("u1")
          head = (yield* sync.upload("u1", request("bat-a", head, [
            wire({ clientId: "bat-a", userId: "u1", wallMs: base(1), patches: [insert(table, { id: "p", title: "p0" })] }),
            wire({ clientId: "bat-a", userId: "u1", wallMs: base(10), patches: [update(table, "p", { title: "p-later" }, { title: "p0" })] })
          ]))).head
          const log = yield* logPosition(sql)
          const at = (n: number, patches: Parameters<typeof wire>[0]["patches"]) =>
            wire({ clientId: "bat-b", userId: "u2", wallMs: base(n), patches })
          const full = (id: string, title: string) => ({ id, title, body: "x", n: null, audience_key: null })
          const batch = [
            at(2, [insert(table, full("a", "a1")), insert(table, { ...full("b", "b1"), n: "12345678901234567" })]),
            at(3, [insert(table, full("c", "c1"))]),
            at(4, [insert(table, { id: "d" })]),
            at(5, [remove(table, { ...full("b", "b1"), n: "12345678901234567" })]),
            at(6, [insert(table, full("b", "b2")), insert(table, full("e", "e1"))]),
            // Late: the materialized action at base(10) changed row p after it.
            at(7, [update(table, "p", { title: "p-late", body: "late body" }, { title: "p0", body: null })]),
            at(8, [insert(table, full("f", "f1"))]),
            at(9, [update(table, "a", { title: "a2" }, { title: "a1" })])
          ]
          // Sent in reverse: sequences follow the request, materialization the HLC order.
          const response = yield* sync.upload("u2", request("bat-b", head, [...batch].reverse()))
          assert.deepStrictEqual(response.accepted.map((x) => x.serverSeq), batch.map((_, i) => head + 1 + i))
          assert.deepStrictEqual(yield* titles(sql, table), [
            { id: "a", title: "a2", body: "x" },
            { id: "b", title: "b2", body: "x" },
            { id: "c", title: "c1", body: "x" },
            { id: "d", title: null, body: null },
            { id: "e", title: "e1", body: "x" },
            { id: "f", title: "f1", body: "x" },
            { id: "p", title: "p-later", body: "late body" }
          ])
          assert.deepStrictEqual(yield* writesSince(sql, table, log), [
            ["a", "INSERT", "u2"],
            ["b", "INSERT", "u2"],
            ["c", "INSERT", "u2"],
            ["d", "INSERT", "u2"],
            ["b", "DELETE", "u2"],
            ["b", "INSERT", "u2"],
            ["e", "INSERT", "u2"],
            ["p", "UPDATE", "u1"],
            ["p", "UPDATE", "u2"],
            ["p", "UPDATE", "u1"],
            ["f", "INSERT", "u2"],
            ["a", "UPDATE", "u2"]
          ])
          // The log hands the patches back as sent.
          const page = yield* sync.fetch("u2", { since: head, limit: 100 })
          assert.deepStrictEqual(page.actions.map((a) => a.patches.length), [...batch].reverse().map((a) => a.patches.length))
        }))
    })
  })
