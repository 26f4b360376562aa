/**
 * The server's read path on real Postgres: the shared cases (one statement per fetch and head,
 * the in-transaction path), and, with the RLS role `Rls.install` creates, that the one statement
 * still reads as the caller: the role's privileges and the log's policies apply (a policy added
 * later applies to the next read, though the previous read's plan is cached on the connection),
 * the caller's claims reach them, and the connection is left as it was. One pooled connection,
 * so every statement runs on the connection the previous one left.
 */
import { assert, layer } from "@effect/vitest"
import { SyncServer } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import * as Effect from "effect/Effect"
import { action, dropRole, NOTES, roleName, setup, upload } from "./rlsHelpers.js"
import { databaseWork, readPathSuite, recordSpans } from "./readPathCases.js"
import { failureOf } from "./suites/helpers.js"

readPathSuite(`PostgreSQL ${PgFixture.serverVersion()}`, PgFixture.layer({ maxConnections: 1 }))

const ROLE = roleName("reprise_read_path")

/** A note of audience `key` inserted by `user`, tagged `tag`. */
const note = (user: string, id: string, key: string, tag: string) => ({
  ...action(user, [{ op: "INSERT", table: NOTES, rowId: id, forward: { id, title: id, audience_key: key }, reverse: null, audienceKey: key }]),
  tag
})

layer(PgFixture.layer({ maxConnections: 1 }), { excludeTestServices: true, timeout: "120 seconds" })(
  "SyncService: the read path as the RLS role (PostgreSQL)",
  (it) => {
    /** Verifies: R-SRV-3, R-SYNC-9 */
    it.effect("one statement reads as the caller: the role's privileges, the log's policies and the caller's claims apply; the connection is left as it was", () =>
      Effect.gen(function*() {
        const env = yield* setup(ROLE)
        const { sql, sync } = env
        const plain = note("alice", "plain", "team", "note.plain.v1")
        const secret = note("alice", "secret", "team", "note.secret.v1")
        const elsewhere = note("carol", "elsewhere", "ops", "note.plain.v1")
        yield* upload(env, "alice", [plain, secret])
        yield* upload(env, "carol", [elsewhere])
        const ids = (page: { readonly actions: ReadonlyArray<{ readonly id: string }> }) => page.actions.map((a) => a.id)

        // One statement each, as the role; bob sees his audience's actions, not carol's.
        const fetched = yield* recordSpans(sync.fetch("bob", { since: 0, limit: 10 }))
        assert.deepStrictEqual(ids(fetched.value), [plain.id, secret.id])
        assert.deepStrictEqual(fetched.value.audiences, ["list:team", "team"])
        assert.strictEqual(fetched.value.next, 3)
        const work = databaseWork(fetched.spans)
        assert.strictEqual(work.transactions, 0)
        assert.strictEqual(work.statements.length, 1)
        const head = yield* recordSpans(sync.head("bob"))
        assert.strictEqual(head.value, 3)
        const headWork = databaseWork(head.spans)
        assert.strictEqual(headWork.transactions, 0)
        assert.strictEqual(headWork.statements.length, 1)
        assert.include(headWork.statements[0], "reprise_server.read_head(")

        // The identity ended with the statement: the next one on the connection is the login's.
        const [after] = yield* sql<{ same: boolean; user_id: string; claims: string; audiences: string; see_all: string }>`
          SELECT current_user = session_user AS same,
            coalesce(current_setting('reprise.user_id', true), '') AS user_id,
            coalesce(current_setting('request.jwt.claims', true), '') AS claims,
            coalesce(current_setting('reprise.audiences', true), '') AS audiences,
            coalesce(current_setting('reprise.see_all', true), '') AS see_all`
        assert.deepStrictEqual(after, { same: true, user_id: "", claims: "", audiences: "", see_all: "" })

        // A policy added after the plan was cached applies to the next read; it reads the
        // caller's claims.
        yield* sql.unsafe(`CREATE POLICY read_path_clearance ON reprise_server.actions AS RESTRICTIVE FOR SELECT
          USING (tag <> 'note.secret.v1'
            OR (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'clearance') = 'high')`)
        const policed = yield* Effect.gen(function*() {
          const without = yield* sync.fetch("bob", { since: 0, limit: 10 })
          const cleared = yield* sync.fetch("bob", { since: 0, limit: 10 }, { sub: "bob", clearance: "high" })
          return { without, cleared }
        }).pipe(Effect.ensuring(Effect.orDie(sql`DROP POLICY read_path_clearance ON reprise_server.actions`)))
        assert.deepStrictEqual(ids(policed.without), [plain.id])
        // The cursor still moves to the head, past what the caller may not see.
        assert.strictEqual(policed.without.next, 3)
        assert.deepStrictEqual(ids(policed.cleared), [plain.id, secret.id])
        assert.deepStrictEqual(ids(yield* sync.fetch("bob", { since: 0, limit: 10 })), [plain.id, secret.id])

        // Without the role's privileges the reads fail as the server's own failure (the login,
        // a superuser, could read everything).
        const revoked = yield* Effect.gen(function*() {
          yield* sql.unsafe(`REVOKE SELECT ON reprise_server.actions, reprise_server.state FROM "${ROLE}"`)
          return {
            fetch: yield* Effect.exit(sync.fetch("bob", { since: 0, limit: 10 })),
            head: yield* Effect.exit(sync.head("bob"))
          }
        }).pipe(Effect.ensuring(Effect.orDie(sql.unsafe(`GRANT SELECT ON reprise_server.actions, reprise_server.state TO "${ROLE}"`))))
        const fetchFailure = failureOf(revoked.fetch)
        assert.instanceOf(fetchFailure, SyncServer.ServerFailure)
        assert.strictEqual(fetchFailure.detail, "reading the log failed in the server's database (SQLSTATE 42501)")
        const headFailure = failureOf(revoked.head)
        assert.instanceOf(headFailure, SyncServer.ServerFailure)
        assert.strictEqual(headFailure.detail, "reading the head failed in the server's database (SQLSTATE 42501)")
        assert.deepStrictEqual(ids(yield* sync.fetch("carol", { since: 0, limit: 10 })), [elsewhere.id])
      }).pipe(Effect.ensuring(dropRole(ROLE))))
  }
)
