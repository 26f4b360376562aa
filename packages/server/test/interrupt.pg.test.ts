/**
 * An interrupted request on real Postgres (a client that disconnects, a subscription that
 * closes) runs its database work to the end instead of cancelling it: `@effect/sql-pg`'s
 * cancel (`pg_cancel_backend`, sent on another pooled connection) can land after the statement
 * ended and its connection went to the next request, failing that request with SQLSTATE 57014.
 * One client's disconnect must not fail another's sync.
 */
import { assert, layer } from "@effect/vitest"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as PgFixture from "@reprise/pg-fixture"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { request, setupServer, wire } from "./suites/helpers.js"

/** How many statements of this database wait for a lock. */
const waitingOnLocks = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    ([row]) => row!.n
  )

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "60 seconds" })("SyncService: interrupted requests (PostgreSQL)", (it) => {
  /** Verifies: R-SRV-7 (one client's disconnect never cancels another's statement) */
  it.effect("an interrupted upload and fetch finish their statements (nothing is cancelled); the upload is stored", () =>
    Effect.gen(function*() {
      const { sql, sync, table } = yield* setupServer()
      const clientId = "interrupted-client"
      const basis = yield* sync.head("alice")
      const action = wire({
        clientId,
        userId: "alice",
        wallMs: yield* Clock.currentTimeMillis,
        patches: [{ op: "INSERT", table, rowId: "held", forward: { id: "held", title: "held" }, reverse: null }]
      })

      // Another session holds the log's table: both requests block on it.
      const release = yield* Deferred.make<void>()
      const locked = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
        yield* sql`LOCK TABLE reprise_server.actions IN ACCESS EXCLUSIVE MODE`
        yield* Deferred.succeed(locked, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(locked)
      const upload = yield* Effect.fork(sync.upload("alice", request(clientId, basis, [action])))
      const fetch = yield* Effect.fork(sync.fetch("bob", { since: 0, limit: 10 }))
      yield* waitingOnLocks(sql).pipe(
        Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (n) => n >= 2 }),
        Effect.timeout("10 seconds")
      )

      // Interrupted while blocked: an interruptible statement would be cancelled at once.
      yield* Fiber.interruptFork(upload)
      yield* Fiber.interruptFork(fetch)
      yield* Effect.sleep("300 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(upload)), "the upload's statement was cancelled")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fetch)), "the fetch's statement was cancelled")
      assert.strictEqual(yield* waitingOnLocks(sql), 2)

      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(upload)))
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(fetch)))
      const [stored] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions WHERE id = ${action.id}`
      assert.strictEqual(stored!.n, 1)
      // The pool serves the next requests normally.
      const page = yield* sync.fetch("bob", { since: basis, limit: 10 })
      assert.deepStrictEqual(page.actions.map((a) => a.id), [action.id])
    }))
})
