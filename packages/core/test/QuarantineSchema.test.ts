/**
 * The sync schema's version 4 (the quarantine, R-REC-3) upgrades a database of version 3 in
 * place: a user who upgrades keeps the client id, the action log and the watermark, and gets
 * the quarantine table; installing again changes nothing.
 */
import { assert, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createSchemaV1, migrateSchemaV2, migrateSchemaV3 } from "../src/internal/sql/schema.js"
import { ActionExecutor, ActionRegistry, Quarantine, SyncSchema } from "../src/index.js"

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

layer(PgliteClient.layer({}), { timeout: "120 seconds", excludeTestServices: true })("SyncSchema v3 -> v4", (it) => {
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
})
