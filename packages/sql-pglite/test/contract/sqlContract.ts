/**
 * The SQL contract: one suite, run against every `@effect/sql` driver Reprise relies on
 * (`@reprise/sql-pglite` on the client, `@effect/sql-pg` on the server), so that one query
 * means the same thing on both sides.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import * as StreamOps from "effect/Stream"
import { SqlState } from "../../src/index.js"

/** What the suite needs beyond `SqlClient`: the driver's LISTEN as a stream. */
export interface PubSub {
  readonly listen: (channel: string) => Stream.Stream<string, SqlError>
}

export interface Driver<R> {
  readonly name: string
  readonly layer: Layer.Layer<R | SqlClient.SqlClient, unknown>
  readonly pubsub: Effect.Effect<PubSub, never, R>
}

let tableCounter = 0
const uniqueTable = (base: string) => `${base}_${process.pid}_${++tableCounter}`

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** Registers the whole contract for one driver. */
export const sqlContract = <R>(driver: Driver<R>) =>
  layer(driver.layer, { timeout: "120 seconds", excludeTestServices: true })(`SQL contract: ${driver.name}`, (it) => {
    describe("statements and fragments", () => {
      it.effect("binds parameters as $n placeholders and returns typed rows", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ a: number; b: string; c: boolean; d: null }>`
            SELECT ${41}::int + 1 AS a, ${"it's"}::text AS b, ${true}::bool AS c, ${null}::text AS d`
          assert.deepStrictEqual(rows, [{ a: 42, b: "it's", c: true, d: null }])
          const [compiled, params] = sql`SELECT ${1}, ${"two"}`.compile()
          assert.strictEqual(compiled, "SELECT $1, $2")
          assert.deepStrictEqual(params, [1, "two"])
        }))

      it.effect("composes insert, update, in, and, or, literal and unsafe fragments", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("frag")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, name text NOT NULL, tag text)`
          const inserted = yield* sql<{ id: number }>`INSERT INTO ${sql(table)} ${
            sql.insert([{ id: 1, name: "a", tag: "x" }, { id: 2, name: "b", tag: "y" }, { id: 3, name: "c", tag: null }])
          } RETURNING id`
          assert.deepStrictEqual(inserted.map((r) => r.id), [1, 2, 3])
          yield* sql`UPDATE ${sql(table)} SET ${sql.update({ name: "bb", tag: "z" })} WHERE id = ${2}`
          const some = yield* sql<{ id: number; name: string }>`
            SELECT id, name FROM ${sql(table)}
            WHERE ${sql.and([sql`id IN ${sql.in([1, 2])}`, sql.or([sql`tag = ${"x"}`, sql`tag = ${"z"}`])])}
            ORDER BY id`
          assert.deepStrictEqual(some, [{ id: 1, name: "a" }, { id: 2, name: "bb" }])
          const literal = yield* sql<{ n: number }>`SELECT ${sql.literal("7")}::int AS n`
          assert.strictEqual(literal[0]?.n, 7)
          const unsafe = yield* sql.unsafe<{ c: string }>(`SELECT count(*)::text AS c FROM "${table}" WHERE id > $1`, [1])
          assert.strictEqual(unsafe[0]?.c, "2")
          // A batch update through VALUES, as sql.updateValues compiles it.
          yield* sql`UPDATE ${sql(table)} SET name = data.name FROM ${
            sql.updateValues([{ id: 1, name: "A" }, { id: 3, name: "C" }], "data")
          } WHERE ${sql(table)}.id = data.id::int`
          const names = yield* sql<{ name: string }>`SELECT name FROM ${sql(table)} ORDER BY id`
          assert.deepStrictEqual(names.map((r) => r.name), ["A", "bb", "C"])
        }))

      it.effect("quotes identifiers containing quotes, spaces, semicolons and unicode", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable(`we"ird; tablé ✓`)
          const column = `col "x"; DROP TABLE y; -- ü`
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, ${sql(column)} text)`
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 1, [column]: "v" })}`
          const rows = yield* sql<Record<string, unknown>>`SELECT ${sql(column)} FROM ${sql(table)}`
          assert.deepStrictEqual(rows, [{ [column]: "v" }])
          const found = yield* sql<{ relname: string }>`SELECT relname FROM pg_class WHERE relname = ${table}`
          assert.strictEqual(found.length, 1)
        }))

      it.effect("runs several parameterless statements in one call, like pg's simple protocol", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const result = yield* sql.unsafe(`SELECT 1 AS one; SELECT 2 AS two`)
          assert.deepStrictEqual(result, [[{ one: 1 }], [{ two: 2 }]])
        }))

      it.effect("returns rows as value arrays", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const values = yield* sql`SELECT ${1}::int AS a, ${"b"}::text AS b`.values
          assert.deepStrictEqual(values, [[1, "b"]])
        }))

      it.effect("streams rows", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* StreamOps.runCollect(sql<{ n: number }>`SELECT generate_series(1, ${300}) AS n`.stream)
          const ns = Array.from(rows, (r) => r.n)
          assert.strictEqual(ns.length, 300)
          assert.strictEqual(ns[299], 300)
        }))
    })

    describe("values", () => {
      it.effect("round-trips json and jsonb", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("json")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, j json, jb jsonb)`
          const doc = {
            title: "Ünïcödé \"quoted\" \\ back",
            n: 1.5,
            big: 12345678901,
            nested: { list: [1, "two", null, { deep: true }], empty: {} },
            none: null
          }
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 1, j: JSON.stringify(doc), jb: JSON.stringify(doc) })}`
          // Top-level arrays and scalars go through an explicit cast on both drivers.
          yield* sql`INSERT INTO ${sql(table)} (id, j, jb) VALUES (2, ${JSON.stringify([1, [2], "3"])}::json, ${JSON.stringify("s")}::jsonb)`
          const rows = yield* sql<{ id: number; j: unknown; jb: unknown }>`SELECT id, j, jb FROM ${sql(table)} ORDER BY id`
          assert.deepStrictEqual(rows[0], { id: 1, j: doc, jb: doc })
          assert.deepStrictEqual(rows[1], { id: 2, j: [1, [2], "3"], jb: "s" })
          const filtered = yield* sql<{ id: number }>`SELECT id FROM ${sql(table)} WHERE jb @> ${JSON.stringify({ nested: { empty: {} } })}::jsonb`
          assert.deepStrictEqual(filtered, [{ id: 1 }])
          const built = yield* sql<{ v: unknown }>`SELECT jsonb_build_object('k', ${"v"}::text, 'n', ${3}::int) AS v`
          assert.deepStrictEqual(built[0]?.v, { k: "v", n: 3 })
        }))

      it.effect("round-trips text[] and int[] arrays, including quotes, commas and nulls", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("arr")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, t text[], i int[], b bigint[])`
          const texts = ["plain", "with,comma", "with \"quote\"", "back\\slash", "{braces}", "", null, "ü"]
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 1, t: texts, i: [1, -2, 3], b: ["9007199254740993", "-1"] })}`
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 2, t: [], i: [], b: [] })}`
          const rows = yield* sql<{ t: ReadonlyArray<string | null>; i: ReadonlyArray<number>; b: ReadonlyArray<string> }>`
            SELECT t, i, b FROM ${sql(table)} ORDER BY id`
          assert.deepStrictEqual(rows[0], { t: texts, i: [1, -2, 3], b: ["9007199254740993", "-1"] })
          assert.deepStrictEqual(rows[1], { t: [], i: [], b: [] })
          const any = yield* sql<{ id: number }>`SELECT id FROM ${sql(table)} WHERE ${"with,comma"} = ANY(t)`
          assert.deepStrictEqual(any, [{ id: 1 }])
        }))

      it.effect("keeps numeric and bigint exact (as strings, like pg)", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ big: string; num: string; i: number; f: number; neg: string }>`
            SELECT ${"9007199254740993"}::bigint AS big,
                   ${"12345678901234567890.123456789"}::numeric AS num,
                   ${2147483647}::int AS i,
                   ${0.1}::float8 AS f,
                   ${"-9223372036854775808"}::bigint AS neg`
          assert.deepStrictEqual(rows, [{
            big: "9007199254740993",
            num: "12345678901234567890.123456789",
            i: 2147483647,
            f: 0.1,
            neg: "-9223372036854775808"
          }])
          const sum = yield* sql<{ s: string }>`SELECT sum(x)::bigint AS s FROM (VALUES (${"4611686018427387904"}::bigint), (${"4611686018427387903"}::bigint)) v(x)`
          assert.strictEqual(sum[0]?.s, "9223372036854775807")
        }))

      it.effect("round-trips timestamps, dates, booleans, uuids and bytea", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const at = new Date("2024-02-29T12:34:56.789Z")
          const bytes = new Uint8Array([0, 1, 2, 254, 255])
          const rows = yield* sql<{ tz: Date; tzs: Date; d: Date; b: boolean; u: string; by: Uint8Array }>`
            SELECT ${at}::timestamptz AS tz,
                   ${"2024-02-29T12:34:56.789+02:00"}::timestamptz AS tzs,
                   ${"2024-02-29"}::date AS d,
                   ${false}::bool AS b,
                   ${"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}::uuid AS u,
                   ${bytes}::bytea AS by`
          const row = rows[0]!
          assert.instanceOf(row.tz, Date)
          assert.strictEqual(row.tz.toISOString(), at.toISOString())
          assert.strictEqual(row.tzs.toISOString(), "2024-02-29T10:34:56.789Z")
          assert.instanceOf(row.d, Date)
          assert.deepStrictEqual([row.d.getFullYear(), row.d.getMonth(), row.d.getDate(), row.d.getHours()], [2024, 1, 29, 0])
          assert.strictEqual(row.b, false)
          assert.strictEqual(row.u, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
          assert.instanceOf(row.by, Uint8Array)
          assert.deepStrictEqual(Array.from(row.by), [0, 1, 2, 254, 255])
        }))
    })

    describe("transactions", () => {
      const setup = (sql: SqlClient.SqlClient) =>
        Effect.gen(function*() {
          const table = uniqueTable("tx")
          yield* sql`CREATE TABLE ${sql(table)} (id text PRIMARY KEY)`
          const insert = (id: string) => sql`INSERT INTO ${sql(table)} (id) VALUES (${id})`
          const ids = Effect.map(sql<{ id: string }>`SELECT id FROM ${sql(table)} ORDER BY id`, (rows) => rows.map((r) => r.id))
          return { table, insert, ids }
        })

      it.effect("commits nested transactions and rolls back each level on its own", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { ids, insert } = yield* setup(sql)
          const boom = Effect.fail("boom" as const)
          // Level 3 fails: only its own write disappears.
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* insert("1a")
            yield* sql.withTransaction(Effect.gen(function*() {
              yield* insert("2a")
              yield* Effect.exit(sql.withTransaction(Effect.zipRight(insert("3a"), boom)))
              yield* insert("2b")
            }))
          }))
          assert.deepStrictEqual(yield* ids, ["1a", "2a", "2b"])
          // Level 2 fails: its writes and its child's disappear, level 1 keeps going.
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* insert("1b")
            yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
              yield* insert("2c")
              yield* sql.withTransaction(insert("3b"))
              return yield* boom
            })))
            yield* insert("1c")
          }))
          assert.deepStrictEqual(yield* ids, ["1a", "1b", "1c", "2a", "2b"])
          // Level 1 fails: nothing of it stays, even committed savepoints.
          const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
            yield* insert("1d")
            yield* sql.withTransaction(Effect.zipRight(insert("2d"), sql.withTransaction(insert("3d"))))
            return yield* boom
          })))
          assert.strictEqual(failureOf(exit), "boom")
          assert.deepStrictEqual(yield* ids, ["1a", "1b", "1c", "2a", "2b"])
        }))

      it.effect("rolls back a transaction whose statement fails, and the connection stays usable", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { ids, insert } = yield* setup(sql)
          const exit = yield* Effect.exit(sql.withTransaction(Effect.zipRight(insert("a"), insert("a"))))
          assert.strictEqual(SqlState.fromError(failureOf(exit)), SqlState.UNIQUE_VIOLATION)
          assert.deepStrictEqual(yield* ids, [])
          // A failed statement inside a savepoint does not poison the outer transaction.
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* insert("b")
            yield* Effect.exit(sql.withTransaction(insert("b")))
            yield* insert("c")
          }))
          assert.deepStrictEqual(yield* ids, ["b", "c"])
        }))

      it.effect("rolls back when the fiber is interrupted mid-transaction", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { ids, insert } = yield* setup(sql)
          const inside = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
            yield* insert("x")
            yield* Deferred.succeed(inside, undefined)
            return yield* Effect.never
          })))
          yield* Deferred.await(inside)
          yield* Fiber.interrupt(fiber)
          assert.deepStrictEqual(yield* ids, [])
          yield* insert("y")
          assert.deepStrictEqual(yield* ids, ["y"])
        }))

      it.effect("never lets another fiber's statements into an open transaction", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { table, insert } = yield* setup(sql)
          const started = yield* Deferred.make<void>()
          const writer = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
            yield* insert("p1")
            yield* Deferred.succeed(started, undefined)
            yield* Effect.sleep("30 millis")
            yield* insert("p2")
          })))
          yield* Deferred.await(started)
          // Outside the transaction: a count is 0 or 2, never the half-written 1, and a failing
          // statement must not abort the writer's transaction.
          const counts = yield* Effect.all(
            Array.from({ length: 5 }, () =>
              Effect.map(sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)}`, (rows) => rows[0]!.c)),
            { concurrency: "unbounded" }
          )
          const bad = yield* Effect.exit(sql`SELECT * FROM ${sql(uniqueTable("missing"))}`)
          assert.strictEqual(SqlState.fromError(failureOf(bad)), SqlState.UNDEFINED_TABLE)
          yield* Fiber.join(writer)
          for (const c of counts) assert.oneOf(c, [0, 2])
          const final = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)}`
          assert.strictEqual(final[0]?.c, 2)
        }))

      it.effect("runs many fibers' transactions at once without losing or leaking writes", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("many")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, worker int NOT NULL)`
          yield* sql`CREATE TABLE ${sql(table + "_counter")} (k int PRIMARY KEY, n int NOT NULL)`
          yield* sql`INSERT INTO ${sql(table + "_counter")} (k, n) VALUES (1, 0)`
          const committed = yield* Ref.make(0)
          const worker = (w: number) =>
            Effect.exit(sql.withTransaction(Effect.gen(function*() {
              const [row] = yield* sql<{ n: number }>`SELECT n FROM ${sql(table + "_counter")} WHERE k = 1 FOR UPDATE`
              yield* Effect.yieldNow()
              yield* sql`INSERT INTO ${sql(table)} (id, worker) VALUES (${row!.n + 1000 * w}, ${w})`
              yield* sql.withTransaction(sql`UPDATE ${sql(table + "_counter")} SET n = ${row!.n + 1} WHERE k = 1`)
              if (w % 4 === 0) return yield* Effect.fail(`worker ${w} gives up` as const)
              yield* Ref.update(committed, (n) => n + 1)
            })))
          const exits = yield* Effect.all(Array.from({ length: 24 }, (_, w) => worker(w)), { concurrency: "unbounded" })
          const failed = exits.filter(Exit.isFailure).length
          assert.strictEqual(failed, 6)
          const [counter] = yield* sql<{ n: number }>`SELECT n FROM ${sql(table + "_counter")} WHERE k = 1`
          const [rows] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)}`
          const [losers] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)} WHERE worker % 4 = 0`
          assert.strictEqual(counter?.n, yield* Ref.get(committed))
          assert.strictEqual(rows?.c, 18)
          assert.strictEqual(losers?.c, 0)
        }))
    })

    describe("errors", () => {
      it.effect("fail with SqlError carrying the SQLSTATE and the database's message", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("err")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, v int NOT NULL CHECK (v > 0))`
          yield* sql`INSERT INTO ${sql(table)} (id, v) VALUES (1, 1)`
          const cases = [
            [sql`INSERT INTO ${sql(table)} (id, v) VALUES (1, 1)`, SqlState.UNIQUE_VIOLATION, "duplicate key"],
            [sql`INSERT INTO ${sql(table)} (id, v) VALUES (2, NULL)`, SqlState.NOT_NULL_VIOLATION, "null value"],
            [sql`INSERT INTO ${sql(table)} (id, v) VALUES (3, -1)`, SqlState.CHECK_VIOLATION, "check constraint"],
            [sql`SELECT * FROM ${sql(uniqueTable("nope"))}`, SqlState.UNDEFINED_TABLE, "does not exist"],
            [sql.unsafe("SELEC 1"), SqlState.SYNTAX_ERROR, "syntax error"],
            [sql.unsafe("DO $$ BEGIN RAISE EXCEPTION 'custom %', 7 USING ERRCODE = 'RP001'; END $$"), "RP001", "custom 7"]
          ] as const
          for (const [statement, code, text] of cases) {
            const error = failureOf(yield* Effect.exit(statement))
            assert.strictEqual(error._tag, "SqlError")
            assert.strictEqual(SqlState.fromError(error), code)
            assert.include(String((error.cause as Error).message), text)
          }
        }))
    })

    describe("re-executing the same statement", () => {
      it.effect("sees the schema as it is now after ALTER TABLE, inside and outside transactions", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("alter")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, a text)`
          yield* sql`INSERT INTO ${sql(table)} (id, a) VALUES (1, 'x')`
          const all = (id: number) => sql<Record<string, unknown>>`SELECT * FROM ${sql(table)} WHERE id = ${id}`
          const returning = (id: number) => sql<Record<string, unknown>>`UPDATE ${sql(table)} SET id = id WHERE id = ${id} RETURNING *`
          for (let i = 0; i < 7; i++) assert.deepStrictEqual(yield* all(1), [{ id: 1, a: "x" }])
          assert.deepStrictEqual(yield* returning(1), [{ id: 1, a: "x" }])
          yield* sql`ALTER TABLE ${sql(table)} ADD COLUMN b int DEFAULT 2`
          assert.deepStrictEqual(yield* all(1), [{ id: 1, a: "x", b: 2 }])
          assert.deepStrictEqual(yield* returning(1), [{ id: 1, a: "x", b: 2 }])
          // DDL, then the same statements, in one transaction that rolls back.
          const undone = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
            assert.deepStrictEqual(yield* all(1), [{ id: 1, a: "x", b: 2 }])
            yield* sql`ALTER TABLE ${sql(table)} DROP COLUMN a`
            assert.deepStrictEqual(yield* all(1), [{ id: 1, b: 2 }])
            assert.deepStrictEqual(yield* returning(1), [{ id: 1, b: 2 }])
            return yield* Effect.fail("undo" as const)
          })))
          assert.strictEqual(failureOf(undone), "undo")
          // Column a is back.
          assert.deepStrictEqual(yield* all(1), [{ id: 1, a: "x", b: 2 }])
          assert.deepStrictEqual(yield* returning(1), [{ id: 1, a: "x", b: 2 }])
          // A column whose type changes under a statement that writes it.
          const setB = (v: string) => sql`UPDATE ${sql(table)} SET b = ${v}::text::int WHERE id = 1`
          yield* setB("3")
          yield* sql`ALTER TABLE ${sql(table)} ALTER COLUMN b TYPE text USING b::text`
          const insert = (id: number, b: string) => sql`INSERT INTO ${sql(table)} (id, b) VALUES (${id}, ${b})`
          yield* insert(2, "two")
          yield* sql`ALTER TABLE ${sql(table)} ALTER COLUMN b TYPE int USING length(b)`
          yield* sql.withTransaction(insert(3, "4"))
          const rows = yield* sql<{ id: number; b: number }>`SELECT id, b FROM ${sql(table)} ORDER BY id`
          assert.deepStrictEqual(rows, [{ id: 1, b: 1 }, { id: 2, b: 3 }, { id: 3, b: 4 }])
        }))

      it.effect("keeps a statement usable after a transaction that used it rolled back", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("rb")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, v text)`
          const insert = (id: number) => sql`INSERT INTO ${sql(table)} (id, v) VALUES (${id}, ${"v"})`
          const count = Effect.map(sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)} WHERE id > ${0}`, (r) => r[0]!.c)
          yield* Effect.exit(sql.withTransaction(Effect.zipRight(Effect.zip(insert(1), count), Effect.fail("no"))))
          yield* insert(1)
          yield* insert(2)
          assert.strictEqual(yield* count, 2)
        }))

      it.effect("continues a transaction after an error caught by a savepoint, and recovers after a failed one", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("mid")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, v int NOT NULL)`
          const insert = (id: number, v: number | null) => sql`INSERT INTO ${sql(table)} (id, v) VALUES (${id}, ${v})`
          const ids = Effect.map(sql<{ id: number }>`SELECT id FROM ${sql(table)} WHERE v >= ${0} ORDER BY id`, (r) => r.map((x) => x.id))
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* insert(1, 1)
            const failed = yield* Effect.exit(sql.withTransaction(insert(2, null)))
            assert.strictEqual(SqlState.fromError(failureOf(failed)), SqlState.NOT_NULL_VIOLATION)
            yield* insert(3, 3)
            assert.deepStrictEqual(yield* ids, [1, 3])
          }))
          // Without a savepoint the transaction is aborted: later statements fail, the commit
          // fails (or, with @effect/sql-pg 0.53, silently commits nothing), nothing is kept.
          yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
            yield* insert(4, 4)
            yield* Effect.exit(insert(5, null))
            const after = failureOf(yield* Effect.exit(insert(6, 6)))
            assert.strictEqual(SqlState.fromError(after), "25P02")
          })))
          assert.deepStrictEqual(yield* ids, [1, 3])
          yield* insert(7, 7)
          assert.deepStrictEqual(yield* ids, [1, 3, 7])
        }))

      it.effect("serializes parameters by the statement's types, whatever the values' runtime types", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = uniqueTable("types")
          yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, n int, t text, b bool, at timestamptz)`
          const insert = (id: number | string, n: unknown, t: unknown, b: unknown, at: unknown) =>
            sql`INSERT INTO ${sql(table)} (id, n, t, b, at) VALUES (${id}, ${n}, ${t}, ${b}, ${at})`
          const at = new Date("2024-05-06T07:08:09.010Z")
          yield* insert(1, 1, "one", true, at)
          yield* insert("2", "2", 2, "false", at.toISOString())
          yield* insert(3, null, null, null, null)
          yield* insert(4, 4.0, "", false, "2024-05-06T09:08:09.010+02:00")
          const rows = yield* sql<{ id: number; n: number | null; t: string | null; b: boolean | null; at: Date | null }>`
            SELECT id, n, t, b, at FROM ${sql(table)} WHERE id = ANY(${[1, 2, 3, 4]}::int[]) ORDER BY id`
          assert.deepStrictEqual(rows.map((r) => [r.id, r.n, r.t, r.b, r.at?.toISOString() ?? null]), [
            [1, 1, "one", true, at.toISOString()],
            [2, 2, "2", false, at.toISOString()],
            [3, null, null, null, null],
            [4, 4, "", false, at.toISOString()]
          ])
        }))

      it.effect("re-runs unsafe and parameterless statements, including several in one call", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          for (let i = 0; i < 3; i++) {
            const one = yield* sql.unsafe<{ v: number }>(`SELECT $1::int + 1 AS v`, [i])
            assert.deepStrictEqual(one, [{ v: i + 1 }])
            const two = yield* sql.unsafe(`SELECT ${i} AS a; SELECT 'x' AS b`)
            assert.deepStrictEqual(two, [[{ a: i }], [{ b: "x" }]])
            const values = yield* sql<{ v: string }>`SELECT ${`s${i}`}::text AS v, ${i}::int AS w`.values
            assert.deepStrictEqual(values, [[`s${i}`, i]])
          }
        }))
    })

    describe("LISTEN/NOTIFY", () => {
      it.effect("streams notifications on a case-sensitive channel, only when committed", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { listen } = yield* driver.pubsub
          // `pg_notify` rather than the drivers' `notify`: @effect/sql-pg 0.53 sends
          // `NOTIFY chan, $1`, which Postgres rejects (NOTIFY takes no parameters).
          const notify = (channel: string, payload: string) => sql`SELECT pg_notify(${channel}, ${payload})`
          const channel = `Reprise "chan" ü ${tableCounter++}`
          const received = yield* Queue.unbounded<string>()
          const listener = yield* Effect.fork(StreamOps.runForEach(listen(channel), (p) => Queue.offer(received, p)))
          // LISTEN is asynchronous: ping until the first notification arrives.
          yield* notify(channel, "ping").pipe(
            Effect.zipRight(Effect.timeout(Queue.take(received), "100 millis")),
            Effect.retry(Schedule.recurs(50))
          )
          yield* Effect.exit(sql.withTransaction(Effect.zipRight(notify(channel, "rolled back"), Effect.fail("no"))))
          yield* notify(channel.toLowerCase(), "other channel")
          yield* sql.withTransaction(notify(channel, "committed"))
          yield* notify(channel, "plain")
          const next = Effect.timeout(Queue.take(received), "5 seconds")
          const got: Array<string> = []
          while (got.length < 2) {
            const payload = yield* next
            if (payload !== "ping") got.push(payload)
          }
          assert.deepStrictEqual(got, ["committed", "plain"])
          yield* Fiber.interrupt(listener)
        }))
    })
  })
