/**
 * `Client.layer` on real PGlite: in memory and in a directory, reopened (data, client id and
 * migrations kept), with migrations added, changed and failing, and its actions inspected
 * through the API (R-CLI-5).
 */
import { assert, describe, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { SyncEngine, SyncSchema } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Client, Errors, Inspect, Migrations, Storage } from "../src/index.js"
import { actions, createNote, migrations, renameNote } from "./fixtures.js"

const config = (storage: Storage.Storage, steps = migrations): Client.Config => ({
  storage,
  migrations: steps,
  tables: ["notes"],
  actions,
  userId: "user-1",
  development: true
})

/** Runs `effect` on a client opened with `cfg`, closing it after. */
const withClient = <A, E>(cfg: Client.Config, effect: Effect.Effect<A, E, Client.Services>) =>
  Effect.scoped(Effect.flatMap(Layer.build(Client.layer(cfg)), (context) => Effect.provide(effect, context)))

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "reprise-client-"))

// One in-memory client for the checks that need no other (each client opened costs seconds).
describe("Client.layer in memory", () => {
  /** Verifies: R-CLI-5, R-ACT-2 */
  it.live("actions run, are pending and are inspected through the API; query is read-only; a local-only sync fails typed", () =>
    withClient(config(Storage.memory()), Effect.gen(function*() {
      const client = yield* Client.Client
      const id = yield* Client.run(createNote, { title: "Hello", team: "team-1" })
      yield* client.run(renameNote, { id, title: "Hello again" })
      const rows = yield* Client.query<{ id: string; title: string; pinned: boolean }>(
        "SELECT id, title, pinned FROM notes WHERE id = $1",
        [id]
      )
      assert.deepStrictEqual(rows, [{ id, title: "Hello again", pinned: false }])

      const inspect = yield* Inspect.Inspect
      const pending = yield* inspect.pending
      assert.deepStrictEqual(pending.map((a) => [a.tag, a.args]), [
        ["note.create.v1", { title: "Hello", team: "team-1" }],
        ["note.rename.v1", { id, title: "Hello again" }]
      ])
      for (const action of pending) {
        assert.strictEqual(action.clientId, client.clientId)
        assert.strictEqual(action.userId, "user-1")
        assert.isNull(action.serverSeq)
        assert.isFalse(action.synced)
        assert.isFalse(action.correction)
        assert.isTrue(action.own)
        assert.isAbove(action.timestamp, 0)
      }
      assert.isTrue(pending[0]!.hlc < pending[1]!.hlc)
      assert.deepStrictEqual(yield* inspect.counts, { pending: 2, quarantined: 0 })
      assert.strictEqual(yield* inspect.cursor, 0)
      assert.deepStrictEqual(yield* inspect.synced(), [])
      assert.deepStrictEqual(Option.map(yield* inspect.action(pending[1]!.id), (a) => a.tag), Option.some("note.rename.v1"))
      assert.isTrue(Option.isNone(yield* inspect.lastSync))

      // runTag runs a registered action from its encoded args (as a facade sends them).
      const byTag = yield* client.runTag("note.create.v1", { title: "By tag", team: "team-1" })
      assert.isString(byTag)
      const unknown = yield* Effect.flip(client.runTag("note.archive.v1", {}))
      assert.strictEqual((unknown as { readonly _tag: string })._tag, "UnknownActionTag")
      assert.deepStrictEqual(yield* inspect.counts, { pending: 3, quarantined: 0 })

      // query is read-only: a write through it fails and changes nothing.
      const failed = yield* Effect.exit(Client.query("CREATE TABLE sneaky (id int)"))
      assert.isTrue(Exit.isFailure(failed))
      const tables = yield* Client.query("SELECT 1 FROM pg_tables WHERE tablename = 'sneaky'")
      assert.strictEqual(tables.length, 0)

      // A local-only client's sync fails with a typed TransportError, kept as the last sync;
      // its actions stay pending.
      const before = yield* Effect.flatMap(Inspect.Inspect, (inspect) => inspect.counts)
      yield* Client.run(createNote, { title: "Offline", team: "team-1" })
      const error = yield* Effect.flip(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))
      assert.strictEqual(error._tag, "TransportError")
      const last = yield* Effect.flatMap(Inspect.Inspect, (inspect) => inspect.lastSync)
      assert.isTrue(Option.isSome(last) && last.value._tag === "Failure" && last.value.error._tag === "TransportError")
      assert.deepStrictEqual(yield* Effect.flatMap(Inspect.Inspect, (inspect) => inspect.counts), {
        pending: before.pending + 1,
        quarantined: 0
      })
    })), 180_000)
})

