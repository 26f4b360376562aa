/**
 * The sync service on real Postgres: the shared suite, plus concurrent uploads on a pool
 * (PGlite's single connection would serialize them anyway).
 */
import { assert, layer } from "@effect/vitest"
import * as PgFixture from "@reprise/pg-fixture"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { request, setupServer, wire } from "./suites/helpers.js"
import { syncServiceSuite } from "./suites/syncService.js"

syncServiceSuite(`PostgreSQL ${PgFixture.serverVersion()}`, PgFixture.layer())

const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "120 seconds" })("SyncService: concurrent uploads (PostgreSQL)", (it) => {
  /** Verifies: R-SYNC-7, R-SYNC-6 */
  it.effect("a fetch cursor polled during 8 concurrent uploaders never skips a sequence", () =>
    Effect.gen(function*() {
      const { sql, sync, table } = yield* setupServer()
      const now = yield* Clock.currentTimeMillis
      const fibers = 8
      const uploads = 10
      const perUpload = 3
      const total = fibers * uploads * perUpload
      const start = yield* sync.head("reader")

      const uploader = (f: number) =>
        Effect.forEach(range(uploads), (u) => {
          const clientId = `conc-${f}`
          const userId = `user-${f}`
          const actions = range(perUpload).map((k) =>
            wire({ clientId, userId, wallMs: now - 100_000 + u * 10 + k, patches: [{ op: "INSERT", table, rowId: `${f}-${u}-${k}`, forward: { id: `${f}-${u}-${k}`, n: f }, reverse: null }] })
          )
          // As a client does: read the head, upload, and when another client got in first
          // (nothing to reconcile here: the rows are disjoint) retry at the new head.
          return Effect.flatMap(sync.head(userId), (basis) => sync.upload(userId, request(clientId, basis, actions))).pipe(
            Effect.retry({ while: (e) => e._tag === "BehindHead" })
          )
        }, { discard: true })

      const poller = Effect.gen(function*() {
        const seen: Array<number> = []
        let cursor = start
        let polls = 0
        while (seen.length < total) {
          const page = yield* sync.fetch("reader", { since: cursor, limit: 7 })
          polls++
          seen.push(...page.actions.map((a) => a.serverSeq))
          cursor = page.next
          if (page.actions.length === 0) yield* Effect.sleep("1 millis")
        }
        return { seen, polls }
      })

      const [, observed] = yield* Effect.all(
        [Effect.all(range(fibers).map(uploader), { concurrency: "unbounded", discard: true }), poller],
        { concurrency: "unbounded" }
      )
      console.log(`[SyncService.pg.test] ${total} actions from ${fibers} uploaders, observed in ${observed.polls} polls`)
      assert.deepStrictEqual(observed.seen, range(total).map((i) => start + i + 1))
      assert.strictEqual(yield* sync.head("reader"), start + total)
      const [rows] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)}`
      assert.strictEqual(rows?.c, total)
    }))
})
