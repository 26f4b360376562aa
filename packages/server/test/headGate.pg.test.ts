/**
 * The head gate across the sequencing lock (PostgreSQL: PGlite's single connection cannot have
 * an upload wait for the lock). An upload reads the part of the gate up to the head committed
 * when it starts before it takes the lock, and only the rest under it: an action stored while
 * it waits for the lock must still put it behind.
 */
import { assert, layer } from "@effect/vitest"
import * as PgFixture from "@reprise/pg-fixture"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { failureOf, insert, request, setupServer, titles, wire } from "./suites/helpers.js"

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "60 seconds" })("head gate across the lock (PostgreSQL)", (it) => {
  /** Verifies: R-SYNC-6, R-SYNC-7 */
  it.effect("an action stored while an upload waits for the sequencing lock puts that upload behind", () =>
    Effect.gen(function*() {
      const { sql, sync, table } = yield* setupServer()
      const now = yield* Clock.currentTimeMillis
      const basis = yield* sync.head("lock-x")
      const held = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Another transaction holds the lock, as an upload being stored does.
      const holder = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(hashtext('reprise_server.sequence'))`
        yield* Deferred.succeed(held, undefined)
        yield* Deferred.await(release)
        // Stored in the holder's transaction, so it commits before the waiting upload gets the lock.
        return yield* sync.upload("lock-y", request("lock-cy", basis, [
          wire({ clientId: "lock-cy", userId: "lock-y", wallMs: now - 2000, patches: [insert(table, { id: "y1" })] })
        ]))
      })))
      yield* Deferred.await(held)
      const x = yield* Effect.fork(Effect.exit(sync.upload("lock-x", request("lock-cx", basis, [
        wire({ clientId: "lock-cx", userId: "lock-x", wallMs: now - 1000, patches: [insert(table, { id: "x1" })] })
      ]))))
      // The upload has read the head and waits for the lock.
      let waiting = 0
      while (waiting === 0) {
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`
        waiting = rows[0]?.n ?? 0
        if (waiting === 0) yield* Effect.sleep("5 millis")
      }
      yield* Deferred.succeed(release, undefined)
      const y = yield* Fiber.join(holder)
      assert.deepStrictEqual(y.accepted.map((a) => a.serverSeq), [basis + 1])
      const behind = failureOf(yield* Fiber.join(x))
      assert.strictEqual(behind._tag, "BehindHead")
      if (behind._tag === "BehindHead") assert.deepStrictEqual([behind.basis, behind.head], [basis, basis + 1])
      assert.deepStrictEqual((yield* titles(sql, table)).map((r) => r.id), ["y1"])
      // At the new basis it is stored.
      const accepted = yield* sync.upload("lock-x", request("lock-cx", y.head, [
        wire({ clientId: "lock-cx", userId: "lock-x", wallMs: now - 1000, patches: [insert(table, { id: "x1" })] })
      ]))
      assert.deepStrictEqual(accepted.accepted.map((a) => a.serverSeq), [basis + 2])
    }))
})