describe("Client.layer on a directory", () => {
  /** Verifies: R-CLI-5 */
  it.live("in a directory: reopening keeps the data, the client id and the applied migrations; an added step runs once", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const storage = Storage.directory(dir)
      const first = yield* withClient(config(storage, migrations.slice(0, 1)), Effect.gen(function*() {
        const id = yield* Client.run(createNote, { title: "Kept", team: "team-1" })
        return { id, clientId: (yield* Client.Client).clientId, applied: yield* Migrations.applied }
      }))
      assert.deepStrictEqual(first.applied.map((m) => [m.version, m.name]), [[1, "create notes"]])

      const second = yield* withClient(config(storage), Effect.gen(function*() {
        const client = yield* Client.Client
        const rows = yield* Client.query<{ id: string; title: string; pinned: boolean }>("SELECT id, title, pinned FROM notes")
        const pending = yield* Effect.flatMap(Inspect.Inspect, (i) => i.pending)
        return { clientId: client.clientId, rows, pending: pending.length, applied: yield* Migrations.applied }
      }))
      assert.strictEqual(second.clientId, first.clientId)
      assert.deepStrictEqual(second.rows, [{ id: first.id, title: "Kept", pinned: false }])
      assert.strictEqual(second.pending, 1)
      assert.deepStrictEqual(second.applied.map((m) => [m.version, m.name]), [[1, "create notes"], [2, "notes.pinned"]])

      // A third open applies nothing: a step that ran again would fail (the column exists).
      const third = yield* withClient(config(storage), Effect.gen(function*() {
        const applied = yield* Migrations.applied
        return { clientId: (yield* Client.Client).clientId, applied }
      }))
      assert.strictEqual(third.clientId, first.clientId)
      assert.deepStrictEqual(third.applied.map((m) => m.appliedAt.getTime()), second.applied.map((m) => m.appliedAt.getTime()))

      // A released step edited afterwards: opening fails, naming it, and nothing runs.
      const edited = [migrations[0]!, { name: "notes.pinned", sql: "ALTER TABLE notes ADD COLUMN pinned boolean" }]
      const refused = yield* Effect.flip(withClient(config(storage, edited), Effect.void))
      assert.instanceOf(refused, Errors.MigrationChanged)
      assert.include(refused.message, "\"notes.pinned\"")
      assert.include(refused.message, "different SQL")
    }).pipe(Effect.scoped), 240_000)

  /** Verifies: R-CLI-5 */
  it.live("a database of a newer Reprise sync schema is refused with DatabaseTooNew, untouched", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const newer = SyncSchema.CURRENT_VERSION + 1
      yield* Effect.promise(async () => {
        const db = await PGlite.create(dir)
        await db.exec(`CREATE SCHEMA reprise; CREATE TABLE reprise.schema_version (version integer PRIMARY KEY);
          INSERT INTO reprise.schema_version VALUES (${newer})`)
        await db.close()
      })
      const refused = yield* Effect.flip(withClient(config(Storage.directory(dir)), Effect.void))
      assert.instanceOf(refused, Errors.DatabaseTooNew)
      assert.deepStrictEqual([refused.what, refused.installed, refused.supported], ["sync-schema", newer, SyncSchema.CURRENT_VERSION])
      const untouched = yield* Effect.promise(async () => {
        const db = await PGlite.create(dir)
        const { rows } = await db.query("SELECT to_regclass('reprise.app_migrations') IS NULL AS none")
        await db.close()
        return rows
      })
      assert.deepStrictEqual(untouched, [{ none: true }], "no migration ran on it")
    }).pipe(Effect.scoped), 240_000)

  /** Verifies: R-CLI-5 */
  it.live("a storage spec that cannot work in Node fails the layer with InvalidStorage before PGlite starts", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(withClient(config(Storage.indexedDb("notes")), Effect.void))
      assert.instanceOf(refused, Errors.InvalidStorage)
      assert.include(refused.message, "Storage.directory")
    }))
})
