/**
 * Two clients syncing through a real server over WebSocket (`SyncRpcServer` on loopback, real
 * tokens), everything they hold read through `Inspect` (R-CLI-5), an action the server
 * rejects quarantined, listed with its reason and undone (R-REC-3), and a correction record
 * shown as one (R-SYNC-3).
 */
import { assert, it } from "@effect/vitest"
import { Quarantine, SyncEngine } from "@reprise/core"
import { SyncRpcServer } from "@reprise/server"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Client, Inspect, Storage } from "../src/index.js"
import { actions, createNote, migrations, renameNote } from "./fixtures.js"
import { serverLayer, webSocketTransport } from "./server.js"

/** Writes a draft: a table the clients track and the server does not, so the server rejects it. */
const writeDraft = Action.make({
  tag: "draft.write.v1",
  args: Schema.Struct({ body: Schema.String }),
  run: ({ body }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("draft")
      yield* sql`INSERT INTO drafts ${sql.insert({ id, body, audience_key: "team-1" })}`
      return id
    })
})

/** Counts the notes it sees into one shared counter row: its result depends on which notes replay before it. */
const countNotes = Action.make({
  tag: "notes.count.v1",
  args: Schema.Struct({}),
  run: () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO counters (id, n, audience_key) SELECT 'notes', count(*)::int, 'team-1' FROM notes
        ON CONFLICT (id) DO UPDATE SET n = excluded.n`
    })
})

const counters = { name: "counters", sql: "CREATE TABLE counters (id text PRIMARY KEY, n integer NOT NULL, audience_key text)" }

const clientMigrations = [
  ...migrations,
  counters,
  { name: "drafts", sql: "CREATE TABLE drafts (id text PRIMARY KEY, body text NOT NULL, audience_key text)" }
]

const openClient = (address: SyncRpcServer.AddressShape, userId: string) =>
  Layer.build(Client.layer({
    storage: Storage.memory(),
    migrations: clientMigrations,
    tables: ["notes", "counters", "drafts"],
    actions: [...actions, countNotes, writeDraft],
    userId,
    transport: webSocketTransport(address, userId)
  }))

/** Verifies: R-CLI-5, R-REC-3, R-SYNC-1, R-SYNC-3 */
it.live("two clients sync through a real server over WebSocket; Inspect shows synced, pending, quarantined and correction records", () =>
  Effect.gen(function*() {
    const address = yield* Effect.map(Layer.build(serverLayer(["notes", "counters"], [...migrations, counters].map((m) => m.sql))), (context) => Context.get(context, SyncRpcServer.Address))
    const alice = yield* openClient(address, "alice")
    const bob = yield* openClient(address, "bob")
    // Two databases, two client ids, each kept by its database (R-CLI-5's reopen case: Client.test.ts).
    const ids = yield* Effect.all([alice, bob].map((c) => Effect.map(Effect.provide(Client.Client, c), (x) => x.clientId)))
    assert.notStrictEqual(ids[0], ids[1])
    const on = <A, E>(client: typeof alice, effect: Effect.Effect<A, E, Client.Services>) => Effect.provide(effect, client)
    const sync = Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync)
    const inspect = <A, E>(f: (i: Inspect.InspectShape) => Effect.Effect<A, E>) => Effect.flatMap(Inspect.Inspect, f)

    const id = yield* on(alice, Client.run(createNote, { title: "From Alice", team: "team-1" }))
    yield* on(alice, Client.run(writeDraft, { body: "not for the server" }))
    assert.deepStrictEqual(yield* on(alice, inspect((i) => i.counts)), { pending: 2, quarantined: 0 })
    const draftAction = (yield* on(alice, inspect((i) => i.pending)))[1]!

    const report = yield* on(alice, sync)
    assert.strictEqual(report.uploaded, 1)
    assert.strictEqual(report.quarantined, 1)
    const aliceView = yield* on(alice, Effect.all({
      pending: inspect((i) => i.pending),
      synced: inspect((i) => i.synced()),
      quarantined: inspect((i) => i.quarantined),
      counts: inspect((i) => i.counts),
      cursor: inspect((i) => i.cursor),
      last: inspect((i) => i.lastSync),
      drafts: Client.query("SELECT id FROM drafts")
    }))
    assert.deepStrictEqual(aliceView.pending, [])
    assert.deepStrictEqual(aliceView.synced.map((a) => [a.tag, a.args, a.own, a.serverSeq !== null]), [
      ["note.create.v1", { title: "From Alice", team: "team-1" }, true, true]
    ])
    assert.strictEqual(aliceView.quarantined.length, 1)
    const [quarantined] = aliceView.quarantined
    assert.strictEqual(quarantined!.id, draftAction.id)
    assert.strictEqual(quarantined!.hlc, draftAction.hlc)
    assert.strictEqual(quarantined!.tag, "draft.write.v1")
    assert.deepStrictEqual(quarantined!.args, { body: "not for the server" })
    assert.strictEqual(quarantined!.reason, "UntrackedTable")
    assert.deepStrictEqual(aliceView.counts, { pending: 0, quarantined: 1 })
    assert.deepStrictEqual(aliceView.drafts, [], "the quarantined action's effects are undone")
    assert.isTrue(Option.isSome(aliceView.last) && aliceView.last.value._tag === "Success")
    // The cursor skips the replica's own upload when nothing else sits before it.
    assert.strictEqual(aliceView.cursor, aliceView.synced[0]!.serverSeq)

    // Bob receives Alice's note, renames it, and Alice receives the rename.
    yield* on(bob, sync)
    const bobSynced = yield* on(bob, inspect((i) => i.synced()))
    assert.deepStrictEqual(bobSynced.map((a) => [a.tag, a.own, a.userId]), [["note.create.v1", false, "alice"]])
    yield* on(bob, Client.run(renameNote, { id, title: "Renamed by Bob" }))
    yield* on(bob, sync)
    yield* on(alice, sync)
    const notes = (client: typeof alice) => on(client, Client.query<{ id: string; title: string }>("SELECT id, title FROM notes"))
    assert.deepStrictEqual(yield* notes(alice), [{ id, title: "Renamed by Bob" }])
    assert.deepStrictEqual(yield* notes(bob), yield* notes(alice))
    const aliceLog = yield* on(alice, inspect((i) => i.synced()))
    assert.deepStrictEqual(aliceLog.map((a) => [a.tag, a.userId]), [["note.create.v1", "alice"], ["note.rename.v1", "bob"]])
    assert.strictEqual(yield* on(alice, inspect((i) => i.cursor)), aliceLog[1]!.serverSeq)

    // Discarding the quarantined draft empties the quarantine.
    yield* on(alice, Effect.flatMap(Quarantine.Quarantine, (q) => q.discard(quarantined!.id)))
    assert.deepStrictEqual(yield* on(alice, inspect((i) => i.counts)), { pending: 0, quarantined: 0 })

    // A correction (R-SYNC-3): Bob adds a note offline; after it, Alice adds one and counts the
    // notes she sees (2). Bob's replay puts his note before her count, which then sees 3: he
    // records a correction, and Inspect says so on both clients.
    yield* on(bob, Client.run(createNote, { title: "Bob offline", team: "team-1" }))
    yield* Effect.sleep("20 millis")
    yield* on(alice, Client.run(createNote, { title: "Alice offline", team: "team-1" }))
    yield* Effect.sleep("20 millis")
    yield* on(alice, Client.run(countNotes, {}))
    yield* on(alice, sync)
    const bobReport = yield* on(bob, sync)
    assert.strictEqual(bobReport.corrections, 1)
    yield* on(alice, sync)
    for (const client of [alice, bob]) {
      const log = yield* on(client, inspect((i) => i.synced()))
      const corrections = log.filter((a) => a.correction)
      assert.strictEqual(corrections.length, 1)
      assert.strictEqual(corrections[0]!.kind, "correction")
      assert.strictEqual(corrections[0]!.userId, "bob")
      assert.isNotNull(corrections[0]!.serverSeq)
      assert.isTrue(log.filter((a) => !a.correction).every((a) => a.kind === "action"))
      const [counter] = yield* on(client, Client.query<{ n: number }>("SELECT n FROM counters"))
      assert.strictEqual(counter!.n, 3)
    }
  }).pipe(Effect.scoped), 360_000)

/** Verifies: R-CLI-5 (server order is numeric: sequence 10 comes after 9, not after 1) */
it.live("Inspect.synced lists more than ten actions in server order and pages through them", () =>
  Effect.gen(function*() {
    const address = yield* Effect.map(Layer.build(serverLayer(["notes", "counters"], [...migrations, counters].map((m) => m.sql))), (context) => Context.get(context, SyncRpcServer.Address))
    const alice = yield* openClient(address, "alice")
    for (let i = 0; i < 12; i++) yield* Effect.provide(Client.run(createNote, { title: `note ${i}`, team: "team-1" }), alice)
    yield* Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync), alice)
    const all = yield* Effect.provide(Effect.flatMap(Inspect.Inspect, (i) => i.synced()), alice)
    const seqs = all.map((a) => a.serverSeq!)
    assert.strictEqual(seqs.length, 12)
    assert.deepStrictEqual(seqs, [...seqs].sort((a, b) => a - b))
    const page = yield* Effect.provide(Effect.flatMap(Inspect.Inspect, (i) => i.synced({ since: seqs[7]!, limit: 3 })), alice)
    assert.deepStrictEqual(page.map((a) => a.serverSeq), seqs.slice(8, 11))
  }).pipe(Effect.scoped), 120_000)
