/**
 * The quarantine against a server on real Postgres under row-level security (R-REC-3 with
 * R-SRV-3): the app's own restrictive policy refuses one of a replica's writes (its audience is
 * the author's own, so only the table's policy says no), the server rejects the upload as
 * `Forbidden` naming the action, the replica quarantines it with its effects undone and uploads
 * the rest; once the policy is lifted, a retry goes up and the replica converges with the server.
 */
import { assert, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgFixture from "@reprise/pg-fixture"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { InProcessTransport, Rls, SyncService } from "../../server/src/index.js"
import { Action, ActionExecutor, ActionRegistry, Quarantine, SyncEngine, SyncSchema, Tracking } from "../src/index.js"

const TABLE = "q_notes"
const ROLE = `reprise_quarantine_${process.pid}_${Date.now().toString(36)}`

const putNote = Action.make({
  tag: "qnote.put.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO ${sql(TABLE)} (id, title, audience_key) VALUES (${id}, ${title}, 'team')`
    })
})

const tableSql = `CREATE TABLE IF NOT EXISTS ${TABLE} (id text PRIMARY KEY, title text NOT NULL, audience_key text)`

/** The table's rows as Postgres renders them, by id. */
const rows = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM ${sql(TABLE)} t ORDER BY id`, (rs) => rs.map((x) => x.r)))

layer(PgFixture.layer(), { excludeTestServices: true, timeout: "300 seconds" })("Quarantine (PostgreSQL, RLS)", (it) => {
  /** Verifies: R-REC-3, R-SRV-3 */
  it.scoped("a write the app's policy forbids is quarantined, the rest goes up, and a retry after the fix converges", () =>
    Effect.gen(function*() {
      const server = yield* SqlClient.SqlClient
      yield* Rls.install({ role: ROLE })
      yield* server.unsafe(tableSql)
      yield* Tracking.install([TABLE])
      yield* Rls.audiencePolicies({ table: TABLE })
      yield* Rls.addMember("alice", "team")
      // The app's own rule: no locked titles.
      yield* server.unsafe(
        `CREATE POLICY no_locked ON ${TABLE} AS RESTRICTIVE FOR INSERT WITH CHECK (title NOT LIKE 'locked%')`
      )
      yield* Effect.addFinalizer(() =>
        Effect.orDie(Effect.gen(function*() {
          yield* server.unsafe(`DROP OWNED BY "${ROLE}"`)
          yield* server.unsafe(`DROP ROLE "${ROLE}"`)
        }))
      )
      const service = yield* Layer.build(SyncService.layer())

      const replica = yield* Layer.build(
        Layer.merge(SyncEngine.layer({ maxUploadAttempts: 3 }), Quarantine.layer).pipe(
          Layer.provideMerge(InProcessTransport.layer("alice").pipe(Layer.provide(Layer.succeedContext(service)))),
          Layer.provideMerge(ActionExecutor.layer({ userId: "alice" })),
          Layer.provideMerge(ActionRegistry.layer([putNote])),
          Layer.provideMerge(PgliteClient.layer({}))
        )
      )
      const onReplica = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | ActionExecutor.ActionExecutor>) =>
        Effect.provide(effect, replica)
      yield* onReplica(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(tableSql)
        yield* SyncSchema.install()
        yield* Tracking.install([TABLE])
      }))
      const engine = Context.get(replica, SyncEngine.SyncEngine)
      const quarantine = Context.get(replica, Quarantine.Quarantine)

      yield* onReplica(ActionExecutor.execute(putNote, { id: "a", title: "open" }))
      yield* onReplica(ActionExecutor.execute(putNote, { id: "b", title: "locked plan" }))
      yield* onReplica(ActionExecutor.execute(putNote, { id: "c", title: "also open" }))
      const report = yield* engine.sync
      assert.strictEqual(report.quarantined, 1)
      assert.strictEqual(report.uploaded, 2)
      const [entry, ...more] = yield* quarantine.list
      assert.strictEqual(more.length, 0)
      assert.strictEqual(entry?.reason, "Forbidden")
      assert.deepStrictEqual(entry?.args, { id: "b", title: "locked plan" })
      assert.include(entry?.detail, `"b"`)
      const expected = ["(a,open,team)", "(c,\"also open\",team)"]
      assert.deepStrictEqual(yield* onReplica(rows), expected)
      assert.deepStrictEqual(yield* rows, expected)

      // The rule is lifted; the retry goes up at its place.
      yield* server.unsafe(`DROP POLICY no_locked ON ${TABLE}`)
      yield* quarantine.retry(entry!.id)
      const retried = yield* engine.sync
      assert.strictEqual(retried.quarantined, 0)
      assert.strictEqual(retried.uploaded, 1)
      assert.deepStrictEqual(yield* quarantine.list, [])
      const all = ["(a,open,team)", "(b,\"locked plan\",team)", "(c,\"also open\",team)"]
      assert.deepStrictEqual(yield* rows, all)
      assert.deepStrictEqual(yield* onReplica(rows), all)
    }))
})
