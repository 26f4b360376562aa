/**
 * `SyncEngine.applyPushed`: a page the server pushed (a subscription's page, the same content
 * `fetch` returns from its cursor) is applied without fetching it again when it starts at the
 * replica's watermark; a page the replica already has does nothing; a page after a gap is not
 * applied and a pull runs instead, so nothing is skipped (R-SYNC-7); a page saying there is
 * more pulls the rest. The replicas are real engines on PGlite, the server a real
 * `SyncService` on its own PGlite, called in-process; each replica's transport counts its
 * fetches. The pushed pages are read from the server's `fetch` under the replica's user, as
 * `Realtime` reads a subscriber's pages (R-SRV-5).
 */
import { assert, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Chunk from "effect/Chunk"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InProcessTransport, SyncCodec, SyncService } from "../../server/src/index.js"
import {
  Action,
  ActionExecutor,
  ActionIds,
  ActionRegistry,
  RpcTransport,
  SyncEngine,
  type SyncProtocol,
  SyncTransport,
  Tracking
} from "../src/index.js"

const NOTES = "pushed_notes"
const tableSql = `CREATE TABLE IF NOT EXISTS ${NOTES} (id text PRIMARY KEY, title text NOT NULL, audience_key text)`

const createNote = Action.make({
  tag: "pushed.note.create.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO ${sql(NOTES)} ${sql.insert({ id, title })}`
      return id
    })
})

interface Server {
  readonly sync: SyncService.SyncServiceShape
  readonly encodedFetch: SyncCodec.EncodedFetchShape
}

/** The server: `SyncService` on a PGlite of its own, the notes table tracked. */
const startServer: Effect.Effect<Server, unknown, Scope.Scope> = Effect.gen(function*() {
  const database = yield* Layer.build(PgliteClient.layer({}))
  const built = yield* Layer.build(SyncService.layer().pipe(Layer.provide(Layer.succeedContext(database))))
  yield* Effect.provide(
    Effect.zipRight(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(tableSql)), Tracking.install([NOTES])),
    database
  )
  return { sync: Context.get(built, SyncService.SyncService), encodedFetch: Context.get(built, SyncCodec.EncodedFetch) }
})

interface Replica {
  readonly context: Context.Context<SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient>
  /** How many fetches its engine has made through the transport. */
  readonly fetches: () => number
}

/** A replica of `userId` on a fresh PGlite, its engine calling `server` in-process, its fetches counted. */
const startReplica = (server: Server, userId: string): Effect.Effect<Replica, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const database = yield* Layer.build(PgliteClient.layer({}))
    yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(tableSql)), database)
    const inner = InProcessTransport.fromServer(userId, server.sync, server.encodedFetch)
    let fetches = 0
    const transport = Layer.succeed(SyncTransport.SyncTransport, {
      upload: inner.upload,
      fetch: (request: SyncProtocol.FetchRequest) =>
        Effect.suspend(() => {
          fetches++
          return inner.fetch(request)
        })
    })
    const base = Layer.merge(Layer.succeedContext(database), ActionRegistry.layer([createNote]))
    const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
    const context = yield* Layer.build(
      Layer.provideMerge(SyncEngine.layer({ backoff: "1 millis" }), Layer.merge(executor, Layer.merge(transport, base)))
    )
    yield* Effect.provide(Tracking.install([NOTES]), context)
    return { context, fetches: () => fetches }
  })

const engineOf = (replica: Replica) => Context.get(replica.context, SyncEngine.SyncEngine)

/** Executes `createNote` on `replica` for each title, then uploads them (one upload each). */
const write = (replica: Replica, ...titles: ReadonlyArray<string>) =>
  Effect.forEach(titles, (title) =>
    Effect.zipRight(
      Effect.provide(ActionExecutor.execute(createNote, { title }), replica.context),
      engineOf(replica).push
    ), { discard: true })

