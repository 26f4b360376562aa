/**
 * Client ids bound to users on real Postgres, under the RLS role `Rls.install` creates
 * (R-SRV-7): the binding through the service, the binding table's policies through direct SQL
 * as the role (a caller reads and binds only its own clients), and first uploads racing for one
 * client id: the one whose transaction commits first owns it, the other is `WrongClient` and
 * writes nothing, whatever the interleaving.
 */
import { assert, layer } from "@effect/vitest"
import { SyncProtocol } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { asRole, dropRole, NOTES, roleName, setup } from "./rlsHelpers.js"
import { type BindingEnv, bindingCases, creation, holdings, refusedAsWrongClient, uploadAs } from "./clientBindingCases.js"

const ROLE = roleName("reprise_bind")

const count = (rows: ReadonlyArray<{ readonly n: number }>) => rows[0]?.n ?? 0

/**
 * Holds a transaction (as the tests' login) that has bound `clientId` to `owner` without
 * committing, runs `upload` meanwhile, waits until the upload is blocked on that binding, then
 * commits (or rolls back) and returns the upload's exit (an `Exit` is an effect: `yield*` it for
 * its value).
 */
const raceWithHeldBinding = <A, E>(
  env: BindingEnv,
  clientId: string,
  owner: string,
  commit: boolean,
  upload: Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const { sql } = env
    const bound = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const holder = yield* Effect.fork(Effect.exit(sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO reprise_server.clients (client_id, user_id) VALUES (${clientId}, ${owner})`
      yield* Deferred.succeed(bound, undefined)
      yield* Deferred.await(release)
      if (!commit) return yield* Effect.fail("rollback" as const)
    }))))
    yield* Deferred.await(bound)
    const uploading = yield* Effect.fork(Effect.exit(upload))
    // The upload waits for the holder's transaction (a lock wait on the binding's key).
    yield* sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`.pipe(
      Effect.map(count),
      Effect.repeat({ until: (n) => n >= 1, schedule: Schedule.spaced("20 millis") })
    )
    yield* Deferred.succeed(release, undefined)
    yield* Fiber.join(holder)
    return yield* Fiber.join(uploading)
  })

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "120 seconds" })("Client binding (PostgreSQL)", (it) => {
  /** Verifies: R-SRV-7 (a client id belongs to the first user that uploads under it), R-SRV-3 */
  it.effect("WrongClient under the RLS role; the bindings' policies; racing first uploads", () =>
    Effect.gen(function*() {
      const setUp = yield* setup(ROLE)
      const env: BindingEnv = { sql: setUp.sql, sync: setUp.sync, table: NOTES }
      const { sql } = env
      yield* bindingCases(env)

      // The table's policies, as the role: a caller sees only its own bindings and cannot bind
      // a client id to someone else.
      yield* uploadAs(env, "carol", "carol-own", [creation(env, "carol-own", "carol")])
      const visible = yield* asRole(setUp, "carol", (s) =>
        Effect.map(s<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.clients`, count))
      const carols = count(yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM reprise_server.clients WHERE user_id = 'carol'`)
      assert.strictEqual(visible, carols)
      assert.isAbove(carols, 0)
      const forged = yield* asRole(setUp, "carol", (s) =>
        Effect.map(s`INSERT INTO reprise_server.clients (client_id, user_id) VALUES ('forged', 'alice')`, () => 1)
          .pipe(Effect.catchAll(() => Effect.succeed(-1))))
      assert.strictEqual(forged, -1, "the role cannot bind a client id to another user")

      // Held races: the other user's binding commits first -> WrongClient; it rolls back ->
      // the upload binds it; the same user's commits first -> accepted (the upload sees it).
      const lost = "race-lost"
      const before = yield* holdings(env)
      const lostExit = yield* raceWithHeldBinding(env, lost, "alice", true,
        uploadAs(env, "bob", lost, [creation(env, lost, "bob")]))
      yield* refusedAsWrongClient(env, lost, lostExit)
      assert.notStrictEqual(yield* holdings(env), before, "only the holder's binding was written")
      const [owner] = yield* sql<{ user_id: string }>`SELECT user_id FROM reprise_server.clients WHERE client_id = ${lost}`
      assert.strictEqual(owner?.user_id, "alice")

      const freed = "race-freed"
      const freedExit = yield* yield* raceWithHeldBinding(env, freed, "alice", false,
        uploadAs(env, "bob", freed, [creation(env, freed, "bob")]))
      assert.strictEqual(freedExit.accepted.length, 1)
      const [freedOwner] = yield* sql<{ user_id: string }>`SELECT user_id FROM reprise_server.clients WHERE client_id = ${freed}`
      assert.strictEqual(freedOwner?.user_id, "bob")

      const same = "race-same"
      const sameExit = yield* yield* raceWithHeldBinding(env, same, "bob", true,
        uploadAs(env, "bob", same, [creation(env, same, "bob")]))
      assert.strictEqual(sameExit.accepted.length, 1)

      // Free races: pairs of first uploads by two users for one client id, all at once.
      const pairs = 8
      const results = yield* Effect.forEach(Array.from({ length: pairs }, (_, i) => i), (i) => {
        const clientId = `free-race-${i}`
        const attempt = (user: string) =>
          Effect.either(uploadAs(env, user, clientId, [creation(env, clientId, user)]).pipe(
            Effect.retry({ while: (e) => e._tag === "BehindHead", times: 50 })
          ))
        return Effect.map(Effect.all([attempt("alice"), attempt("bob")], { concurrency: 2 }), (outcome) => ({ clientId, outcome }))
      }, { concurrency: "unbounded" })
      for (const { clientId, outcome } of results) {
        const winners = outcome.filter((e) => e._tag === "Right").length
        assert.strictEqual(winners, 1, `${clientId}: exactly one first upload wins`)
        const loser = outcome.find((e) => e._tag === "Left")
        assert.instanceOf(loser?.left, SyncProtocol.UploadRejected)
        assert.strictEqual((loser?.left as SyncProtocol.UploadRejected).reason, "WrongClient")
        const [stored] = yield* sql<{ owner: string; authors: string }>`
          SELECT (SELECT user_id FROM reprise_server.clients WHERE client_id = ${clientId}) AS owner,
            (SELECT string_agg(DISTINCT user_id, ',') FROM reprise_server.actions WHERE client_id = ${clientId}) AS authors`
        assert.strictEqual(stored?.authors, stored?.owner, `${clientId}: only the owner's action is stored`)
      }
    }).pipe(Effect.ensuring(dropRole(ROLE))))
})
