import { assert, describe, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { SqlCapabilities } from "@reprise/core"
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

  it.effect("declares its capabilities: one session, and a statement queue inside the transactions it holds", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const declared = yield* SqlCapabilities.SqlCapabilities
      assert.isTrue(declared.singleSession)
      assert.isTrue(Option.isNone(yield* SqlCapabilities.transactionQueue))
      const inside = yield* sql.withTransaction(SqlCapabilities.transactionQueue)
      assert.isTrue(Option.isSome(inside))
      // Its transactions carry them even where the app's layers hid the layer's output.
      const hidden = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (client) => client.withTransaction(SqlCapabilities.transactionQueue)),
        Layer.succeed(SqlClient.SqlClient, sql)
      ).pipe(Effect.provideService(SqlCapabilities.SqlCapabilities, SqlCapabilities.none))
      assert.isTrue(Option.isSome(hidden))
    }).pipe(Effect.provide(PgliteClient.layer({}))))

  describe("transactions over the wire", () => {
    /** A PGlite whose exchanges are counted, with a client over it. */
    const counted = Effect.gen(function*() {
      const pglite = yield* Effect.acquireRelease(Effect.promise(() => PGlite.create()), (db) => Effect.promise(() => db.close()))
      yield* Effect.promise(() => pglite.exec("CREATE TABLE t (id int PRIMARY KEY, a text)"))
      const exchanges = { count: 0 }
      const original = pglite.execProtocolStream.bind(pglite)
      pglite.execProtocolStream = (...args: Parameters<typeof original>) => {
        exchanges.count++
        return original(...args)
      }
      const context = yield* Layer.build(PgliteClient.layerFromPglite(pglite))
      const sql = (yield* Effect.provide(SqlClient.SqlClient, context)) as SqlClient.SqlClient
      return { pglite, exchanges, sql }
    })

    it.scoped("sends BEGIN with the first statement and nothing for an empty transaction", () =>
      Effect.gen(function*() {
        const { exchanges, pglite, sql } = yield* counted
        const exchangesOf = <A, E>(effect: Effect.Effect<A, E>) =>
          Effect.gen(function*() {
            const before = exchanges.count
            yield* effect
            return exchanges.count - before
          })
        const insert = (id: number) => sql`INSERT INTO t ${sql.insert({ id, a: "x" })}`
        yield* insert(0) // prepares the statement
        assert.strictEqual(yield* exchangesOf(sql.withTransaction(Effect.void)), 0)
        // BEGIN + the insert, then COMMIT.
        assert.strictEqual(yield* exchangesOf(sql.withTransaction(insert(1))), 2)
        // A parameterless first statement (simple protocol) carries BEGIN too.
        assert.strictEqual(yield* exchangesOf(sql.withTransaction(sql`UPDATE t SET a = 'y'`)), 2)
        assert.strictEqual(yield* exchangesOf(sql.withTransaction(Effect.zipRight(insert(2), insert(3)))), 3)
        // Each really ran in a transaction: a failure rolls back the statements before it.
        const exit = yield* Effect.exit(sql.withTransaction(Effect.zipRight(insert(4), insert(4))))
        assert.isTrue(Exit.isFailure(exit))
        const { rows } = yield* Effect.promise(() => pglite.query<{ id: number; a: string }>("SELECT id, a FROM t ORDER BY id"))
        assert.deepStrictEqual(rows, [{ id: 0, a: "y" }, { id: 1, a: "y" }, { id: 2, a: "x" }, { id: 3, a: "x" }])
        assert.isFalse(pglite.isInTransaction())
      }))

    it.scoped("keeps a transaction aborted after its first statement fails, even one that does not parse", () =>
      Effect.gen(function*() {
        const { pglite, sql } = yield* counted
        for (const bad of [sql`SELEC 1`, sql`SELECT * FROM nowhere WHERE id = ${1}`]) {
          const exit = yield* Effect.exit(sql.withTransaction(
            Effect.zipRight(
              Effect.ignore(bad),
              sql`INSERT INTO t ${sql.insert({ id: 9, a: "x" })}`
            )
          ))
          assert.isTrue(Exit.isFailure(exit))
          assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "25P02") // in_failed_sql_transaction
        }
        const { rows } = yield* Effect.promise(() => pglite.query("SELECT * FROM t"))
        assert.deepStrictEqual(rows, [])
        assert.isFalse(pglite.isInTransaction())
      }))

    it.scoped("fails the commit of a transaction whose failed statement was caught", () =>
      Effect.gen(function*() {
        const { pglite, sql } = yield* counted
        const exit = yield* Effect.exit(sql.withTransaction(
          Effect.zipRight(
            sql`INSERT INTO t ${sql.insert({ id: 1, a: "x" })}`,
            Effect.ignore(sql`SELECT * FROM nowhere`)
          )
        ))
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "COMMIT rolled the transaction back")
        const { rows } = yield* Effect.promise(() => pglite.query("SELECT * FROM t"))
        assert.deepStrictEqual(rows, [])
      }))

    /** Queues `statement` on the current transaction's connection (the driver's declared statement queue). */
    const queue = (statement: string): Effect.Effect<void> =>
      Effect.flatMap(SqlCapabilities.transactionQueue, (enqueue) => {
        assert.isTrue(Option.isSome(enqueue), "no statement queue: outside a transaction, or not over the wire")
        return Option.getOrThrow(enqueue)(statement)
      })

    it.scoped("sends queued statements ahead of the next statement, or with the COMMIT", () =>
      Effect.gen(function*() {
        const { exchanges, pglite, sql } = yield* counted
        const exchangesOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.gen(function*() {
            const before = exchanges.count
            const out = yield* effect
            return [out, exchanges.count - before] as const
          })
        const insert = (id: number) => sql`INSERT INTO t ${sql.insert({ id, a: "x" })}`
        yield* insert(0) // prepares the statement
        // BEGIN + the queued statement + the (prepared) insert, then COMMIT.
        const [, first] = yield* exchangesOf(sql.withTransaction(Effect.zipRight(queue("INSERT INTO t VALUES (10, 'q')"), insert(1))))
        assert.strictEqual(first, 2)
        // Several statements in one queued text, ahead of a simple query: its rows are its own.
        const [rows, second] = yield* exchangesOf(sql.withTransaction(Effect.zipRight(
          queue("UPDATE t SET a = 'm' WHERE id = 10; INSERT INTO t VALUES (11, 'q')"),
          sql`SELECT a FROM t WHERE id = 10`
        )))
        assert.deepStrictEqual(rows, [{ a: "m" }])
        assert.strictEqual(second, 2)
        // Ahead of a statement not prepared yet: they go with its PARSE.
        const [counts, third] = yield* exchangesOf(sql.withTransaction(Effect.zipRight(
          queue("INSERT INTO t VALUES (12, 'q')"),
          sql`SELECT count(*)::int AS n FROM t WHERE id >= ${10}`
        )))
        assert.deepStrictEqual(counts, [{ n: 3 }])
        assert.strictEqual(third, 3)
        // Rows of a queued statement are not taken for those of the (prepared) statement after it.
        const select = (id: number) => sql`SELECT id, a FROM t WHERE id = ${id}`
        yield* select(0) // prepares the statement
        for (let round = 0; round < 2; round++) {
          const [own] = yield* exchangesOf(sql.withTransaction(Effect.zipRight(
            queue("SELECT 'other' AS x, 42 AS y"),
            select(10)
          )))
          assert.deepStrictEqual(own, [{ id: 10, a: "m" }])
        }
        // Nothing after it: BEGIN, the queued statement and COMMIT in one exchange.
        const [, fourth] = yield* exchangesOf(sql.withTransaction(queue("INSERT INTO t VALUES (13, 'q')")))
        assert.strictEqual(fourth, 1)
        // A rollback drops what is still queued, unsent.
        const [exit, fifth] = yield* exchangesOf(Effect.exit(sql.withTransaction(
          Effect.zipRight(queue("INSERT INTO t VALUES (14, 'q')"), Effect.fail("no"))
        )))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(fifth, 0)
        const { rows: all } = yield* Effect.promise(() => pglite.query<{ id: number; a: string }>("SELECT id, a FROM t ORDER BY id"))
        assert.deepStrictEqual(all, [
          { id: 0, a: "x" },
          { id: 1, a: "x" },
          { id: 10, a: "m" },
          { id: 11, a: "q" },
          { id: 12, a: "q" },
          { id: 13, a: "q" }
        ])
        assert.isFalse(pglite.isInTransaction())
      }))

    it.scoped("reports a queued statement's failure as its own, and commits nothing", () =>
      Effect.gen(function*() {
        const { pglite, sql } = yield* counted
        yield* Effect.promise(() => pglite.exec("INSERT INTO t VALUES (10, 'kept')"))
        const duplicate = "INSERT INTO t VALUES (10, 'again')"
        const insert = (id: number) => sql`INSERT INTO t ${sql.insert({ id, a: "x" })}`
        const failureOf = (exit: Exit.Exit<unknown, unknown>) => {
          assert.isTrue(Exit.isFailure(exit))
          return String(Exit.isFailure(exit) ? exit.cause : "")
        }
        // The statement it went ahead of fails with its error (and the statement named).
        const ahead = yield* Effect.exit(sql.withTransaction(Effect.zipRight(queue(duplicate), insert(1))))
        const error = Exit.isFailure(ahead) && ahead.cause._tag === "Fail" ? ahead.cause.error : undefined
        assert.include(failureOf(ahead), "23505")
        assert.strictEqual((error as { cause?: { query?: string } } | undefined)?.cause?.query, duplicate)
        // Caught there, it still fails the commit, as itself.
        const caught = yield* Effect.exit(sql.withTransaction(
          Effect.zipRight(queue(duplicate), Effect.ignore(insert(2)))
        ))
        assert.include(failureOf(caught), "23505")
        // Sent with the COMMIT.
        const alone = yield* Effect.exit(sql.withTransaction(Effect.zipRight(insert(3), queue(duplicate))))
        assert.include(failureOf(alone), "23505")
        const { rows } = yield* Effect.promise(() => pglite.query("SELECT id, a FROM t ORDER BY id"))
        assert.deepStrictEqual(rows, [{ id: 10, a: "kept" }])
        assert.isFalse(pglite.isInTransaction())
      }))

    it.scoped("returns PGlite-shaped raw results inside a transaction", () =>
      Effect.gen(function*() {
        const { sql } = yield* counted
        const [inserted, selected, several] = yield* sql.withTransaction(Effect.all([
          sql.unsafe("INSERT INTO t VALUES ($1, 'x'), ($2, 'y')", [1, 2]).raw,
          sql.unsafe("SELECT id, a FROM t WHERE id > $1 ORDER BY id", [0]).raw,
          sql.unsafe("UPDATE t SET a = 'z' WHERE id = 1; SELECT count(*)::int AS n FROM t").raw
        ]))
        assert.deepInclude(inserted as object, { rows: [], command: "INSERT", affectedRows: 2 })
        assert.deepInclude(selected as object, {
          rows: [{ id: 1, a: "x" }, { id: 2, a: "y" }],
          fields: [{ name: "id", dataTypeID: 23 }, { name: "a", dataTypeID: 25 }]
        })
        const [update, count] = several as ReadonlyArray<{ readonly rows: ReadonlyArray<unknown>; readonly affectedRows: number }>
        assert.strictEqual(update!.affectedRows, 1)
        assert.deepStrictEqual(count!.rows, [{ n: 2 }])
      }))
  })
})
