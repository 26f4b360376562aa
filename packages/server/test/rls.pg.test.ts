/**
 * Row-level security on real Postgres (R-SRV-3, issue 15 item 5): the service runs as the role
 * `Rls.install` creates (not the tests' superuser login), the log's policies and
 * `Rls.audiencePolicies` on two app tables (an audience column, an audience expression) decide
 * what each principal reads and writes, through direct SQL as the role, through fetch and
 * through upload + materialize; forged patches are refused and write nothing.
 */
import { assert, layer } from "@effect/vitest"
import { SyncProtocol } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { action, asRole, dropRole, NOTES, roleName, setup, snapshot, TABLES, upload } from "./rlsHelpers.js"
import { failureOf } from "./suites/helpers.js"

const ROLE = roleName("reprise_rls_matrix")

/** The principals of the matrix, by the team rows' owner (alice). */
const PRINCIPALS = [
  { name: "owner", user: "alice" },
  { name: "member", user: "bob" },
  { name: "non-member", user: "carol" },
  { name: "anonymous", user: "" }
] as const
const allowed = (principal: string) => principal === "owner" || principal === "member"

const count = (rows: ReadonlyArray<{ readonly n: number }>) => rows[0]?.n ?? 0

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "300 seconds" })("Row-level security (PostgreSQL)", (it) => {
  /** Verifies: R-SRV-3 (issue 15 items 5 and 9: the RLS matrix) */
  it.effect("matrix: 2 tables × {select, insert, update, delete} × 4 principals × {SQL as the role, fetch, upload}", () =>
    Effect.gen(function*() {
      const env = yield* setup(ROLE)
      const { sql } = env
      const [who] = yield* sql<{ login: string; superuser: boolean }>`
        SELECT session_user::text AS login, (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) AS superuser`
      const [roleRow] = yield* sql<{ superuser: boolean; bypass: boolean; owns: number }>`
        SELECT rolsuper AS superuser, rolbypassrls AS bypass,
          (SELECT count(*) FROM pg_class WHERE relowner = r.oid)::int AS owns FROM pg_roles r WHERE rolname = ${ROLE}`
      assert.deepStrictEqual(roleRow, { superuser: false, bypass: false, owns: 0 })
      console.log(`[rls.pg.test] login ${who!.login} (superuser: ${who!.superuser}); requests run as ${ROLE}`)

      // The owner's rows: for each table a row to read, one to update, one to delete, and the
      // actions a fetch shows (an insert, an update, a delete).
      for (const t of TABLES) {
        yield* upload(env, "alice", [action("alice", [
          { op: "INSERT", table: t.name, rowId: `${t.name}-read`, forward: t.row(`${t.name}-read`, "team"), reverse: null, audienceKey: t.key("team") },
          { op: "INSERT", table: t.name, rowId: `${t.name}-gone`, forward: t.row(`${t.name}-gone`, "team"), reverse: null, audienceKey: t.key("team") }
        ])])
        yield* upload(env, "alice", [action("alice", [
          { op: "UPDATE", table: t.name, rowId: `${t.name}-read`, forward: t.setTitle("renamed"), reverse: t.setTitle(`t-${t.name}-read`), audienceKey: t.key("team") }
        ])])
        yield* upload(env, "alice", [action("alice", [
          { op: "DELETE", table: t.name, rowId: `${t.name}-gone`, forward: null, reverse: t.row(`${t.name}-gone`, "team"), audienceKey: t.key("team") }
        ])])
      }

      // The probe can see a leak: the superuser login, which bypasses RLS, sees the row the
      // non-members cannot.
      const bypassed = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(NOTES)} WHERE id = ${`${NOTES}-read`}`
      assert.isAbove(count(bypassed), 0)

      const cells: Array<{
        table: string
        op: string
        principal: string
        sql: boolean
        fetch: boolean
        upload: boolean | null
        reason: string | undefined
      }> = []
      let leaks = 0
      let unauthorized = 0
      let overBlocked = 0
      for (const t of TABLES) {
        const table = sql(t.name)
        for (const p of PRINCIPALS) {
          const may = allowed(p.name)
          // Direct SQL as the role, with the request's settings.
          const probeId = `${t.name}-probe-${p.name}`
          const fresh = t.row(probeId, "team")
          const direct = {
            select: yield* asRole(env, p.user, (s) =>
              Effect.map(s<{ n: number }>`SELECT count(*)::int AS n FROM ${table} WHERE id = ${`${t.name}-read`}`, count)),
            insert: yield* asRole(env, p.user, (s) =>
              Effect.map(s<{ n: number }>`WITH w AS (INSERT INTO ${table} ${s.insert(fresh)} RETURNING 1)
                SELECT count(*)::int AS n FROM w`, count)),
            update: yield* asRole(env, p.user, (s) =>
              Effect.map(s<{ n: number }>`WITH w AS (UPDATE ${table} SET title = 'x' WHERE id = ${`${t.name}-read`} RETURNING 1)
                SELECT count(*)::int AS n FROM w`, count)),
            delete: yield* asRole(env, p.user, (s) =>
              Effect.map(s<{ n: number }>`WITH w AS (DELETE FROM ${table} WHERE id = ${`${t.name}-read`} RETURNING 1)
                SELECT count(*)::int AS n FROM w`, count))
          }
          // Fetch: whether the owner's action (select) and each op's patch on the table reach it.
          const page = yield* env.sync.fetch(p.user, { since: 0, limit: 1000 })
          const patches = page.actions.flatMap((a) => a.patches).filter((x) => x.table === t.name)
          const fetched = {
            select: page.actions.some((a) => a.userId === "alice" && a.patches.some((x) => x.table === t.name)),
            insert: patches.some((x) => x.op === "INSERT"),
            update: patches.some((x) => x.op === "UPDATE"),
            delete: patches.some((x) => x.op === "DELETE")
          }
          // Upload + materialize, on fresh rows of the owner; non-members label their patches
          // with their own audience (or public), so it is the author's policies that refuse them.
          const u = `${t.name}-u-${p.name}`
          const d = `${t.name}-d-${p.name}`
          yield* upload(env, "alice", [action("alice", [
            { op: "INSERT", table: t.name, rowId: u, forward: t.row(u, "team"), reverse: null, audienceKey: t.key("team") },
            { op: "INSERT", table: t.name, rowId: d, forward: t.row(d, "team"), reverse: null, audienceKey: t.key("team") }
          ])])
          const claim = may ? t.key("team") : p.user === "carol" ? t.key("ops") : null
          const ins = `${t.name}-i-${p.name}`
          const attempts = {
            insert: action(p.user, [{ op: "INSERT", table: t.name, rowId: ins, forward: t.row(ins, "team"), reverse: null, audienceKey: claim }]),
            update: action(p.user, [{ op: "UPDATE", table: t.name, rowId: u, forward: t.setTitle("by-" + p.name), reverse: t.setTitle(`t-${u}`), audienceKey: claim }]),
            delete: action(p.user, [{ op: "DELETE", table: t.name, rowId: d, forward: null, reverse: t.row(d, "team"), audienceKey: claim }])
          }
          const uploaded: Record<string, boolean> = {}
          const reasons: Record<string, string> = {}
          for (const [op, attempt] of Object.entries(attempts)) {
            const before = yield* snapshot(env)
            const exit = yield* Effect.exit(upload(env, p.user, [attempt]))
            const after = yield* snapshot(env)
            const accepted = Exit.isSuccess(exit)
            if (!accepted) {
              const error = failureOf(exit)
              assert.instanceOf(error, SyncProtocol.UploadRejected, `${t.name} ${op} ${p.name}`)
              if (error instanceof SyncProtocol.UploadRejected) {
                assert.include(["Forbidden", "WrongAuthor", "Malformed"], error.reason, error.message)
                reasons[op] = error.reason
              }
              if (before !== after) unauthorized++
            }
            uploaded[op] = accepted && before !== after
          }
          for (const op of ["select", "insert", "update", "delete"] as const) {
            const bySql = direct[op] > 0
            const byFetch = fetched[op]
            const byUpload = op === "select" ? null : uploaded[op]!
            const reads = op === "select"
            if (!may) {
              if (reads && bySql) leaks++
              if (!reads && bySql) unauthorized++
              if (byFetch) leaks++
              if (byUpload === true) unauthorized++
            } else if (!bySql || !byFetch || byUpload === false) {
              overBlocked++
            }
            cells.push({ table: t.name, op, principal: p.name, sql: bySql, fetch: byFetch, upload: byUpload, reason: reasons[op] })
          }
        }
      }
      const mark = (v: boolean | null) => v === null ? "—" : v ? "allowed" : "denied"
      console.log(
        "[rls.pg.test] RLS matrix (allowed = the principal read or wrote the owner's team row; denied = refused or invisible)\n" +
          ["table      op      principal    SQL as role  fetch     upload+materialize",
            ...cells.map((c) =>
              `${c.table.padEnd(10)} ${c.op.padEnd(7)} ${c.principal.padEnd(12)} ${mark(c.sql).padEnd(12)} ${mark(c.fetch).padEnd(9)} ${mark(c.upload)}${c.reason === undefined ? "" : ` (${c.reason})`}`
            )].join("\n") +
          `\n[rls.pg.test] ${cells.length} cells: ${leaks} leaks, ${unauthorized} unauthorized writes, ${overBlocked} refusals of allowed work`
      )
      assert.strictEqual(cells.length, 32)
      assert.strictEqual(leaks, 0)
      assert.strictEqual(unauthorized, 0)
      assert.strictEqual(overBlocked, 0)
    }).pipe(Effect.ensuring(dropRole(ROLE))))
})
