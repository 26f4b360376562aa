import { assert, describe, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { PgliteClient, SqlState } from "../src/index.js"
import { sqlContract } from "./contract/sqlContract.js"

sqlContract({
  name: "@reprise/sql-pglite (PGlite in memory)",
  layer: PgliteClient.layer({}),
  pubsub: PgliteClient.PgliteClient
})

describe("PgliteClient", () => {
  it.live("puts the database's message and SQLSTATE in the SqlError message", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const exit = yield* Effect.exit(sql`SELECT * FROM missing_table`)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const message = String(exit.cause._tag === "Fail" ? exit.cause.error.message : "")
        assert.include(message, "relation \"missing_table\" does not exist")
        assert.include(message, "SQLSTATE 42P01")
      }
    }).pipe(Effect.provide(PgliteClient.layer({}))))

  it.live("sends any JSON value through sql.json, including top-level arrays and strings", () =>
    Effect.gen(function*() {
      const client = yield* PgliteClient.PgliteClient
      yield* client`CREATE TABLE j (id int PRIMARY KEY, v jsonb)`
      yield* client`INSERT INTO j VALUES (1, ${client.json([1, { a: "b" }])}), (2, ${client.json("text")}), (3, ${client.json({ k: [true] })})`
      const rows = yield* client<{ v: unknown }>`SELECT v FROM j ORDER BY id`
      assert.deepStrictEqual(rows.map((r) => r.v), [[1, { a: "b" }], "text", { k: [true] }])
    }).pipe(Effect.provide(PgliteClient.layer({}))))

  it.live("maps names with transformQueryNames / transformResultNames", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE people (person_id int PRIMARY KEY, full_name text)`
      yield* sql`INSERT INTO people ${sql.insert({ personId: 1, fullName: "Ada" })}`
      const rows = yield* sql<{ personId: number; fullName: string }>`SELECT * FROM people`
      assert.deepStrictEqual(rows, [{ personId: 1, fullName: "Ada" }])
    }).pipe(Effect.provide(PgliteClient.layer({
      transformQueryNames: (s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
      transformResultNames: (s) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
    }))))

  it.live("wraps an existing PGlite instance without closing it, and serializes with its other users", () =>
    Effect.gen(function*() {
      const pglite = yield* Effect.promise(() => PGlite.create())
      yield* Effect.promise(() => pglite.exec("CREATE TABLE shared (id int PRIMARY KEY)"))
      const program = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // A direct PGlite query issued while our transaction is open waits for it to commit.
        let direct: Promise<{ rows: Array<{ c: number }> }> | undefined
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO shared VALUES (1)`
          direct = pglite.query<{ c: number }>("SELECT count(*)::int AS c FROM shared")
          yield* Effect.sleep("20 millis")
          yield* sql`INSERT INTO shared VALUES (2)`
        }))
        const seen = yield* Effect.promise(() => direct!)
        assert.strictEqual(seen.rows[0]?.c, 2)
      })
      yield* Effect.provide(program, PgliteClient.layerFromPglite(pglite))
      assert.isFalse(pglite.closed)
      const rows = yield* Effect.promise(() => pglite.query<{ c: number }>("SELECT count(*)::int AS c FROM shared"))
      assert.strictEqual(rows.rows[0]?.c, 2)
      yield* Effect.promise(() => pglite.close())
    }))

  it.live("notify reaches every listener of the exact channel; the last one to leave UNLISTENs", () =>
    Effect.gen(function*() {
      const client = yield* PgliteClient.PgliteClient
      const channel = `quote " and space`
      const collect = (n: number) => Effect.fork(Stream.runCollect(Stream.take(client.listen(channel), n)))
      const one = yield* collect(2)
      const two = yield* collect(1)
      const other = yield* Effect.fork(Stream.runCollect(Stream.take(client.listen(channel.toUpperCase()), 1)))
      // Give LISTEN a moment to be issued before notifying (PGlite runs it asynchronously).
      yield* Effect.sleep("50 millis")
      yield* client.notify(channel, "a")
      yield* client.notify(channel.toUpperCase(), "A")
      yield* client.notify(channel, "b")
      assert.deepStrictEqual(Array.from(yield* Fiber.join(one)), ["a", "b"])
      assert.deepStrictEqual(Array.from(yield* Fiber.join(two)), ["a"])
      assert.deepStrictEqual(Array.from(yield* Fiber.join(other)), ["A"])
      const listening = yield* client<{ c: string }>`SELECT pg_listening_channels() AS c`
      assert.deepStrictEqual(listening, [])
    }).pipe(Effect.provide(PgliteClient.layer({}))))

  it.live("closes the database with the layer's scope", () =>
    Effect.gen(function*() {
      const client = yield* Effect.scoped(Effect.gen(function*() {
        const { client } = yield* Layer.build(PgliteClient.layer({})).pipe(
          Effect.map((context) => ({ client: context.unsafeMap.get(PgliteClient.PgliteClient.key) as PgliteClient.PgliteClient }))
        )
        yield* client`SELECT 1`
        return client
      }))
      assert.isTrue(client.pglite.closed)
    }))

  it.live("keeps parameterized statements prepared, at most 256, and none with preparedStatements: false", () =>
    Effect.gen(function*() {
      const pglite = yield* Effect.promise(() => PGlite.create())
      const prepared = () =>
        pglite.query<{ c: number }>("SELECT count(*)::int AS c FROM pg_prepared_statements WHERE name LIKE 'reprise_%'")
          .then((r) => r.rows[0]!.c)
      const run = (config: PgliteClient.PgliteClientConfig) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          for (let i = 0; i < 3; i++) yield* sql`SELECT ${i}::int AS v`
          for (let i = 0; i < 300; i++) yield* sql.unsafe(`SELECT $1::int AS v${i}`, [i])
        }).pipe(Effect.provide(PgliteClient.layerFromPglite(pglite, config)))
      yield* run({ preparedStatements: false })
      assert.strictEqual(yield* Effect.promise(prepared), 0)
      yield* run({})
      // Evicted statements are closed on the next exchange: at most 256 plus that backlog.
      assert.isAtMost(yield* Effect.promise(prepared), 256 + 1)
      assert.isAtLeast(yield* Effect.promise(prepared), 200)
      yield* Effect.promise(() => pglite.close())
    }))

  it.live("re-prepares statements that schema changes made behind its back left stale", () =>
    Effect.gen(function*() {
      const pglite = yield* Effect.promise(() => PGlite.create())
      yield* Effect.promise(() => pglite.exec("CREATE TABLE t (id int PRIMARY KEY, a text); INSERT INTO t VALUES (1, 'x')"))
      const program = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const all = sql<Record<string, unknown>>`SELECT * FROM t WHERE id = ${1}`
        assert.deepStrictEqual(yield* all, [{ id: 1, a: "x" }])
        // Outside a transaction: the failed execution is retried once, re-prepared.
        yield* Effect.promise(() => pglite.exec("ALTER TABLE t ADD COLUMN b int DEFAULT 2"))
        assert.deepStrictEqual(yield* all, [{ id: 1, a: "x", b: 2 }])
        yield* Effect.promise(() => pglite.exec("DEALLOCATE ALL"))
        assert.deepStrictEqual(yield* all, [{ id: 1, a: "x", b: 2 }])
        // Inside a transaction the failure has aborted it: the transaction fails (retrying it
        // works), which is why DDL belongs on this client or with preparedStatements: false.
        yield* Effect.promise(() => pglite.exec("ALTER TABLE t DROP COLUMN b"))
        const exit = yield* Effect.exit(sql.withTransaction(all))
        assert.isTrue(Exit.isFailure(exit))
        assert.deepStrictEqual(yield* sql.withTransaction(all), [{ id: 1, a: "x" }])
      })
      yield* Effect.provide(program, PgliteClient.layerFromPglite(pglite))
      yield* Effect.promise(() => pglite.close())
    }))

  it.live("reports a SQLSTATE through SqlState for raw PGlite errors too", () =>
    Effect.gen(function*() {
      const pglite = yield* Effect.promise(() => PGlite.create())
      const error = yield* Effect.promise(() => pglite.query("SELECT * FROM nowhere").then(() => undefined, (e: unknown) => e))
      assert.strictEqual(SqlState.fromError(error), SqlState.UNDEFINED_TABLE)
      assert.isUndefined(SqlState.fromError(new Error("not a database error")))
      yield* Effect.promise(() => pglite.close())
    }))
})
