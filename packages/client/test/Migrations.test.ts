/**
 * The app's migrations on real PGlite: applied once each and recorded, a failing step rolled
 * back with its record and named with the database's message, released steps renamed, moved,
 * edited or removed refused by name, a database of a newer app refused; and storage specs that
 * cannot work in Node refused before PGlite starts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import { Errors, Migrations, Storage } from "../src/index.js"

const a = { name: "a", sql: "CREATE TABLE ta (id text PRIMARY KEY)" }
const b = { name: "b", sql: "CREATE TABLE tb (id text PRIMARY KEY)" }
const c = { name: "c", sql: "CREATE TABLE tc (id text PRIMARY KEY)" }

describe("Migrations", () => {
  it.layer(PgliteClient.layer({}))("on one database, in order", (it) => {
    /** Verifies: R-CLI-5 */
    it.effect("steps run once each, in order; a failing step is named, rolled back, and the later ones wait", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual(yield* Migrations.apply([a]), { ran: ["a"], version: 1 })
        assert.deepStrictEqual(yield* Migrations.apply([a]), { ran: [], version: 1 })

        const broken = { name: "b", sql: "CREATE TABLE tb (id text PRIMARY KEY); INSERT INTO nowhere VALUES (1)" }
        const failed = yield* Effect.flip(Migrations.apply([a, broken, c]))
        assert.instanceOf(failed, Errors.MigrationFailed)
        assert.strictEqual(failed.name, "b")
        assert.strictEqual(failed.version, 2)
        assert.include(failed.detail, "nowhere")
        const [tb] = yield* sql<{ present: boolean }>`SELECT to_regclass('tb') IS NOT NULL AS present`
        assert.isFalse(tb!.present, "the failed step's first statement was rolled back with it")
        assert.deepStrictEqual((yield* Migrations.applied).map((m) => m.name), ["a"])

        assert.deepStrictEqual(yield* Migrations.apply([a, b, c]), { ran: ["b", "c"], version: 3 })
        assert.deepStrictEqual((yield* Migrations.applied).map((m) => [m.version, m.name]), [[1, "a"], [2, "b"], [3, "c"]])
      }))

    /** Verifies: R-CLI-5 */
    it.effect("a released step renamed, moved, edited or removed is refused by name; so is a newer app's database", () =>
      Effect.gen(function*() {
        // The database holds a, b, c from the test before.
        const changed = (steps: ReadonlyArray<Migrations.Migration>) =>
          Effect.flip(Migrations.apply(steps)).pipe(Effect.map((e) => e as Errors.MigrationChanged))
        const renamed = yield* changed([a, { ...b, name: "b2" }, c])
        assert.deepStrictEqual([renamed._tag, renamed.change, renamed.applied, renamed.given], ["MigrationChanged", "renamed", "b", "b2"])
        const edited = yield* changed([a, { ...b, sql: b.sql + ";" }, c])
        assert.deepStrictEqual([edited.change, edited.applied], ["sql-changed", "b"])
        const moved = yield* changed([a, { name: "new", sql: "SELECT 1" }, b, c])
        assert.deepStrictEqual([moved.change, moved.applied, moved.version], ["moved", "b", 2])
        const removed = yield* changed([a, c])
        assert.deepStrictEqual([removed.change, removed.applied], ["removed", "b"])
        assert.include(removed.message, "\"b\"")

        const older = yield* Effect.flip(Migrations.apply([a, b]))
        assert.instanceOf(older, Errors.DatabaseTooNew)
        assert.deepStrictEqual(older.unknown, ["c"])

        const duplicate = yield* Effect.flip(Migrations.apply([a, a]))
        assert.instanceOf(duplicate, Errors.InvalidMigrations)
        // None of the refused lists ran anything.
        assert.deepStrictEqual((yield* Migrations.applied).map((m) => m.name), ["a", "b", "c"])
      }))
  })

  /** Verifies: R-CLI-5 */
  it.effect("storage specs that cannot work in Node are typed errors before PGlite starts", () =>
    Effect.gen(function*() {
      for (const storage of [Storage.indexedDb("app"), Storage.opfs("app"), Storage.directory(" "), Storage.indexedDb("a/b")]) {
        const error = yield* Effect.flip(Storage.dataDir(storage))
        assert.instanceOf(error, Errors.InvalidStorage)
      }
      assert.strictEqual(yield* Storage.dataDir(Storage.memory()), undefined)
      assert.strictEqual(yield* Storage.dataDir(Storage.fromDataDir("./data")), "./data")
      assert.deepStrictEqual(Storage.fromDataDir("idb://notes"), Storage.indexedDb("notes"))
    }))
})