const notes = (replica: Replica) =>
  Effect.provide(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM ${sql(NOTES)} t ORDER BY id`, (rows) => rows.map((x) => x.r))),
    replica.context
  )

const watermark = (replica: Replica) =>
  Effect.provide(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(sql<{ seq: string }>`SELECT last_server_seq::text AS seq FROM reprise.client_state`, (rows) =>
        Number(rows[0]?.seq ?? "0"))),
    replica.context
  )

/** The page a subscription of `userId` from `since` would push (what `Realtime` reads for it). */
const pushedPage = (server: Server, userId: string, since: number, limit = 100) =>
  server.sync.fetch(userId, { since, limit })

/** A server, a writer (alice) and a subscriber (bob), both caught up; shared by the tests. */
class World extends Context.Tag("ApplyPushed/World")<World, {
  readonly server: Server
  readonly alice: Replica
  readonly bob: Replica
}>() {}

const WorldLive = Layer.scoped(World, Effect.gen(function*() {
  const server = yield* startServer
  const alice = yield* startReplica(server, "alice")
  const bob = yield* startReplica(server, "bob")
  for (const replica of [alice, bob]) yield* engineOf(replica).sync
  return { server, alice, bob }
}))

/** The number of notes `replica` holds. */
const count = (replica: Replica) => Effect.map(notes(replica), (rows) => rows.length)

// Each test starts from bob's watermark and leaves bob caught up, so they do not depend on order.
layer(WorldLive, { excludeTestServices: true, timeout: "120 seconds" })("SyncEngine.applyPushed", (it) => {
  /** Verifies: R-SRV-5, R-SYNC-7 */
  it.effect("applies a page pushed at the watermark without fetching, and a stale page does nothing", () =>
    Effect.gen(function*() {
      const { alice, bob, server } = yield* World
      const since = yield* watermark(bob)
      const had = yield* count(bob)
      yield* write(alice, "pushed")
      const page = yield* pushedPage(server, "bob", since)
      assert.strictEqual(page.actions.length, 1)
      const before = bob.fetches()
      const report = yield* engineOf(bob).applyPushed(since, page)
      assert.strictEqual(bob.fetches(), before, "the pushed page was fetched again")
      assert.strictEqual(report.fetched, 1)
      assert.strictEqual(report.fastForwarded, 1)
      assert.strictEqual(yield* watermark(bob), page.next)
      assert.strictEqual(yield* count(bob), had + 1)
      yield* engineOf(alice).pull
      assert.deepStrictEqual(yield* notes(bob), yield* notes(alice))

      // The same page again, and an older empty one: nothing is applied or fetched.
      const again = yield* engineOf(bob).applyPushed(since, page)
      const older = yield* engineOf(bob).applyPushed(0, { ...page, actions: [], next: since, hasMore: false })
      for (const r of [again, older]) {
        assert.deepStrictEqual([r.fetched, r.fastForwarded, r.reconciled, r.replayed], [0, 0, 0, 0])
      }
      assert.strictEqual(bob.fetches(), before)
      assert.strictEqual(yield* watermark(bob), page.next)
      assert.strictEqual(yield* count(bob), had + 1)
    }))

  /** Verifies: R-SYNC-7, R-SRV-5 */
  it.effect("a page after a gap is not applied alone: a pull fetches from the watermark, nothing is skipped", () =>
    Effect.gen(function*() {
      const { alice, bob, server } = yield* World
      const since = yield* watermark(bob)
      const had = yield* count(bob)
      yield* write(alice, "first")
      const afterFirst = (yield* pushedPage(server, "bob", since)).next
      yield* write(alice, "second")
      // Bob never got the page with "first"; the page it is pushed starts after it.
      const page = yield* pushedPage(server, "bob", afterFirst)
      assert.strictEqual(page.actions.length, 1)
      const before = bob.fetches()
      const report = yield* engineOf(bob).applyPushed(afterFirst, page)
      assert.isAbove(bob.fetches(), before, "a page after a gap must fall back to a pull")
      assert.strictEqual(report.fetched, 2)
      assert.strictEqual(yield* watermark(bob), page.head)
      assert.strictEqual(yield* count(bob), had + 2)
      yield* engineOf(alice).pull
      assert.deepStrictEqual(yield* notes(bob), yield* notes(alice))
    }))

  /** Verifies: R-SYNC-7, R-SYNC-9 */
  it.effect("a page with more to come is applied, then the rest is pulled", () =>
    Effect.gen(function*() {
      const { alice, bob, server } = yield* World
      const since = yield* watermark(bob)
      const had = yield* count(bob)
      yield* write(alice, "one", "two", "three")
      const page = yield* pushedPage(server, "bob", since, 1)
      assert.isTrue(page.hasMore)
      assert.strictEqual(page.actions.length, 1)
      const before = bob.fetches()
      const report = yield* engineOf(bob).applyPushed(since, page)
      assert.isAbove(bob.fetches(), before, "the rest of a page with more must be pulled")
      assert.strictEqual(report.fetched, 3)
      assert.strictEqual(yield* watermark(bob), page.head)
      assert.strictEqual(yield* count(bob), had + 3)
    }))

  /** Verifies: R-SRV-5, R-SYNC-7 */
  it.effect("a replica fed only pushed pages converges with one that pulls", () =>
    Effect.gen(function*() {
      const { alice, bob, server } = yield* World
      // Alice and bob both write; bob applies each page as a subscription would push it to him
      // (his own actions come back to him too), alice only pulls.
      let cursor = yield* watermark(bob)
      const had = yield* count(bob)
      const before = bob.fetches()
      for (let round = 0; round < 4; round++) {
        yield* write(round % 2 === 0 ? alice : bob, `round ${round} a`, `round ${round} b`)
        const page = yield* pushedPage(server, "bob", cursor, 10)
        yield* engineOf(bob).applyPushed(cursor, page)
        cursor = page.next
      }
      assert.strictEqual(bob.fetches(), before, "every page was at the watermark: no fetch was needed")
      yield* engineOf(alice).sync
      const expected = yield* notes(alice)
      assert.strictEqual(expected.length, had + 8)
      assert.deepStrictEqual(yield* notes(bob), expected)
      assert.strictEqual(yield* watermark(bob), yield* watermark(alice))
    }))
})

/** Verifies: R-SRV-5 */
it.effect("RpcTransport.withSince pairs each pushed page with the cursor it starts at", () =>
  Effect.gen(function*() {
    const page = (next: number): SyncProtocol.FetchResponse => ({ actions: [], next, head: next, hasMore: false, audiences: null })
    const pushed = yield* Stream.runCollect(
      Stream.fromIterable([page(7), page(7), page(12), page(20)]).pipe(RpcTransport.withSince(7))
    )
    assert.deepStrictEqual(Chunk.toReadonlyArray(pushed).map(({ page, since }) => [since, page.next]), [[7, 7], [7, 7], [7, 12], [12, 20]])
  }))
