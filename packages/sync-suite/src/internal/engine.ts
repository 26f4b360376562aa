/**
 * The engine's scenarios, end to end: client replicas (PGlite) and a server (on the harness's
 * database) connected through the harness's transport, running the todos app. One set of
 * databases serves the whole group; every test works on its own rows.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { type Action, type ActionExecutor, ActionIds, SyncEngine } from "@reprise/core"
import * as Effect from "effect/Effect"
import type { Harness } from "../SyncSuite.js"
import {
  claimTitle,
  createCounter,
  createTodo,
  createUnique,
  increment,
  insertFixed,
  renameTodo,
  todosApp,
  toggleTodo
} from "./todos.js"
import { exec, type Replica, rows, type Server, startReplica, startServer, tick } from "./world.js"

const run = <A, E>(runtime: Replica, effect: Effect.Effect<A, E, SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient>) =>
  runtime.runPromise(effect)

const sync = (runtime: Replica) => run(runtime, Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.requestSync))

/** Registers the engine's scenarios for `harness`. */
export const engineScenarios = (harness: Harness) =>
describe(`SyncEngine (two PGlite clients, ${harness.name})`, () => {
  let server: Server
  let a: Replica
  let b: Replica
  const makeReplica = (userId: string, actions: ReadonlyArray<Action.Any> = todosApp.actions) =>
    startReplica(harness, server, todosApp, userId, { actions, engine: { backoff: "5 millis" } })

  beforeAll(async () => {
    server = await startServer(harness, todosApp)
    a = await makeReplica("user-a")
    b = await makeReplica("user-b")
  }, 120_000)
  afterAll(async () => {
    await a?.dispose()
    await b?.dispose()
    await server?.dispose()
  })

  const converged = async (table: "todos" | "counters") => {
    const onServer = await rows(server, table)
    assert.deepStrictEqual(await rows(a, table), onServer)
    assert.deepStrictEqual(await rows(b, table), onServer)
    return onServer
  }

  /** Verifies: R-SYNC-1 */
  it("fast-forwards a replica with nothing pending", async () => {
    const ids = [await exec(a, createTodo, { title: "one" }), await exec(a, createTodo, { title: "two" })]
    const pushed = await sync(a)
    assert.strictEqual(pushed.uploaded, 2)
    const pulled = await sync(b)
    assert.isAtLeast(pulled.fastForwarded, 2)
    assert.strictEqual(pulled.reconciled, 0)
    const all = await converged("todos")
    for (const id of ids) assert.isTrue(all.some((r) => r.includes(id)))
  }, 60_000)

  /** Verifies: R-SYNC-2, R-SYNC-3, R-SYNC-6 */
  it("reconciles interleaved offline histories: read-then-write increments are not lost, anywhere", async () => {
    await exec(a, createCounter, { id: "c1" })
    await sync(a)
    await sync(b)
    // Offline, interleaved in time: A, B, A.
    await exec(a, increment, { id: "c1" })
    await tick()
    await exec(b, increment, { id: "c1" })
    await tick()
    await exec(a, increment, { id: "c1" })
    await sync(a)
    // B fetches A's two increments, rolls back its own, replays all three in global order,
    // then uploads.
    const report = await sync(b)
    assert.strictEqual(report.reconciled, 1)
    assert.strictEqual(report.uploaded, 2)
    // Replaying A's second increment after B's gives n = 3, which its author never saw: the
    // server, which applies patches and never runs code, would keep n = 2. B records a
    // correction (R-SYNC-3) and uploads it with its increment.
    assert.strictEqual(report.corrections, 1)
    const followUp = await sync(a)
    assert.strictEqual(followUp.corrections, 0)
    const counters = await converged("counters")
    assert.deepStrictEqual(counters, ["(c1,3,team)"])
    // A fixed point: nothing left to correct or upload anywhere.
    for (const replica of [a, b]) {
      const again = await sync(replica)
      assert.deepStrictEqual([again.corrections, again.uploaded, again.replayed], [0, 0, 0])
    }
  }, 60_000)

  /** Verifies: R-SYNC-3, R-SYNC-4 */
  it("keeps correcting the server when an even earlier action arrives after a correction", async () => {
    const c = await makeReplica("user-c")
    const d = await makeReplica("user-d")
    try {
      await exec(a, createCounter, { id: "c2" })
      for (const replica of [a, b, c, d]) await sync(replica)
      // Offline, in this order in time: D, C, A, B each increment.
      for (const replica of [d, c, a, b]) {
        await exec(replica, increment, { id: "c2" })
        await tick()
      }
      await sync(a)
      await sync(b)
      const first = await sync(c)
      assert.strictEqual(first.corrections, 1)
      await sync(a)
      await sync(b)
      assert.deepStrictEqual(await rows(server, "counters").then((r) => r.filter((x) => x.startsWith("(c2"))), ["(c2,3,team)"])
      // D's increment, the earliest of all, arrives after the correction to 3.
      const late = await sync(d)
      assert.strictEqual(late.corrections, 1)
      for (const replica of [a, b, c]) await sync(replica)
      for (const replica of [server, a, b, c, d]) {
        const counters = await rows(replica, "counters")
        assert.include(counters, "(c2,4,team)")
      }
      for (const replica of [a, b, c, d]) {
        const again = await sync(replica)
        assert.deepStrictEqual([again.corrections, again.uploaded, again.replayed], [0, 0, 0])
      }
    } finally {
      await c.dispose()
      await d.dispose()
    }
  }, 120_000)

  /** Verifies: R-SYNC-3 */
  it("converges when two replicas upload competing corrections of one row, computed from different views of the log", async () => {
    const c = await makeReplica("user-c")
    const d = await makeReplica("user-d")
    let e: Replica | undefined
    const counter = (runtime: Server | Replica) => rows(runtime, "counters").then((r) => r.filter((x) => x.startsWith("(c3,")))
    // The corrections of c3 with the value of n they set, in canonical order.
    const correctionsOn = (replica: Replica) =>
      run(replica, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ id: string; user: string; n: number }>`
          SELECT r.id::text AS id, r.user_id AS "user", (k.forward ->> 'n')::int AS n
          FROM reprise.action_records r JOIN reprise.known_patches k ON k.action_id = r.id
          WHERE r.kind = 'correction' AND k.table_name = 'counters' AND k.row_id = 'c3'
          ORDER BY r.hlc, r.id`))
    const serverCorrections = () =>
      server.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ id: string; user: string; n: number; seq: number }>`
          SELECT a.id::text AS id, a.user_id AS "user", (p.forward ->> 'n')::int AS n, a.server_seq::int AS seq
          FROM reprise_server.actions a JOIN reprise_server.patches p ON p.action_id = a.id
          WHERE a.kind = 'correction' AND p.table_name = 'counters' AND p.row_id = 'c3'
          ORDER BY a.hlc, a.id`))
    const serverLogSize = () =>
      server.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions`, ([row]) => row?.n)))
    try {
      await exec(a, createCounter, { id: "c3" })
      for (const replica of [a, b, c, d]) await sync(replica)
      // Offline, in this order in time (so in canonical order): D, C, A, B each increment.
      for (const replica of [d, c, a, b]) {
        await exec(replica, increment, { id: "c3" })
        await tick()
      }
      assert.strictEqual((await sync(a)).uploaded, 1)
      // D sees only A's increment: replaying D, A gives n = 2 where the server's fold gives 1.
      // D records a correction to 2 and keeps it (fetch and apply only, no upload).
      const dPull = await run(d, Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.pull))
      assert.deepStrictEqual([dPull.corrections, dPull.uploaded], [1, 0])
      assert.deepStrictEqual((await correctionsOn(d)).map((x) => x.n), [2])
      await tick()
      // B's increment comes after A's: it replays on A's and needs no correction.
      const bSync = await sync(b)
      assert.deepStrictEqual([bSync.corrections, bSync.uploaded], [0, 1])
      assert.deepStrictEqual(await counter(server), ["(c3,2,team)"])
      // C sees A and B but neither D's increment nor D's correction: replaying C, A, B gives 3
      // where the server's fold gives 2. C corrects the same row to 3 and uploads first.
      const cSync = await sync(c)
      assert.deepStrictEqual([cSync.corrections, cSync.uploaded], [1, 2])
      assert.deepStrictEqual((await correctionsOn(c)).map((x) => x.n), [3])
      assert.deepStrictEqual(await counter(server), ["(c3,3,team)"])
      // D fetches B, C and C's correction, replays D, C, A, B: n = 4, while the server's fold
      // with both corrections gives 3 (C's, later than D's). D corrects again and uploads its
      // increment, its stale correction (to 2) and the new one (to 4).
      const dSync = await sync(d)
      assert.deepStrictEqual([dSync.corrections, dSync.uploaded], [1, 3])

      // The server holds all three corrections of c3. D's first one (to 2) was uploaded after
      // C's (to 3) but is earlier in canonical order: the server puts it in its place instead of
      // letting it overwrite C's, and ends with the image of the last one in canonical order.
      const onServer = await serverCorrections()
      assert.deepStrictEqual(onServer.map((x) => [x.user, x.n]), [["user-d", 2], ["user-c", 3], ["user-d", 4]])
      assert.isAbove(onServer[0]!.seq, onServer[1]!.seq)
      assert.deepStrictEqual(await counter(server), [`(c3,${onServer[2]!.n},team)`])

      // Everyone else catches up: they replay D's late increment and find the server already
      // corrected, so nobody corrects again.
      for (const replica of [a, b, c]) {
        const report = await sync(replica)
        assert.isAbove(report.replayed, 0)
        assert.deepStrictEqual([report.corrections, report.uploaded], [0, 0])
      }
      // A fresh replica replays the whole log in canonical order (D, C, A, B: four increments,
      // the corrections change nothing on replicas) and gets what everyone holds.
      e = await makeReplica("user-e")
      const fresh = await sync(e)
      assert.deepStrictEqual([fresh.corrections, fresh.uploaded], [0, 0])
      for (const replica of [server, a, b, c, d, e]) assert.deepStrictEqual(await counter(replica), ["(c3,4,team)"])
      const expected = onServer.map(({ id, n, user }) => ({ id, n, user }))
      for (const replica of [a, b, c, d, e]) assert.deepStrictEqual(await correctionsOn(replica), expected)

      // A fixed point: another round corrects, uploads and replays nothing.
      const logSize = await serverLogSize()
      for (const replica of [a, b, c, d, e]) {
        const again = await sync(replica)
        assert.deepStrictEqual([again.corrections, again.uploaded, again.replayed], [0, 0, 0])
      }
      assert.strictEqual(await serverLogSize(), logSize)
      assert.deepStrictEqual(await counter(server), ["(c3,4,team)"])
    } finally {
      await c.dispose()
      await d.dispose()
      await e?.dispose()
    }
  }, 120_000)

  /** Verifies: R-SYNC-2 */
  it("lets the app's own rule decide: the later of two offline creations fails on replay and has no effect", async () => {
    await exec(a, createUnique, { title: "only one" })
    await tick()
    await exec(b, createUnique, { title: "only one" })
    await sync(a)
    await sync(b)
    await sync(a)
    const all = await converged("todos")
    assert.strictEqual(all.filter((r) => r.includes("only one")).length, 1)
    // The surviving todo is A's (earlier in global order): its id derives from A's action.
    const [first] = await run(a, Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records WHERE tag = 'todo.create-unique.v1' ORDER BY hlc, id LIMIT 1`))
    assert.isTrue(all.some((r) => r.startsWith(`(${ActionIds.make(first!.id).id("todo")},`)))
  }, 60_000)

  /** Verifies: R-SYNC-1, R-SYNC-2 */
  it("undoes a replayed action that failed after writing, and one whose SQL error aborted the transaction, keeping the rest", async () => {
    await exec(a, createCounter, { id: "claims" })
    await sync(a)
    await sync(b)
    await exec(a, claimTitle, { title: "claimed" })
    await exec(a, insertFixed, { id: "fixed-1", title: "a's" })
    await tick()
    // B, offline, later: both failing actions succeed locally, between actions that stay.
    await exec(b, createTodo, { title: "b one" })
    await exec(b, claimTitle, { title: "claimed" })
    await exec(b, createTodo, { title: "b two" })
    await exec(b, insertFixed, { id: "fixed-1", title: "b's" })
    await exec(b, createTodo, { title: "b three" })
    await sync(a)
    // B rolls back its five and replays seven: its claim writes, then fails (undone from the
    // patches its run captured); its fixed-id insert fails with a duplicate key, which aborts
    // the transaction (back to the replay's last checkpoint, the actions since it again, then
    // the insert alone in a savepoint of its own).
    const report = await sync(b)
    assert.deepStrictEqual([report.reconciled, report.replayed, report.uploaded], [1, 7, 5])
    // A fast-forwards over B's five, which replays them: the same two fail and are undone.
    await sync(a)
    await converged("todos")
    const titles = await server.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ title: string }>`
        SELECT title FROM todos WHERE title IN ('claimed', 'a''s', 'b''s', 'b one', 'b two', 'b three') ORDER BY title`))
    assert.deepStrictEqual(titles.map((t) => t.title), ["a's", "b one", "b three", "b two", "claimed"])
    assert.include(await converged("counters"), "(claims,1,team)")
    // The failed actions keep no patches on either replica.
    for (const replica of [a, b]) {
      const [failed] = await run(replica, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ n: number }>`
          SELECT count(*)::int AS n FROM reprise.action_patches p JOIN reprise.action_records r ON r.id = p.action_id
          WHERE r.client_id = (SELECT client_id FROM reprise.action_records WHERE args->'input'->>'title' = 'b''s')
            AND r.tag IN ('todo.claim.v1', 'todo.insert-fixed.v1')`))
      assert.strictEqual(failed?.n, 0)
    }
  }, 60_000)

  /** Verifies: R-SYNC-6 */
  it("catches up, reconciles and retries when an upload is refused as behind the head", async () => {
    const id = await exec(a, createTodo, { title: "gate" })
    await sync(a)
    await sync(b)
    await exec(a, renameTodo, { id, title: "from A" })
    await sync(a)
    await tick()
    await exec(b, toggleTodo, { id })
    // Upload only: B has not fetched A's rename, so the server refuses the upload; the engine
    // fetches, reconciles and uploads again.
    const report = await run(b, Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.push))
    assert.strictEqual(report.uploaded, 1)
    assert.isAbove(report.fetched, 0)
    await sync(a)
    const all = await converged("todos")
    assert.include(all, `(${id},"from A",t,team)`)
  }, 60_000)

  /** Verifies: R-SYNC-5 */
  it("serves a burst of sync requests with one run at a time and uploads each action once", async () => {
    for (let i = 0; i < 3; i++) await exec(a, createTodo, { title: `burst ${i}` })
    const reports = await run(a, Effect.flatMap(SyncEngine.SyncEngine, (engine) =>
      Effect.all(Array.from({ length: 6 }, () => engine.requestSync), { concurrency: "unbounded" })))
    assert.strictEqual(reports.reduce((n, r) => n + r.uploaded, 0), 3)
    assert.isAtMost(reports.filter((r) => r.uploaded + r.fetched > 0).length, 2)
    await sync(b)
    await converged("todos")
  }, 60_000)

  /** Verifies: R-SYNC-2 */
  it("merges concurrent edits to different fields of one row", async () => {
    const id = await exec(a, createTodo, { title: "draft" })
    await sync(a)
    await sync(b)
    await exec(a, renameTodo, { id, title: "final" })
    await tick()
    await exec(b, toggleTodo, { id })
    await sync(a)
    await sync(b)
    await sync(a)
    const all = await converged("todos")
    assert.include(all, `(${id},final,t,team)`)
  }, 60_000)

  /** Verifies: R-SYNC-4 */
  it("puts a late-arriving older action in its place on a replica with nothing pending", async () => {
    const id = await exec(a, createTodo, { title: "start" })
    await sync(a)
    await sync(b)
    await exec(b, renameTodo, { id, title: "older (B)" })
    await tick()
    await exec(a, renameTodo, { id, title: "newer (A)" })
    await sync(a)
    await sync(b)
    // A has applied its newer rename; B's older one now arrives late: A rolls back and replays.
    const late = await sync(a)
    assert.strictEqual(late.reconciled, 1)
    const all = await converged("todos")
    assert.include(all, `(${id},"newer (A)",f,team)`)
  }, 60_000)

  /** Verifies: R-SYNC-5 */
  it("changes nothing when the whole log is fetched again", async () => {
    await exec(b, createTodo, { title: "refetch" })
    await sync(b)
    await sync(a)
    const before = await rows(a, "todos")
    const log = () =>
      run(a, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ r: string }>`
          SELECT (SELECT json_agg(t ORDER BY t.id)::text FROM (SELECT id, tag, args, hlc, kind, server_seq, synced, applied
            FROM reprise.action_records) t) AS r
          UNION ALL
          SELECT (SELECT json_agg(k ORDER BY k.action_id, k.seq)::text FROM reprise.known_patches k)`))
    const logBefore = await log()
    await run(a, Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE reprise.client_state SET last_server_seq = 0`))
    const again = await sync(a)
    assert.isAbove(again.fetched, 0)
    assert.strictEqual(again.replayed, 0)
    assert.deepStrictEqual(await rows(a, "todos"), before)
    // The re-fetched page left the records and their known patches exactly as they were.
    assert.deepStrictEqual(await log(), logBefore)
    await converged("todos")
  }, 60_000)

  /** Verifies: R-SRV-7, R-ACT-1, R-SYNC-1 */
  it("takes a remote action of a tag it does not register from the server, counts it, and converges", async () => {
    const c = await makeReplica("user-c", todosApp.actions.filter((action) => action.tag !== "todo.toggle.v1"))
    try {
      const report = await sync(c)
      const [toggles] = await server.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions WHERE tag = 'todo.toggle.v1'`))
      assert.isAbove(toggles!.n, 0)
      // A newer app's action (or a hostile client's) does not stop this replica: its rows are
      // the server's, and it is never corrected (R-SRV-7).
      assert.strictEqual(report.unrunnable, toggles!.n)
      assert.strictEqual(report.corrections, 0)
      assert.deepStrictEqual(await rows(c, "todos"), await rows(server, "todos"))
    } finally {
      await c.dispose()
    }
  }, 60_000)
})
