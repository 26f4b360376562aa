/**
 * Schema installer, tracking installer, trigger capture and patch application: one suite run
 * on PGlite and on real Postgres.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { SqlState } from "@reprise/sql-pglite"
import { Patch, SyncSchema, Tracking } from "../../src/index.js"
import { asAction, failureOf, uniqueName } from "./helpers.js"

const ALL_TYPES = `
  id text PRIMARY KEY,
  t text, i integer, b bigint, n numeric, f boolean, j jsonb,
  ta text[], ia int[], ts timestamptz, u uuid, by bytea,
  audience_key text`

/** The table's rows as Postgres renders them: exact for every column type. */
const snapshot = (sql: SqlClient.SqlClient, table: string) =>
  Effect.map(
    sql<{ r: string }>`SELECT t::text AS r FROM ${sql(table)} AS t ORDER BY id`,
    (rows) => rows.map((row) => row.r)
  )

export const captureSuite = (name: string, driver: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  layer(driver, { timeout: "120 seconds", excludeTestServices: true })(`capture and apply: ${name}`, (it) => {
    describe("SyncSchema", () => {
      /** Verifies: R-ACT-2 (the records and patches live in a versioned, idempotent schema) */
      it.effect("installs idempotently, keeps the client id and refuses a newer schema", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const first = yield* SyncSchema.install({ clientId: "client-a" })
          const second = yield* SyncSchema.install({ clientId: "client-b" })
          assert.strictEqual(first.clientId, "client-a")
          assert.strictEqual(second.clientId, "client-a")
          assert.strictEqual(yield* SyncSchema.installedVersion(sql), SyncSchema.CURRENT_VERSION)
          const badId = failureOf(yield* Effect.exit(SyncSchema.install({ clientId: "client a; drop" })))
          assert.strictEqual(badId._tag, "InvalidClientId")
          const indexes = yield* sql<{ indexname: string }>`
            SELECT indexname FROM pg_indexes WHERE schemaname = 'reprise' AND tablename = 'action_records' ORDER BY 1`
          const names = indexes.map((r) => r.indexname)
          assert.include(names, "action_records_replay_order")
          assert.include(names, "action_records_server_seq_key")
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`INSERT INTO reprise.schema_version (version) VALUES (99)`
            const error = failureOf(yield* Effect.exit(SyncSchema.install()))
            assert.strictEqual(error._tag, "SchemaVersionTooNew")
            assert.include(error.message, "version 99")
            return yield* Effect.fail("undo" as const)
          })).pipe(Effect.exit)
          assert.strictEqual(yield* SyncSchema.installedVersion(sql), SyncSchema.CURRENT_VERSION)
        }))
    })

    describe("Tracking.install", () => {
      /** Verifies: R-ACT-5 */
      it.effect("validates every table and installs nothing when one is bad", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* SyncSchema.install()
          const good = uniqueName("good")
          const noPk = uniqueName("nopk")
          const compositePk = uniqueName("composite")
          const otherPk = uniqueName("otherpk")
          const noAudience = uniqueName("noaud")
          yield* sql`CREATE TABLE ${sql(good)} (id text PRIMARY KEY, audience_key text)`
          yield* sql`CREATE TABLE ${sql(noPk)} (id text, audience_key text)`
          yield* sql`CREATE TABLE ${sql(compositePk)} (id text, k int, audience_key text, PRIMARY KEY (id, k))`
          yield* sql`CREATE TABLE ${sql(otherPk)} (key text PRIMARY KEY, audience_key text)`
          yield* sql`CREATE TABLE ${sql(noAudience)} (id text PRIMARY KEY)`
          const cases = [
            [`${good}; DROP TABLE ${good}`, "TableNotFound"],
            [uniqueName("missing"), "TableNotFound"],
            [noPk, "PrimaryKeyNotId"],
            [compositePk, "PrimaryKeyNotId"],
            [otherPk, "PrimaryKeyNotId"],
            [noAudience, "AudienceColumnMissing"]
          ] as const
          for (const [table, problem] of cases) {
            const error = failureOf(yield* Effect.exit(Tracking.install([good, table])))
            assert.strictEqual(error._tag, "TrackingError")
            if (error._tag === "TrackingError") {
              assert.strictEqual(error.problem, problem)
              assert.include(error.message, JSON.stringify(table))
            }
          }
          const badExpression = failureOf(yield* Effect.exit(
            Tracking.install([good, { name: noAudience, audienceExpression: "r.no_such_column" }])
          ))
          assert.strictEqual(badExpression._tag === "TrackingError" && badExpression.problem, "InvalidAudienceExpression")
          const injection = failureOf(yield* Effect.exit(
            Tracking.install([{ name: noAudience, audienceExpression: "'x'; DROP TABLE t" }])
          ))
          assert.strictEqual(injection._tag === "TrackingError" && injection.problem, "InvalidAudienceExpression")
          // Nothing was installed for the good table either, and it still exists.
          const triggers = yield* sql<{ c: number }>`
            SELECT count(*)::int AS c FROM pg_trigger WHERE tgrelid = to_regclass(format('%I', ${good}::text)) AND tgname = 'reprise_capture'`
          assert.strictEqual(triggers[0]?.c, 0)
          const tracked = yield* sql`SELECT * FROM reprise.tracked_tables WHERE table_name = ${good}`
          assert.strictEqual(tracked.length, 0)
          // With the bad ones gone it installs, twice without harm.
          yield* Tracking.install([good, { name: noAudience, audienceExpression: "'team:' || r.id" }])
          const installed = yield* Tracking.install([good, { name: noAudience, audienceExpression: "'team:' || r.id" }])
          assert.deepStrictEqual(installed.map((t) => [t.name, t.idType, t.audience]), [
            [good, "text", "column:audience_key"],
            [noAudience, "text", "expression:'team:' || r.id"]
          ])
        }))

      /** Verifies: R-ACT-5, R-ACT-3 */
      it.effect("quotes names with quotes, semicolons, spaces and unicode, and refuses writes outside actions", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* SyncSchema.install()
          const schema = uniqueName(`sch "é"`)
          const table = `tâble "q"; x ✓`
          const audience = `aud; "k"`
          yield* sql`CREATE SCHEMA ${sql(schema)}`
          yield* sql`CREATE TABLE ${sql(schema)}.${sql(table)} (id text PRIMARY KEY, ${sql("we ird")} text, ${sql(audience)} text)`
          yield* Tracking.install([{ schema, name: table, audienceColumn: audience }])
          const outside = failureOf(yield* Effect.exit(
            sql`INSERT INTO ${sql(schema)}.${sql(table)} (id) VALUES ('x')`
          ))
          assert.strictEqual(SqlState.fromError(outside), "RP001")
          assert.include(String((outside as { cause: Error }).cause.message), "outside an action")
          const patches = yield* asAction(sql, Effect.gen(function*() {
            yield* sql`INSERT INTO ${sql(schema)}.${sql(table)} ${sql.insert({ id: "r1", "we ird": "v", [audience]: "team-1" })}`
            yield* sql`UPDATE ${sql(schema)}.${sql(table)} SET ${sql("we ird")} = 'w' WHERE id = 'r1'`
          }))
          assert.deepStrictEqual(patches.map((p) => [p.schema, p.table, p.op, p.audienceKey]), [
            [schema, table, "INSERT", "team-1"],
            [schema, table, "UPDATE", "team-1"]
          ])
          yield* Patch.apply(patches, "reverse")
          const rows = yield* sql`SELECT * FROM ${sql(schema)}.${sql(table)}`
          assert.strictEqual(rows.length, 0)
        }))
    })

    describe("capture", () => {
      /** Verifies: R-ACT-2, R-ACT-3 */
      it.effect("records full rows for inserts, changed columns for updates, old rows for deletes", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* SyncSchema.install()
          const table = uniqueName("cap")
          yield* sql`CREATE TABLE ${sql(table)} (id text PRIMARY KEY, title text, body text, audience_key text)`
          yield* Tracking.install([table])
          const patches = yield* asAction(sql, Effect.gen(function*() {
            yield* sql`INSERT INTO ${sql(table)} ${sql.insert([
              { id: "a", title: "A", body: "x", audience_key: "k1" },
              { id: "b", title: "B", body: "y", audience_key: "k2" }
            ])}`
            yield* sql`UPDATE ${sql(table)} SET title = 'A2' WHERE id = 'a'`
            yield* sql`UPDATE ${sql(table)} SET title = title, body = body`
            yield* sql`DELETE FROM ${sql(table)} WHERE id = 'b'`
          }))
          assert.deepStrictEqual(patches.map((p) => [p.seq, p.op, p.rowId, Patch.columns(p.forward), Patch.columns(p.reverse), p.audienceKey]), [
            [1, "INSERT", "a", { id: "a", title: "A", body: "x", audience_key: "k1" }, null, "k1"],
            [2, "INSERT", "b", { id: "b", title: "B", body: "y", audience_key: "k2" }, null, "k2"],
            [3, "UPDATE", "a", { title: "A2" }, { title: "A" }, "k1"],
            [4, "DELETE", "b", null, { id: "b", title: "B", body: "y", audience_key: "k2" }, "k2"]
          ])
          const changeId = failureOf(yield* Effect.exit(asAction(sql, sql`UPDATE ${sql(table)} SET id = 'z' WHERE id = 'a'`)))
          assert.strictEqual(SqlState.fromError(changeId), "RP004")
        }))

      /** Verifies: R-ACT-2 */
      it.effect("round-trips every column type exactly through reverse and forward application", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* SyncSchema.install()
          const table = uniqueName("types")
          yield* sql.unsafe(`CREATE TABLE "${table}" (${ALL_TYPES})`)
          yield* Tracking.install([table])
          const states = [yield* snapshot(sql, table)]
          const steps = [
            sql`INSERT INTO ${sql(table)} (id, t, i, b, n, f, j, ta, ia, ts, u, by, audience_key) VALUES
              ('r1', 'tëxt "q" \\ ,', -2147483648, ${"9223372036854775807"}::bigint, ${"123456789012345678901234567890.000000000123"}::numeric,
               true, ${"{\"a\": [1, 2.5, \"x\"], \"b\": {\"c\": null}, \"big\": 12345678901234567890.5}"}::jsonb,
               ARRAY['a,b', 'c"d', NULL, ''], ARRAY[1, NULL, -3], '2024-02-29 23:59:59.123456+05:30',
               '6f1c2a4e-8a1b-4c1d-9e2f-0a1b2c3d4e5f', '\\x00ff10'::bytea, 'k'),
              ('r2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
            sql`UPDATE ${sql(table)} SET t = NULL, i = 7, b = -1, n = 'NaN', f = false, j = '[]'::jsonb, ta = '{}', ia = ARRAY[2],
              ts = '1970-01-01 00:00:00+00', u = NULL, by = '\\x'::bytea WHERE id = 'r1'`,
            sql`UPDATE ${sql(table)} SET t = 'now set', j = 'null'::jsonb, by = '\\xdeadbeef'::bytea WHERE id = 'r2'`,
            sql`DELETE FROM ${sql(table)} WHERE id = 'r1'`
          ]
          const patchSets: Array<ReadonlyArray<Patch.Patch>> = []
          for (const step of steps) {
            patchSets.push(yield* asAction(sql, step))
            states.push(yield* snapshot(sql, table))
          }
          // Undo every step, newest first, checking each intermediate state exactly...
          for (let k = steps.length - 1; k >= 0; k--) {
            yield* Patch.apply(patchSets[k]!, "reverse")
            assert.deepStrictEqual(yield* snapshot(sql, table), states[k])
          }
          // ...then redo them all in one batch and land on the final state.
          const applied = yield* Patch.apply(patchSets.flat(), "forward")
          assert.strictEqual(applied, patchSets.flat().length)
          assert.deepStrictEqual(yield* snapshot(sql, table), states[steps.length])
          // Applying captured nothing new: capture was off during apply.
          const [count] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_patches WHERE table_name = ${table}`
          assert.strictEqual(count?.c, patchSets.flat().length)
        }))

      /** Verifies: R-ACT-2 */
      it.effect("applies a large batch of patches in one call and fails atomically on a bad one", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* SyncSchema.install()
          const table = uniqueName("batch")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, v int, audience_key text)`
          yield* Tracking.install([table])
          const patches = yield* asAction(sql, Effect.gen(function*() {
            yield* sql`INSERT INTO ${sql(table)} (id, v) SELECT g, g FROM generate_series(1, 400) g`
            yield* sql`UPDATE ${sql(table)} SET v = v * 2 WHERE id % 2 = 0`
          }))
          assert.strictEqual(patches.length, 600)
          yield* Patch.apply(patches, "reverse")
          const [empty] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)}`
          assert.strictEqual(empty?.c, 0)
          yield* Patch.apply(patches, "forward")
          const [sum] = yield* sql<{ s: string }>`SELECT sum(v)::text AS s FROM ${sql(table)}`
          assert.strictEqual(sum?.s, String(400 * 401 / 2 + 200 * 201))
          // A patch for an untracked table fails the whole batch: nothing of it is applied.
          const bogus = new Patch.Patch({ ...patches[0]!, table: uniqueName("untracked") })
          const error = failureOf(yield* Effect.exit(sql.withTransaction(Patch.apply([...patches.slice(0, 10), bogus], "reverse"))))
          assert.strictEqual(SqlState.fromError(error), "RP002")
          const [still] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)}`
          assert.strictEqual(still?.c, 400)
        }))
    })
  })
