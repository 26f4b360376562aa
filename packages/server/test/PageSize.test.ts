/**
 * What a replica uploads does not depend on how the log was paged (R-SYNC-10): a fresh
 * replica catching up over pages of 1, 2, 3 or 500 actions judges divergence against the
 * whole log, so it never records a correction the server already holds.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionExecutor, ActionRegistry, SyncEngine, SyncSchema, Tracking } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { InProcessTransport, SyncService } from "../src/index.js"

const TABLES = `CREATE TABLE counters (id text PRIMARY KEY, n integer NOT NULL, audience_key text)`

const create = Action.make({
  tag: "counter.create.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO counters (id, n) VALUES (${id}, 0)`)
})
// Reads, then writes: increments made offline conflict unless replayed in one order.
const increment = Action.make({
  tag: "counter.increment.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ n: number }>`SELECT n FROM counters WHERE id = ${id}`
      if (row === undefined) return yield* Effect.fail("no such counter" as const)
      yield* sql`UPDATE counters SET n = ${row.n + 1} WHERE id = ${id}`
    })
})

type Server = ManagedRuntime.ManagedRuntime<SyncService.SyncService | SqlClient.SqlClient, unknown>
type Replica = ManagedRuntime.ManagedRuntime<SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | SqlClient.SqlClient, unknown>

const makeServer = async (): Promise<Server> => {
  const runtime = ManagedRuntime.make(Layer.provideMerge(SyncService.layer(), PgliteClient.layer({})))
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(TABLES)
    yield* Tracking.install(["counters"])
  }))
  return runtime
}

const makeReplica = async (server: Server, userId: string, clientId: string, pageSize?: number): Promise<Replica> => {
  const service = await server.runPromise(SyncService.SyncService)
  const base = Layer.merge(PgliteClient.layer({}), ActionRegistry.layer([create, increment]))
  const executor = Layer.provideMerge(ActionExecutor.layer({ userId, clientId }), base)
  const transport = InProcessTransport.layer(userId).pipe(Layer.provide(Layer.succeed(SyncService.SyncService, service)))
  const runtime = ManagedRuntime.make(
    Layer.provideMerge(SyncEngine.layer({ backoff: "5 millis", ...(pageSize === undefined ? {} : { pageSize }) }), Layer.merge(executor, transport))
  )
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(TABLES)
    yield* SyncSchema.install()
    yield* Tracking.install(["counters"])
  }))
  return runtime
}

const sync = (replica: Replica) => replica.runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.requestSync))
const act = <A, I, Out, E>(replica: Replica, action: Action.Action<string, A, I, Out, E, Action.Provided>, args: A) =>
  replica.runPromise(ActionExecutor.execute(action, args))
const head = (server: Server) =>
  server.runPromise(Effect.flatMap(SyncService.SyncService, (service) => service.head("anyone")))
const counter = (runtime: Server | Replica, id: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ n: number }>`SELECT n FROM counters WHERE id = ${id}`, (rows) => rows.map((x) => x.n))))

describe("SyncEngine: paging does not change what a replica uploads", () => {
  let server: Server
  const replicas: Array<Replica> = []

  beforeAll(async () => {
    server = await makeServer()
  }, 120_000)

  afterAll(async () => {
    for (const replica of replicas) await replica.dispose()
    await server?.dispose()
  })

  const replica = async (userId: string, clientId: string, pageSize?: number) => {
    const made = await makeReplica(server, userId, clientId, pageSize)
    replicas.push(made)
    return made
  }

  /** Verifies: R-SYNC-10, R-SYNC-3 */
  it("a fresh replica catching up page by page uploads no correction the server holds", async () => {
    const a = await replica("user-a", "client-a")
    const b = await replica("user-b", "client-b")
    await act(a, create, { id: "shared" })
    await sync(a)
    await sync(b)
    // Offline: A increments first, B second; B syncs first, so A's replay of B's increment
    // differs from what B saw and A records a correction.
    await act(a, increment, { id: "shared" })
    await act(b, increment, { id: "shared" })
    await sync(b)
    const byA = await sync(a)
    assert.strictEqual(byA.corrections, 1)
    await sync(b)
    const logged = await head(server)
    assert.deepStrictEqual(await counter(server, "shared"), [2])

    for (const pageSize of [1, 2, 3, 500]) {
      const fresh = await replica(`user-p${pageSize}`, `client-p${pageSize}`, pageSize)
      const report = await sync(fresh)
      assert.strictEqual(report.corrections, 0, `page size ${pageSize}: corrections`)
      assert.strictEqual(report.uploaded, 0, `page size ${pageSize}: uploads`)
      assert.deepStrictEqual(await counter(fresh, "shared"), [2], `page size ${pageSize}: rows`)
    }
    assert.strictEqual(await head(server), logged, "the log did not grow")
  }, 300_000)

  /** Verifies: R-SYNC-10, R-SYNC-4 */
  it("many offline increments, caught up over small pages, upload nothing either", async () => {
    const writers = [
      await replica("user-w1", "client-w1"),
      await replica("user-w2", "client-w2"),
      await replica("user-w3", "client-w3")
    ]
    await act(writers[0]!, create, { id: "busy" })
    for (const writer of writers) await sync(writer)
    // Rounds of offline increments, synced in an order that differs from the order they were
    // made in, so the log holds late arrivals and corrections.
    for (let round = 0; round < 4; round++) {
      for (const writer of writers) {
        await act(writer, increment, { id: "busy" })
        await act(writer, increment, { id: "busy" })
      }
      for (const writer of round % 2 === 0 ? [...writers].reverse() : writers) await sync(writer)
    }
    for (const writer of writers) await sync(writer)
    const logged = await head(server)
    assert.isAtLeast(logged, 25)
    assert.deepStrictEqual(await counter(server, "busy"), [24])

    for (const pageSize of [1, 3, 7, 500]) {
      const fresh = await replica(`user-q${pageSize}`, `client-q${pageSize}`, pageSize)
      const report = await sync(fresh)
      assert.strictEqual(report.corrections, 0, `page size ${pageSize}: corrections`)
      assert.strictEqual(report.uploaded, 0, `page size ${pageSize}: uploads`)
      assert.deepStrictEqual(await counter(fresh, "busy"), [24], `page size ${pageSize}: rows`)
    }
    assert.strictEqual(await head(server), logged, "the log did not grow")
  }, 300_000)
})
