/**
 * The quarantine's storage (R-REC-3): the sync schema's version 4 upgrades a database of
 * version 3 in place (a user who upgrades keeps the client id, the action log and the
 * watermark, and gets the quarantine table; installing again changes nothing), and a retried
 * quarantined correction is recomputed from the current state rather than replayed with its
 * old images.
 */
import { assert, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createSchemaV1, migrateSchemaV2, migrateSchemaV3 } from "../src/internal/sql/schema.js"
import { Action, ActionExecutor, ActionRegistry, Quarantine, SyncSchema, Tracking } from "../src/index.js"

const id = "00000000-0000-4000-8000-00000000000a"

/** A database as Reprise's sync schema version 3 left it, with a client, a record and a watermark. */
const versionThree = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(createSchemaV1)
  yield* sql.unsafe(migrateSchemaV2)
  yield* sql.unsafe(migrateSchemaV3)
  yield* sql`INSERT INTO reprise.schema_version (version) VALUES (1), (2), (3)`
  yield* sql`INSERT INTO reprise.client_state (client_id, last_server_seq) VALUES ('old-client', 7)`
  yield* sql`
    INSERT INTO reprise.action_records (id, tag, args, client_id, user_id, hlc, synced)
    VALUES (${id}, 'note.put.v1', '{"input":{"id":"n1"},"timestamp":1}', 'old-client', 'u1',
      '001700000000000.00000.old-client', false)`
})

layer(PgliteClient.layer({}), { timeout: "120 seconds", excludeTestServices: true })("Quarantine storage", (it) => {
  /** Verifies: R-REC-3 (the quarantine's storage), R-ACT-2 (a versioned schema that upgrades in place) */
  it.effect("upgrades a version 3 database in place, keeping its data, and adds the quarantine", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* versionThree
      assert.strictEqual(yield* SyncSchema.installedVersion(sql), 3)
      const [before] = yield* sql<{ present: boolean }>`
        SELECT to_regclass('reprise.quarantined_actions') IS NOT NULL AS present`
      assert.isFalse(before?.present)

      const installed = yield* SyncSchema.install({ clientId: "new-client" })
      assert.deepStrictEqual(installed, { clientId: "old-client", version: 4 })
      assert.strictEqual(SyncSchema.CURRENT_VERSION, 4)
      assert.strictEqual(yield* SyncSchema.installedVersion(sql), 4)
      const versions = yield* sql<{ version: number }>`SELECT version FROM reprise.schema_version ORDER BY version`
      assert.deepStrictEqual(versions.map((v) => v.version), [1, 2, 3, 4])
      const records = yield* sql<{ id: string; synced: boolean }>`SELECT id::text AS id, synced FROM reprise.action_records`
      assert.deepStrictEqual(records, [{ id, synced: false }])
      const [state] = yield* sql<{ seq: string }>`SELECT last_server_seq::text AS seq FROM reprise.client_state`
      assert.strictEqual(state?.seq, "7")

      // The quarantine works on the upgraded database, and a second install changes nothing.
      const quarantine = yield* Effect.provide(
        Quarantine.make,
        Layer.provideMerge(ActionExecutor.layer({ userId: "u1" }), ActionRegistry.layer([]))
      )
      assert.deepStrictEqual(yield* quarantine.list, [])
      yield* SyncSchema.install()
      assert.deepStrictEqual(yield* SyncSchema.installedVersion(sql), 4)
      const after = yield* sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records`
      assert.deepStrictEqual(after.map((r) => r.id), [id])
    }))

  /** Verifies: R-REC-3, R-SYNC-3 */
  it.effect("a retried correction is recomputed: rows that already agree with the server get none", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE qnotes (id text PRIMARY KEY, title text NOT NULL, audience_key text)`
      yield* Tracking.install(["qnotes"])
      const put = Action.make({
        tag: "qnote.put.v1",
        args: Schema.Struct({ id: Schema.String, title: Schema.String }),
        run: ({ id, title }) => Effect.asVoid(sql`INSERT INTO qnotes (id, title) VALUES (${id}, ${title})`)
      })
      const services = Layer.provideMerge(ActionExecutor.layer({ userId: "u1" }), ActionRegistry.layer([put]))
      const correction = "00000000-0000-4000-8000-00000000000c"
      yield* Effect.gen(function*() {
        yield* ActionExecutor.execute(put, { id: "n1", title: "x" })
        // A correction quarantined earlier, computed when the row was to be "y".
        const image = JSON.stringify({ id: "n1", title: "y", audience_key: null })
        yield* sql`
          INSERT INTO reprise.quarantined_actions
            (id, tag, args, client_id, user_id, hlc, kind, known_patches, reason, detail, quarantined_at)
          VALUES (${correction}, 'reprise.correction.v1',
            ${JSON.stringify({
          input: { rows: [{ schema: "public", table: "qnotes", rowId: "n1", image }], restates: [], audience: null },
          timestamp: 1
        })}::jsonb,
            'old-client', 'u1', '001700000000001.00000.old-client', 'correction',
            ${JSON.stringify([{
          seq: 1,
          table_schema: "public",
          table_name: "qnotes",
          row_id: "n1",
          op: "UPDATE",
          forward: { title: "y" },
          reverse: { title: "x" },
          audience_key: null
        }])}::jsonb,
            'Malformed', 'test', 1)`
        const quarantine = yield* Quarantine.make
        assert.deepStrictEqual((yield* quarantine.list).map((a) => [a.id, a.kind]), [[correction, "correction"]])
        yield* quarantine.retry(correction)
        assert.deepStrictEqual(yield* quarantine.list, [])
        const notes = yield* sql<{ title: string }>`SELECT title FROM qnotes`
        assert.deepStrictEqual(notes.map((n) => n.title), ["x"])
        const corrections = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM reprise.action_records WHERE kind = 'correction'`
        assert.strictEqual(corrections[0]?.n, 0)
      }).pipe(Effect.provide(services))
    }))
})
