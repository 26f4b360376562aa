/**
 * Private data, end to end (R-SRV-3 with R-SYNC-3): the server filters the log by audience,
 * replicas replay what they can see, correct what they may, adopt the server's rows where they
 * see less than the writer did, and every replica converges with the server's rows in its own
 * audiences, holding nothing outside them.
 *
 * Audiences: `team` (alice, bob, carol), `ops` (bob, eve), and each user's private one.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionExecutor, ActionIds, ActionRegistry, SyncEngine, SyncSchema, Tracking } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { InProcessTransport, SyncService } from "../../src/index.js"
import { request, wire } from "./helpers.js"

const AUDIENCES: Record<string, ReadonlyArray<string>> = {
  alice: ["team", "private:alice"],
  bob: ["team", "ops", "private:bob"],
  carol: ["team"],
  eve: ["ops"]
}

const TABLES = `
  CREATE TABLE tasks (id text PRIMARY KEY, title text NOT NULL, tag text, done boolean NOT NULL DEFAULT false,
    audience_key text);
  CREATE TABLE stats (id text PRIMARY KEY, open integer NOT NULL, audience_key text);`

const createTask = Action.make({
  tag: "task.create.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String, tag: Schema.String, audience: Schema.String }),
  run: ({ audience, id, tag, title }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`INSERT INTO tasks ${sql.insert({ id, title, tag, audience_key: audience })}`)
})
// Renames a tag on every task the replica running it can see: a replica that sees tasks the
// author could not renames those too (an additive difference, corrected).
const renameTag = Action.make({
  tag: "tag.rename.v1",
  args: Schema.Struct({ from: Schema.String, to: Schema.String }),
  run: ({ from, to }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // One row at a time, in id order, so the captured patches come out in the same order on
      // every replay (docs/actions.md).
      const tasks = yield* sql<{ id: string }>`SELECT id FROM tasks WHERE tag = ${from} ORDER BY id`
      for (const { id } of tasks) yield* sql`UPDATE tasks SET tag = ${to} WHERE id = ${id}`
    })
})
// Writes a shared row from every task the replica can see: a replica that sees less than the
// author computes less, so the author's result stands ("author" authority).
const recount = Action.make({
  tag: "stats.recount.v1",
  authority: "author",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`
        INSERT INTO stats (id, open, audience_key)
        SELECT ${id}, count(*)::int, 'team' FROM tasks WHERE NOT done
        ON CONFLICT (id) DO UPDATE SET open = excluded.open`)
})
// A team task plus a line in the author's private journal: a replica outside that audience
// replays the journal insert too, and must not keep the row.
const createLogged = Action.make({
  tag: "task.create-logged.v1",
  args: Schema.Struct({ title: Schema.String, journal: Schema.String }),
  run: ({ journal, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const ids = yield* ActionIds.ActionIds
      yield* sql`INSERT INTO tasks ${sql.insert({ id: ids.id("task"), title, tag: null, audience_key: "team" })}`
      yield* sql`INSERT INTO tasks ${
        sql.insert({ id: ids.id("journal"), title: `created ${title}`, tag: null, audience_key: journal })
      }`
    })
})
class Refused extends Data.TaggedError("Refused")<{ readonly reason: string }> {}
// Takes a slot on a board: a team task, refused while the board (a task) does not exist.
const claimSlot = Action.make({
  tag: "slot.claim.v1",
  args: Schema.Struct({ id: Schema.String, board: Schema.String }),
  run: ({ board, id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if ((yield* sql`SELECT 1 FROM tasks WHERE id = ${board}`).length === 0) {
        return yield* new Refused({ reason: `no board ${board}` })
      }
      yield* sql`INSERT INTO tasks ${sql.insert({ id, title: "slot", tag: board, audience_key: "team" })}`
    })
})
// Gives a slot back: refused when it is not taken.
const releaseSlot = Action.make({
  tag: "slot.release.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if ((yield* sql`DELETE FROM tasks WHERE id = ${id} RETURNING id`).length === 0) {
        return yield* new Refused({ reason: `slot ${id} is not taken` })
      }
    })
})
const actions = [createTask, renameTag, recount, createLogged, claimSlot, releaseSlot]

type Server = ManagedRuntime.ManagedRuntime<SyncService.SyncService | SqlClient.SqlClient, unknown>
type Replica = ManagedRuntime.ManagedRuntime<
  SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient,
  unknown
>

const makeServer = async (db: Layer.Layer<SqlClient.SqlClient, unknown>): Promise<Server> => {
  const service = SyncService.layer({ audiences: (userId) => Effect.succeed(AUDIENCES[userId] ?? []) })
  const runtime = ManagedRuntime.make(Layer.provideMerge(service, db))
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(TABLES)
    yield* Tracking.install(["tasks", "stats"])
  }))
  return runtime
}

const makeReplica = async (server: Server, userId: string): Promise<Replica> => {
  const service = await server.runPromise(SyncService.SyncService)
  const base = Layer.merge(PgliteClient.layer({}), ActionRegistry.layer(actions))
  const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
  const transport = InProcessTransport.layer(userId).pipe(Layer.provide(Layer.succeed(SyncService.SyncService, service)))
  // One upload attempt: a BehindHead would surface as an error instead of being retried.
  const runtime = ManagedRuntime.make(
    Layer.provideMerge(SyncEngine.layer({ maxUploadAttempts: 1 }), Layer.merge(executor, transport))
  )
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(TABLES)
    yield* SyncSchema.install()
    yield* Tracking.install(["tasks", "stats"])
  }))
  return runtime
}

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

const exec = <A, I, Out, E>(runtime: Replica, action: Action.Action<string, A, I, Out, E, Action.Provided>, args: A) =>
  runtime.runPromise(ActionExecutor.execute(action, args))

/** The ids of the action records a replica holds. */
const recordIds = (runtime: Replica) =>
  runtime.runPromise(Effect.map(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records`),
    (rows) => new Set(rows.map((r) => r.id))
  ))

const sync = (runtime: Replica) => runtime.runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))

/** Registers the scenario with the server on `serverDb`. */
export const privateDataScenarios = (name: string, serverDb: () => Layer.Layer<SqlClient.SqlClient, unknown>) =>
  describe(`Private data (server on ${name})`, () => {
    let server: Server
    const replicas = new Map<string, Replica>()
    const replica = (user: string) => replicas.get(user)!

    beforeAll(async () => {
      server = await makeServer(serverDb())
      for (const user of Object.keys(AUDIENCES)) replicas.set(user, await makeReplica(server, user))
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
      const page = await server.runPromise(Effect.flatMap(SyncService.SyncService, (service) =>
        service.fetch("eve", { since: 0, limit: 1000 })))
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
      const page = await server.runPromise(Effect.flatMap(SyncService.SyncService, (service) =>
        service.fetch("alice", { since: 0, limit: 1000 })))
      const restating = page.actions.filter((a) => a.kind === "correction" && a.userId === "carol" && a.patches.length === 0)
      assert.strictEqual(restating.length, 1)
      const restated = (restating[0]!.args as { readonly input: { readonly restates: ReadonlyArray<string> } }).input.restates
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
      const misplaced = wire({
        clientId: "carol-forged",
        userId: "carol",
        wallMs: Date.now(),
        patches: [],
        tag: "reprise.correction.v1",
        input: { rows: [], restates: [...restated], audience: "ops" }
      })
      const refused = await server.runPromise(Effect.flip(Effect.flatMap(SyncService.SyncService, (service) =>
        service.upload("carol", request("carol-forged", page.head, [{ ...misplaced, kind: "correction" }])))))
      assert.strictEqual(refused._tag, "UploadRejected")
      assert.include(refused.message, "not one of the uploader's")
    }, 120_000)
  })
