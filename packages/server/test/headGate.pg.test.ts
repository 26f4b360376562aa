/**
 * The head gate across the sequencing lock (PostgreSQL: PGlite's single connection cannot have
 * an upload wait for the lock). An upload reads the part of the gate up to the head committed
 * when it starts before it takes the lock, and only the rest under it: an action stored while
 * it waits for the lock must still put it behind. Whether a caller may see an action is read
 * from the action's row (`patch_audiences`, `public_patch`), filled when it is stored and, for
 * a log stored before those columns, by the install.
 */
import { assert, layer } from "@effect/vitest"
import * as PgFixture from "@reprise/pg-fixture"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { ServerSchema } from "@reprise/server"
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

  /** Verifies: R-SYNC-6 */
  it.effect("the gate sees the actions with a patch of the caller's audiences or a public one, also in a log stored before their columns", () =>
    Effect.gen(function*() {
      const audiences = { la: ["team"], lb: ["team"], lc: ["other"] } as Record<string, ReadonlyArray<string>>
      const { sql, sync, table } = yield* setupServer({ audiences: (userId) => Effect.succeed(audiences[userId] ?? []) })
      const now = yield* Clock.currentTimeMillis
      const labeled = (clientId: string, userId: string, wallMs: number, rowId: string, key: string | null) => {
        const action = wire({ clientId, userId, wallMs, patches: [insert(table, { id: rowId, audience_key: key })] })
        return { ...action, patches: action.patches.map((p) => ({ ...p, audienceKey: key })) }
      }
      const h0 = yield* sync.head("la")
      const team = yield* sync.upload("la", request("c-la", h0, [labeled("c-la", "la", now - 3000, "t1", "team")]))
      // A log stored by a version 4 server, before the columns: the install's version 5 migration
      // adds them and fills them from the patches.
      yield* sql`ALTER TABLE reprise_server.actions DROP COLUMN patch_audiences, DROP COLUMN public_patch`
      yield* sql`DELETE FROM reprise_server.schema_version WHERE version = 5`
      assert.strictEqual(yield* ServerSchema.installedVersion, 4)
      yield* ServerSchema.install()
      const filled = yield* sql<{ patch_audiences: ReadonlyArray<string>; public_patch: boolean }>`
        SELECT patch_audiences, public_patch FROM reprise_server.actions WHERE server_seq = ${team.head}`
      assert.deepStrictEqual(filled.map((r) => [[...r.patch_audiences], r.public_patch]), [[["team"], false]])
      assert.strictEqual(yield* ServerSchema.installedVersion, 5)
      // lc is not in team: not behind.
      const other = yield* sync.upload("lc", request("c-lc", h0, [labeled("c-lc", "lc", now - 2000, "o1", "other")]))
      // lb is in team, not in other: behind the team action, and only it.
      const behind = failureOf(yield* Effect.exit(sync.upload("lb", request("c-lb", h0, [labeled("c-lb", "lb", now - 1000, "b1", "team")]))))
      assert.deepStrictEqual(behind._tag === "BehindHead" && [behind.basis, behind.head], [h0, team.head])
      const mine = yield* sync.upload("lb", request("c-lb", other.head, [labeled("c-lb", "lb", now - 1000, "b1", "team")]))
      // A public patch is everyone's.
      const open = yield* sync.upload("la", request("c-la", mine.head, [labeled("c-la", "la", now - 500, "p1", null)]))
      const stored = yield* sql<{ patch_audiences: ReadonlyArray<string>; public_patch: boolean }>`
        SELECT patch_audiences, public_patch FROM reprise_server.actions WHERE server_seq = ${open.head}`
      assert.deepStrictEqual(stored.map((r) => [[...r.patch_audiences], r.public_patch]), [[[], true]])
      const lcBehind = failureOf(yield* Effect.exit(sync.upload("lc", request("c-lc", other.head, [labeled("c-lc", "lc", now - 100, "o2", "other")]))))
      assert.deepStrictEqual(lcBehind._tag === "BehindHead" && [lcBehind.basis, lcBehind.head], [other.head, open.head])
    }))
})
