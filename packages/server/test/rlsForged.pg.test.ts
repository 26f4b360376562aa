/**
 * Forged patches on real Postgres (R-SRV-3, issue 15 items 5 and 9): the server takes a patch's
 * audience key from its row as materialized and writes each action under its author's policies,
 * so a client that labels a patch with an audience it does not have, writes a row of another
 * audience, or claims a key that is not its row's is refused with `Forbidden`, naming the table
 * and row, and nothing is written (log and tables unchanged). Also: the in-code `audiences`
 * option feeds the same policies, `"everyone"` filters nothing, a fetch beyond the head is
 * refused, and `Rls.install` refuses an unsafe role.
 */
import { assert, layer } from "@effect/vitest"
import { SyncProtocol, Tracking } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Rls, SyncService } from "../src/index.js"
import { action, asRole, type Claimed, dropRole, type Env, ITEMS, NOTES, roleName, setup, snapshot, upload } from "./rlsHelpers.js"
import { failureOf, request } from "./suites/helpers.js"

const ROLE = roleName("reprise_rls_forged")
const MODES_ROLE = roleName("reprise_rls_modes")

/** Uploads `patches` as one action of `user` and expects `Forbidden` with nothing written; returns its detail. */
const refused = (env: Env, user: string, patches: ReadonlyArray<Claimed>, also: ReadonlyArray<Claimed> = []) =>
  Effect.gen(function*() {
    const before = yield* snapshot(env)
    const actions = also.length === 0 ? [action(user, patches)] : [action(user, also), action(user, patches)]
    const exit = yield* Effect.exit(upload(env, user, actions))
    if (exit._tag === "Success") assert.fail(`accepted: ${JSON.stringify(patches)}`)
    const error = failureOf(exit)
    assert.instanceOf(error, SyncProtocol.UploadRejected)
    const rejected = error as SyncProtocol.UploadRejected
    assert.strictEqual(rejected.reason, "Forbidden", rejected.message)
    assert.strictEqual(rejected.actionId, actions[actions.length - 1]!.id)
    assert.strictEqual(yield* snapshot(env), before, "nothing written")
    return rejected.detail
  })

