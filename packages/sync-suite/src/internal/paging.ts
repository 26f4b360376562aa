/**
 * Paging does not change what a replica uploads (R-SYNC-10): a fresh replica catching up over
 * pages of 1, 2, 3 or 500 actions judges divergence against the whole log, so it never records
 * a correction the server already holds, and the log does not grow.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { SyncEngine, SyncServer } from "@reprise/core"
import * as Effect from "effect/Effect"
import type { Harness } from "../SyncSuite.js"
import { createCounter, increment, todosApp } from "./todos.js"
import { exec, type Replica, type Server, startReplica, startServer, tick } from "./world.js"

const sync = (replica: Replica) => replica.runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.requestSync))
const head = (server: Server) => server.runPromise(Effect.flatMap(SyncServer.SyncServer, (s) => s.head("anyone")))
const counter = (runtime: Server | Replica, id: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ n: number }>`SELECT n FROM counters WHERE id = ${id}`, (rows) => rows.map((x) => x.n))))

/** Registers the paging scenarios for `harness`. */
export const pagingScenarios = (harness: Harness) =>
describe(`SyncEngine: paging does not change what a replica uploads (${harness.name})`, () => {
  let server: Server
  beforeAll(async () => {
    server = await startServer(harness, todosApp)
  }, 120_000)
  afterAll(async () => {
    await server?.dispose()
  })

  const replica = (userId: string, pageSize?: number) =>
    startReplica(harness, server, todosApp, userId, {
      engine: { backoff: "5 millis", ...(pageSize === undefined ? {} : { pageSize }) }
    })

  /** A fresh replica per page size catches up, uploads nothing and holds `expected`. */
  const catchUp = async (id: string, expected: number, pageSizes: ReadonlyArray<number>) => {
    const logged = await head(server)
    for (const pageSize of pageSizes) {
      const fresh = await replica(`user-fresh-${id}-${pageSize}`, pageSize)
      try {
        const report = await sync(fresh)
        assert.strictEqual(report.corrections, 0, `page size ${pageSize}: corrections`)
        assert.strictEqual(report.uploaded, 0, `page size ${pageSize}: uploads`)
        assert.deepStrictEqual(await counter(fresh, id), [expected], `page size ${pageSize}: rows`)
      } finally {
        await fresh.dispose()
      }
    }
    assert.strictEqual(await head(server), logged, "the log did not grow")
  }

  /** Verifies: R-SYNC-10, R-SYNC-3 */
  it("a fresh replica catching up page by page uploads no correction the server holds", async () => {
    const a = await replica("user-a")
    const b = await replica("user-b")
    try {
      await exec(a, createCounter, { id: "shared" })
      await sync(a)
      await sync(b)
      // Offline: A increments first, B later; B syncs first, so A's replay of B's increment
      // differs from what B saw and A records a correction the server then holds.
      await exec(a, increment, { id: "shared" })
      await tick()
      await exec(b, increment, { id: "shared" })
      await sync(b)
      assert.strictEqual((await sync(a)).corrections, 1)
      await sync(b)
      assert.deepStrictEqual(await counter(server, "shared"), [2])
    } finally {
      await a.dispose()
      await b.dispose()
    }
    await catchUp("shared", 2, [1, 2, 3, 500])
  }, 300_000)

  /** Verifies: R-SYNC-10, R-SYNC-4 */
  it("many offline increments, caught up over small pages, upload nothing either", async () => {
    const writers = [await replica("user-w1"), await replica("user-w2"), await replica("user-w3")]
    try {
      await exec(writers[0]!, createCounter, { id: "busy" })
      for (const writer of writers) await sync(writer)
      // Rounds of offline increments, synced in an order that differs from the order they were
      // made in, so the log holds late arrivals and corrections.
      for (let round = 0; round < 4; round++) {
        for (const writer of writers) {
          await exec(writer, increment, { id: "busy" })
          await exec(writer, increment, { id: "busy" })
        }
        for (const writer of round % 2 === 0 ? [...writers].reverse() : writers) await sync(writer)
      }
      for (const writer of writers) await sync(writer)
      assert.isAtLeast(await head(server), 25)
      assert.deepStrictEqual(await counter(server, "busy"), [24])
    } finally {
      for (const writer of writers) await writer.dispose()
    }
    await catchUp("busy", 24, [1, 3, 7, 500])
  }, 300_000)
})
