/**
 * Private data, end to end (R-SRV-3 with R-SYNC-3): the server filters the log by audience,
 * replicas replay what they can see, correct what they may, adopt the server's rows where they
 * see less than the writer did, and every replica converges with the server's rows in its own
 * audiences, holding nothing outside them. Replicas and server are connected through the
 * harness's transport, and what the server answers a user is read through it too.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Hlc, SyncEngine, type SyncProtocol } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Harness } from "../SyncSuite.js"
import { AUDIENCES, claimSlot, createLogged, createTask, recount, releaseSlot, renameTag, tasksApp } from "./tasks.js"
import { asUser, exec, type Replica, type Server, startReplica, startServer } from "./world.js"

type Row = { readonly table: string; readonly id: string; readonly row: string; readonly audience: string | null }

/** Every row of both tables as Postgres renders it, with its audience key. */
const allRows = (runtime: Server | Replica) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<Row>`
      SELECT 'tasks' AS "table", id, t::text AS row, audience_key AS audience FROM tasks t
      UNION ALL
      SELECT 'stats', id, s::text, audience_key FROM stats s
      ORDER BY 1, 2`))

const inScope = (user: string) => (row: Row) => row.audience === null || AUDIENCES[user]!.includes(row.audience)

/** The ids of the action records a replica holds. */
const recordIds = (runtime: Replica) =>
  runtime.runPromise(Effect.map(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records`),
    (rows) => new Set(rows.map((r) => r.id))
  ))

const sync = (runtime: Replica) => runtime.runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))

/** The args of a correction, as far as these scenarios read them. */
const CorrectionArgs = Schema.Struct({ input: Schema.Struct({ restates: Schema.Array(Schema.String) }) })

/** Registers the private-data scenarios for `harness`. */
export const privateDataScenarios = (harness: Harness) =>
  describe(`Private data (${harness.name})`, () => {
    let server: Server
    const replicas = new Map<string, Replica>()
    const replica = (user: string) => replicas.get(user)!
    /** The whole log as `user` may see it, fetched through the transport. */
    const logAs = (user: string) =>
      asUser(harness, server, user, (transport) => transport.fetch({ since: 0, limit: 1000 }))

    beforeAll(async () => {
      server = await startServer(harness, tasksApp, { audiences: (userId) => Effect.succeed(AUDIENCES[userId] ?? []) })
      // One upload attempt: a BehindHead would surface as an error instead of being retried.
      for (const user of Object.keys(AUDIENCES)) {
        replicas.set(user, await startReplica(harness, server, tasksApp, user, { engine: { maxUploadAttempts: 1 } }))
      }
    }, 120_000)

    afterAll(async () => {
      for (const runtime of replicas.values()) await runtime.dispose()
      await server?.dispose()
    })

    /** Each replica holds exactly the server's rows in its audiences: equal, and nothing else. */
    const convergedPerScope = async () => {
      const onServer = await allRows(server)
      for (const [user, runtime] of replicas) {
        assert.deepStrictEqual(await allRows(runtime), onServer.filter(inScope(user)), `${user}'s scope`)
      }
      return onServer
    }
    const syncAll = async () => {
      for (const user of ["alice", "bob", "carol", "eve"]) await sync(replica(user))
    }

    /** Verifies: R-SRV-3, R-SYNC-3, R-SYNC-6 */
    it("filters the log by audience, corrects what a replica sees beyond the author, keeps the author's result where it must, and converges per scope", async () => {
      // Tasks tagged "urgent" in every audience.
      await exec(replica("alice"), createTask, { id: "t1", title: "team task", tag: "urgent", audience: "team" })
      await exec(replica("alice"), createTask, { id: "a1", title: "alice's", tag: "urgent", audience: "private:alice" })
      await exec(replica("bob"), createTask, { id: "b1", title: "bob's", tag: "urgent", audience: "private:bob" })
      await exec(replica("bob"), createTask, { id: "o1", title: "ops task", tag: "urgent", audience: "ops" })
      await syncAll()
      await syncAll()
      let onServer = await convergedPerScope()
      assert.strictEqual(onServer.length, 4)
      // Carol sees the team task only; Eve the ops task only (R-SRV-3).
      assert.deepStrictEqual((await allRows(replica("carol"))).map((r) => r.id), ["t1"])
      assert.deepStrictEqual((await allRows(replica("eve"))).map((r) => r.id), ["o1"])

      // Alice renames the tag: she changes t1 and a1, the tasks she can see.
      await exec(replica("alice"), renameTag, { from: "urgent", to: "now" })
      assert.strictEqual((await sync(replica("alice"))).uploaded, 1)
      // Bob's replay also renames b1 and o1, which Alice could not see: rows nobody else wrote
      // since, so Bob corrects the server (the additive case of R-SYNC-3): one correction per
      // audience (private:bob for b1, ops for o1), so each restates the rename to its own users.
      const bob = await sync(replica("bob"))
      assert.deepStrictEqual([bob.corrections, bob.adopted, bob.uploaded], [2, 0, 2])
      // None of Alice's rename's patches is in ops, but Eve receives Bob's correction of o1 and,
      // with it, the rename it restates (without its patches): she replays the rename herself.
      // She does not receive the correction of Bob's private b1.
      const eve = await sync(replica("eve"))
      assert.deepStrictEqual([eve.fetched, eve.corrections], [2, 0])
      assert.include((await allRows(replica("eve")))[0]!.row, ",now,")
      // Carol receives the rename with t1's patch only, and nothing of Bob's correction.
      const carol = await sync(replica("carol"))
      assert.deepStrictEqual([carol.fetched, carol.corrections], [1, 0])
      onServer = await convergedPerScope()
      assert.deepStrictEqual(onServer.filter((r) => r.table === "tasks").map((r) => r.row.includes(",now,")), [
        true,
        true,
        true,
        true
      ])

      // Alice counts open tasks into a team row: 2 (t1 and her own a1). Carol and Bob replay it
      // over what they see (1 and 3 tasks); they see less than Alice and the action is of
      // "author" authority, so her count stands on their replicas, and nobody corrects it.
      await exec(replica("alice"), recount, { id: "open" })
      await sync(replica("alice"))
      const carolCount = await sync(replica("carol"))
      const bobCount = await sync(replica("bob"))
      assert.deepStrictEqual([carolCount.replayed, carolCount.corrections], [1, 0])
      assert.deepStrictEqual([bobCount.replayed, bobCount.corrections], [1, 0])
      onServer = await convergedPerScope()
      assert.include(onServer.find((r) => r.table === "stats")!.row, "(open,2,team)")

      // Alice creates a team task and a line in her private journal. Carol and Bob replay both
      // inserts; the journal row is outside their audiences, so they drop it.
      await exec(replica("alice"), createLogged, { title: "logged", journal: "private:alice" })
      await syncAll()
      onServer = await convergedPerScope()
      assert.strictEqual(onServer.filter((r) => r.audience === "private:alice").length, 2)

      // The cursor moves past actions a replica may not see, and the head gate compares with
      // what it can see: Eve uploads after Alice's private work without being sent back.
      await exec(replica("alice"), createTask, { id: "a2", title: "alice again", tag: "x", audience: "private:alice" })
      await sync(replica("alice"))
      await exec(replica("eve"), createTask, { id: "o2", title: "ops two", tag: "x", audience: "ops" })
      const evePush = await replica("eve").runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.push))
      assert.deepStrictEqual([evePush.uploaded, evePush.fetched], [1, 0])
      const page = await logAs("eve")
      assert.deepStrictEqual(page.audiences, ["ops"])
      assert.strictEqual(page.next, page.head)
      for (const action of page.actions) {
        for (const patch of action.patches) assert.strictEqual(patch.audienceKey, "ops")
        // Eve sees all of her own actions' audiences, and less than Bob's.
        assert.strictEqual(action.fullView, action.userId === "eve")
      }

      // A fixed point: another round corrects, adopts and uploads nothing.
      await syncAll()
      for (const user of Object.keys(AUDIENCES)) {
        const again = await sync(replica(user))
        assert.deepStrictEqual([again.corrections, again.adopted, again.uploaded, again.replayed], [0, 0, 0, 0], user)
      }
      await convergedPerScope()
    }, 120_000)

    /** Verifies: R-SRV-3, R-SYNC-3 */
    it("restates an action the server hides from an audience as soon as a replay shows it writing there, even with no row left to correct", async () => {
      // Bob creates a board, everyone receives it.
      const board = `board-${Date.now()}`
      const slot = `${board}-slot`
      const tick = () => new Promise((resolve) => setTimeout(resolve, 5))
      await exec(replica("bob"), createTask, { id: board, title: "board", tag: "board", audience: "team" })
      await sync(replica("bob"))
      await syncAll()
      // Bob removes the board and, offline, puts it back. Meanwhile Carol, offline, claims a
      // slot on the board and gives it back.
      await exec(replica("bob"), releaseSlot, { id: board })
      await sync(replica("bob"))
      await tick()
      await exec(replica("bob"), createTask, { id: board, title: "board", tag: "board", audience: "team" })
      await tick()
      await exec(replica("carol"), claimSlot, { id: slot, board })
      await tick()
      await exec(replica("carol"), releaseSlot, { id: slot })
      // Carol receives the removal, which comes first: replayed after it, her claim and release
      // are refused, so she uploads them with no patches, and the server shows them to nobody
      // else.
      const hiding = await sync(replica("carol"))
      assert.deepStrictEqual([hiding.reconciled, hiding.uploaded, hiding.corrections], [1, 2, 0])
      assert.strictEqual((await sync(replica("bob"))).uploaded, 1)
      assert.strictEqual((await sync(replica("alice"))).fetched, 2)

      // Carol receives the board put back, which comes first: replayed, her claim now takes the
      // slot and her release frees it. No row differs from the server's in the end, but while the slot
      // was taken it changed what team actions compute, so team users must replay both: Carol
      // restates them into team with a correction that sets no row.
      const carol = await sync(replica("carol"))
      assert.deepStrictEqual([carol.reconciled, carol.corrections, carol.adopted, carol.uploaded], [1, 1, 0, 1])
      const carolIds = await recordIds(replica("carol"))
      const page = await logAs("alice")
      const restating = page.actions.filter((a) => a.kind === "correction" && a.userId === "carol" && a.patches.length === 0)
      assert.strictEqual(restating.length, 1)
      const restated = Schema.decodeUnknownSync(CorrectionArgs)(restating[0]!.args).input.restates
      assert.strictEqual(restated.length, 2)
      for (const id of restated) assert.isTrue(carolIds.has(id))
      // Alice and Bob receive the correction and both actions, and replay them (nothing to
      // correct); Eve (ops only) receives nothing.
      const alice = await sync(replica("alice"))
      assert.deepStrictEqual([alice.fetched, alice.corrections], [3, 0])
      for (const id of restated) assert.isTrue((await recordIds(replica("alice"))).has(id))
      assert.deepStrictEqual([(await sync(replica("bob"))).fetched, (await sync(replica("eve"))).fetched], [3, 0])
      // Restated once: another round restates, corrects and uploads nothing.
      await syncAll()
      for (const user of Object.keys(AUDIENCES)) {
        const again = await sync(replica(user))
        assert.deepStrictEqual([again.corrections, again.adopted, again.uploaded, again.replayed], [0, 0, 0, 0], user)
      }
      await convergedPerScope()

      // A correction is only for one of its author's audiences (or public): the server refuses
      // one for an audience the uploader does not have.
      const now = Date.now()
      const forger = Hlc.NodeId.make("carol-forged")
      const misplaced: SyncProtocol.UploadRequest = {
        clientId: forger,
        basis: page.head,
        actions: [{
          id: crypto.randomUUID(),
          tag: "reprise.correction.v1",
          args: { input: { rows: [], restates: [...restated], audience: "ops" }, timestamp: now },
          clientId: forger,
          userId: "carol",
          hlc: new Hlc.Hlc({ wallMs: now, counter: 0, nodeId: forger }),
          kind: "correction",
          patches: []
        }]
      }
      const refused = await asUser(harness, server, "carol", (transport) => Effect.flip(transport.upload(misplaced)))
      assert.strictEqual(refused._tag, "UploadRejected")
      assert.include(refused.message, "not one of the uploader's")
    }, 120_000)
  })