const note = (id: string, key: string) => ({ id, title: `t-${id}`, audience_key: key })
const item = (id: string, list: string) => ({ id, title: `t-${id}`, list_id: list })

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "300 seconds" })("Forged patches (PostgreSQL)", (it) => {
  /** Verifies: R-SRV-3 (issue 15 item 9: a forged patch is refused and nothing is written) */
  it.effect("labels, rows of other audiences and false audience keys are Forbidden; nothing is written", () =>
    Effect.gen(function*() {
      const env = yield* setup(ROLE)
      const early = Date.now() - 1_000_000
      yield* upload(env, "alice", [action("alice", [
        { op: "INSERT", table: NOTES, rowId: "n-team", forward: note("n-team", "team"), reverse: null, audienceKey: "team" },
        { op: "INSERT", table: ITEMS, rowId: "i-team", forward: item("i-team", "team"), reverse: null, audienceKey: "list:team" }
      ], early)])
      yield* upload(env, "carol", [action("carol", [
        { op: "INSERT", table: NOTES, rowId: "n-ops", forward: note("n-ops", "ops"), reverse: null, audienceKey: "ops" }
      ])])

      // A label the uploader does not have (its row is its own audience's).
      let detail = yield* refused(env, "carol", [
        { op: "INSERT", table: NOTES, rowId: "c1", forward: note("c1", "ops"), reverse: null, audienceKey: "team" }
      ])
      assert.include(detail, `"c1"`)
      assert.include(detail, `"team"`)

      // Rows of another audience, labeled with the uploader's own: the author's policies refuse.
      for (const patch of [
        { op: "INSERT", table: NOTES, rowId: "c2", forward: note("c2", "team"), reverse: null, audienceKey: "ops" },
        { op: "INSERT", table: ITEMS, rowId: "c3", forward: item("c3", "team"), reverse: null, audienceKey: "list:ops" },
        { op: "UPDATE", table: NOTES, rowId: "n-team", forward: { title: "mine" }, reverse: { title: "t-n-team" }, audienceKey: "ops" },
        { op: "DELETE", table: ITEMS, rowId: "i-team", forward: null, reverse: item("i-team", "team"), audienceKey: "list:ops" },
        { op: "UPDATE", table: NOTES, rowId: "n-team", forward: { audience_key: "ops" }, reverse: { audience_key: "team" }, audienceKey: "ops" }
      ] as const) {
        detail = yield* refused(env, "carol", [patch])
        assert.include(detail, JSON.stringify(patch.rowId))
        assert.include(detail, JSON.stringify(`public.${patch.table}`))
      }

      // A key that is not the row's, by a user in both audiences (its policies allow the write).
      const mismatches: ReadonlyArray<readonly [Claimed, string]> = [
        [{ op: "INSERT", table: NOTES, rowId: "d1", forward: note("d1", "ops"), reverse: null, audienceKey: "team" }, `"ops"`],
        [{ op: "INSERT", table: ITEMS, rowId: "d2", forward: item("d2", "ops"), reverse: null, audienceKey: "list:team" }, `"list:ops"`],
        [{ op: "UPDATE", table: NOTES, rowId: "n-team", forward: { audience_key: "ops" }, reverse: { audience_key: "team" }, audienceKey: "team" }, `"ops"`],
        [{ op: "UPDATE", table: ITEMS, rowId: "i-team", forward: { title: "x" }, reverse: { title: "t-i-team" }, audienceKey: "list:ops" }, `"list:team"`],
        [{ op: "DELETE", table: NOTES, rowId: "n-ops", forward: null, reverse: note("n-ops", "ops"), audienceKey: "team" }, `"ops"`]
      ]
      for (const [patch, actual] of mismatches) {
        detail = yield* refused(env, "dave", [patch])
        assert.include(detail, `claims audience key ${JSON.stringify(patch.audienceKey)} but the row's is ${actual}`)
        assert.include(detail, JSON.stringify(patch.rowId))
      }

      // One forged action refuses the whole upload: the honest action before it is not stored either.
      yield* refused(env, "dave", [
        { op: "INSERT", table: NOTES, rowId: "d3", forward: note("d3", "ops"), reverse: null, audienceKey: "team" }
      ], [{ op: "INSERT", table: NOTES, rowId: "d4", forward: note("d4", "team"), reverse: null, audienceKey: "team" }])

      // A late action (ordered after the row's insert but before materialized updates of it) is
      // put in place under its author's identity too: carol's is refused; bob's (a member) is
      // accepted and placed.
      yield* upload(env, "alice", [action("alice", [
        { op: "UPDATE", table: NOTES, rowId: "n-team", forward: { title: "alice" }, reverse: { title: "t-n-team" }, audienceKey: "team" }
      ])])
      const lateByCarol = action("carol", [
        { op: "UPDATE", table: NOTES, rowId: "n-team", forward: { title: "late" }, reverse: { title: "t-n-team" }, audienceKey: "ops" }
      ], early + 50)
      const before = yield* snapshot(env)
      const error = failureOf(yield* Effect.exit(upload(env, "carol", [lateByCarol])))
      assert.strictEqual((error as SyncProtocol.UploadRejected).reason, "Forbidden")
      assert.include((error as SyncProtocol.UploadRejected).detail, `"n-team"`)
      assert.strictEqual(yield* snapshot(env), before)
      yield* upload(env, "bob", [action("bob", [
        { op: "UPDATE", table: NOTES, rowId: "n-team", forward: { title: "bob-late" }, reverse: { title: "t-n-team" }, audienceKey: "team" }
      ], early + 60)])
      const [row] = yield* env.sql<{ title: string }>`SELECT title FROM ${env.sql(NOTES)} WHERE id = 'n-team'`
      assert.strictEqual(row?.title, "alice", "the late update is placed before alice's")
    }).pipe(Effect.ensuring(dropRole(ROLE))))
})

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "300 seconds" })("Audience modes (PostgreSQL)", (it) => {
  /** Verifies: R-SRV-3, R-SYNC-9 (issue 15 item 8: a cursor beyond the head) */
  it.effect("in-code audiences feed the same policies; everyone sees all; a fetch beyond the head is refused; unsafe roles are refused", () =>
    Effect.gen(function*() {
      const env = yield* setup(MODES_ROLE)
      const role = MODES_ROLE
      yield* upload(env, "alice", [action("alice", [
        { op: "INSERT", table: NOTES, rowId: "n1", forward: note("n1", "team"), reverse: null, audienceKey: "team" }
      ])])
      const head = yield* env.sync.head("carol")

      // Database membership: carol (ops) sees nothing of it, until she joins team.
      assert.strictEqual((yield* env.sync.fetch("carol", { since: 0, limit: 100 })).actions.length, 0)
      yield* Rls.addMember("carol", "team")
      assert.strictEqual((yield* env.sync.fetch("carol", { since: 0, limit: 100 })).actions.length, 1)
      yield* Rls.removeMember("carol", "team")
      const direct = (audiences: string) =>
        asRole(env, "carol", (sql) =>
          Effect.zipRight(
            sql`SELECT set_config('reprise.audiences', ${audiences}, true)`,
            Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.patches`, (rows) => rows[0]?.n ?? 0)
          ))
      assert.strictEqual(yield* direct(""), 0)
      assert.strictEqual(yield* direct("{team}"), 1)

      // The in-code option gives the same settings to the same policies.
      const inCode = yield* setupAgain(env, { audiences: (userId) => Effect.succeed(userId === "carol" ? ["team"] : []) })
      const page = yield* inCode.fetch("carol", { since: 0, limit: 100 })
      assert.deepStrictEqual([page.actions.length, page.audiences], [1, ["team"]])
      assert.strictEqual((yield* inCode.fetch("bob", { since: 0, limit: 100 })).actions.length, 0)
      const everyone = yield* setupAgain(env, { audiences: "everyone" })
      assert.strictEqual((yield* everyone.fetch("nobody", { since: 0, limit: 100 })).actions.length, 1)

      // A cursor beyond the head: refused, saying why; at the head, an empty page.
      const beyond = failureOf(yield* Effect.exit(env.sync.fetch("carol", { since: 2 ** 53 - 1, limit: 10 })))
      assert.instanceOf(beyond, SyncProtocol.FetchRejected)
      assert.include((beyond as SyncProtocol.FetchRejected).detail, `beyond this server's head ${head}`)
      const atHead = yield* env.sync.fetch("carol", { since: head, limit: 10 })
      assert.deepStrictEqual([atHead.actions.length, atHead.next, atHead.head], [0, head, head])

      // Rls.install: idempotent; refuses a role that owns something, changing nothing.
      yield* Rls.install({ role })
      const owner = roleName("reprise_rls_owner")
      yield* env.sql.unsafe(`CREATE ROLE "${owner}" NOLOGIN`)
      yield* env.sql.unsafe(`CREATE TABLE owned_by_it (id int)`)
      yield* env.sql.unsafe(`ALTER TABLE owned_by_it OWNER TO "${owner}"`)
      const unsafe = failureOf(yield* Effect.exit(Rls.install({ role: owner })))
      assert.strictEqual((unsafe as Rls.RlsSetupError).problem, "UnsafeRole")
      assert.include((unsafe as Rls.RlsSetupError).detail, "owned_by_it")
      const [recorded] = yield* env.sql<{ role: string }>`SELECT role FROM reprise_server.rls_settings`
      assert.strictEqual(recorded?.role, role)
      yield* env.sql.unsafe(`DROP TABLE owned_by_it`)
      yield* dropRole(owner)
      const invalid = failureOf(yield* Effect.exit(Rls.install({ role: "" })))
      assert.strictEqual((invalid as Rls.RlsSetupError).problem, "InvalidName")
      const untracked = failureOf(yield* Effect.exit(Rls.audiencePolicies({ table: "no_such_table" })))
      assert.strictEqual((untracked as Rls.RlsSetupError).problem, "TableNotTracked")
    }).pipe(Effect.ensuring(dropRole(MODES_ROLE))))
})

/** Another service on the same database, with other options (it finds the same role). */
const setupAgain = (_env: Env, options: SyncService.Options) =>
  Effect.map(Effect.scoped(Layer.build(SyncService.layer(options))), (built) => Context.get(built, SyncService.SyncService))

const APP_ROLE = roleName("reprise_rls_app")

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "300 seconds" })("The app's own policies (PostgreSQL)", (it) => {
  /** Verifies: R-SRV-3 (issue 15 item 5: an app may write its own policies, and the server honours them) */
  it.effect("policies on request.jwt.claims and reprise.user_id decide what an upload may write", () =>
    Effect.gen(function*() {
      const env = yield* setup(APP_ROLE)
      const { sql } = env
      // Anyone reads; only a "pro" token inserts; only the row's owner updates or deletes.
      yield* sql`CREATE TABLE plans (id text PRIMARY KEY, owner text, title text, audience_key text)`
      yield* Tracking.install(["plans"])
      yield* Rls.install({ role: APP_ROLE })
      yield* sql.unsafe(`ALTER TABLE plans ENABLE ROW LEVEL SECURITY;
        ALTER TABLE plans FORCE ROW LEVEL SECURITY;
        CREATE POLICY read ON plans FOR SELECT USING (true);
        CREATE POLICY pro ON plans FOR INSERT WITH CHECK (
          (current_setting('request.jwt.claims', true)::jsonb ->> 'plan') = 'pro'
          AND owner = current_setting('reprise.user_id', true));
        CREATE POLICY own ON plans FOR UPDATE USING (owner = current_setting('reprise.user_id', true));
        CREATE POLICY own_delete ON plans FOR DELETE USING (owner = current_setting('reprise.user_id', true));`)
      const row = (id: string, owner: string) => ({ id, owner, title: "t", audience_key: null })
      const put = (user: string, claims: Record<string, unknown> | undefined, patch: Claimed) =>
        Effect.exit(Effect.flatMap(env.sync.head(user), (basis) =>
          env.sync.upload(user, request(`${user}-client`, basis, [action(user, [patch])]), claims)))
      const ok = yield* put("alice", { sub: "alice", plan: "pro" },
        { op: "INSERT", table: "plans", rowId: "p1", forward: row("p1", "alice"), reverse: null, audienceKey: null })
      assert.strictEqual(ok._tag, "Success")
      const before = yield* snapshot(env)
      const [plansBefore] = yield* sql<{ rows: string }>`SELECT json_agg(p ORDER BY id)::text AS rows FROM plans p`
      for (
        const [user, claims, patch] of [
          ["bob", { sub: "bob", plan: "free" }, { op: "INSERT", table: "plans", rowId: "p2", forward: row("p2", "bob"), reverse: null, audienceKey: null }],
          ["bob", undefined, { op: "INSERT", table: "plans", rowId: "p3", forward: row("p3", "bob"), reverse: null, audienceKey: null }],
          ["bob", { sub: "bob", plan: "pro" }, { op: "UPDATE", table: "plans", rowId: "p1", forward: { title: "bob" }, reverse: { title: "t" }, audienceKey: null }],
          ["bob", { sub: "bob", plan: "pro" }, { op: "DELETE", table: "plans", rowId: "p1", forward: null, reverse: row("p1", "alice"), audienceKey: null }]
        ] as const
      ) {
        const exit = yield* put(user, claims, patch)
        const error = failureOf(exit) as SyncProtocol.UploadRejected
        assert.strictEqual(error.reason, "Forbidden", error.message)
        assert.include(error.detail, `"public.plans"`)
        assert.include(error.detail, JSON.stringify(patch.rowId))
      }
      assert.strictEqual(yield* snapshot(env), before)
      const [plansAfter] = yield* sql<{ rows: string }>`SELECT json_agg(p ORDER BY id)::text AS rows FROM plans p`
      assert.strictEqual(plansAfter?.rows, plansBefore?.rows)
      const own = yield* put("alice", { sub: "alice" },
        { op: "UPDATE", table: "plans", rowId: "p1", forward: { title: "mine" }, reverse: { title: "t" }, audienceKey: null })
      assert.strictEqual(own._tag, "Success")
    }).pipe(Effect.ensuring(dropRole(APP_ROLE))))
})
