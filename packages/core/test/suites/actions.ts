/**
 * Actions and the executor: one suite run on PGlite and on real Postgres.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import {
  Action,
  ActionExecutor,
  ActionIds,
  ActionRegistry,
  Hlc,
  Patch,
  SqlCapabilities,
  SyncSchema,
  Tracking
} from "../../src/index.js"
import { failureOf, uniqueName } from "./helpers.js"

const setup = (options: ActionExecutor.Options = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* SyncSchema.install()
    const table = uniqueName("notes")
    yield* sql`CREATE TABLE ${sql(table)} (
      id text PRIMARY KEY, title text NOT NULL, content text, user_id text, audience_key text,
      created_at timestamptz, lucky int)`
    yield* Tracking.install([table])

    const create = Action.make({
      tag: "note.create.v1",
      args: Schema.Struct({ title: Schema.String, content: Schema.optional(Schema.String) }),
      run: ({ content, title }) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const id = (yield* ActionIds.ActionIds).id("note")
          const now = yield* Clock.currentTimeMillis
          const lucky = yield* Random.nextIntBetween(0, 1_000_000)
          if (title.length === 0) return yield* Effect.fail("title must not be empty" as const)
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({
            id, title, content: content ?? null, user_id: "u1", audience_key: "u1",
            created_at: new Date(now), lucky
          })}`
          return { id, now, lucky }
        })
    })
    const failing = Action.make({
      tag: "note.create-then-fail.v1",
      args: Schema.Struct({ title: Schema.String }),
      run: ({ title }) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: (yield* ActionIds.ActionIds).id("n"), title })}`
          return yield* Effect.fail({ _tag: "AppRule", reason: "no" } as const)
        })
    })
    const sloppy = Action.make({
      tag: "note.sloppy.v1",
      args: Schema.Struct({ id: Schema.String }),
      run: ({ id }) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id, title: "t", lucky: Math.floor(Math.random() * 1e9) })}`
        })
    })
    const randomId = Action.make({
      tag: "note.random-id.v1",
      args: Schema.Struct({}),
      run: () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: crypto.randomUUID(), title: "t" })}`
        })
    })
    const executor = yield* ActionExecutor.make(options).pipe(
      Effect.provideService(ActionRegistry.ActionRegistry, ActionRegistry.make([create, failing, sloppy, randomId]))
    )
    return { sql, table, executor, create, failing, sloppy, randomId }
  })

export const actionsSuite = (name: string, driver: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  layer(driver, { timeout: "120 seconds", excludeTestServices: true })(`actions: ${name}`, (it) => {
    describe("execution", () => {
      /** Verifies: R-ACT-1, R-ACT-2 */
      it.effect("records the action, the app's writes and the patches in one transaction and returns the result", () =>
        Effect.gen(function*() {
          const { create, executor, sql, table } = yield* setup({ userId: "u1" })
          const result = yield* executor.execute(create, { title: "Hello" })
          const [row] = yield* sql<{ id: string; title: string }>`SELECT id, title FROM ${sql(table)}`
          assert.deepStrictEqual(row, { id: result.id, title: "Hello" })
          const [record] = yield* sql<{ id: string; tag: string; args: unknown; user_id: string; client_id: string; hlc: string; synced: boolean }>`
            SELECT id::text AS id, tag, args, user_id, client_id, hlc, synced FROM reprise.action_records ORDER BY hlc DESC LIMIT 1`
          assert.strictEqual(record?.tag, "note.create.v1")
          assert.deepStrictEqual(record?.args, { input: { title: "Hello" }, timestamp: result.now })
          assert.strictEqual(record?.user_id, "u1")
          assert.strictEqual(record?.client_id, executor.clientId)
          assert.strictEqual(record?.synced, false)
          const patches = yield* Patch.forActions([record!.id])
          assert.deepStrictEqual(patches.map((p) => [p.op, p.table, p.rowId]), [["INSERT", table, result.id]])
          // The same action by tag, with encoded args.
          const byTag = yield* executor.executeTag("note.create.v1", { title: "By tag", content: "c" })
          assert.isObject(byTag)
        }))

      /** Verifies: R-ACT-2 */
      it.effect("records args and user ids exactly, whatever characters they hold", () =>
        Effect.gen(function*() {
          const hostileUser = `u'; DROP TABLE x; -- \\ E'\\'' $$ ü`
          const { create, executor, sql } = yield* setup({ userId: hostileUser })
          const titles = [
            `it's`, `back\\slash \\' \\\\`, `E'\\x00'`, `$$ $fn$ ;`, `emoji 🎉 and 中文`,
            `new\nline\ttab\r`, `"quoted" {json}`, `\u0001 control`
          ]
          for (const title of titles) {
            yield* executor.execute(create, { title, content: title })
            const [record] = yield* sql<{ args: { input: { title: string; content: string } }; user_id: string }>`
              SELECT args, user_id FROM reprise.action_records ORDER BY hlc DESC LIMIT 1`
            assert.strictEqual(record?.args.input.title, title)
            assert.strictEqual(record?.args.input.content, title)
            assert.strictEqual(record?.user_id, hostileUser)
          }
        }))

      /** Verifies: R-ACT-1 */
      it.effect("fails with typed errors for an unknown tag and for invalid args, writing nothing", () =>
        Effect.gen(function*() {
          const { create, executor, sql } = yield* setup()
          const [before] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          const unknown = failureOf(yield* Effect.exit(executor.executeTag("note.nope.v1", {})))
          assert.strictEqual((unknown as { _tag: string })._tag, "UnknownActionTag")
          assert.include((unknown as Error).message, "\"note.nope.v1\"")
          assert.include((unknown as Error).message, "note.create.v1")
          const invalid = failureOf(yield* Effect.exit(executor.executeTag("note.create.v1", { title: 42 })))
          assert.strictEqual((invalid as { _tag: string })._tag, "InvalidActionArgs")
          assert.include((invalid as Error).message, "note.create.v1")
          const badTyped = failureOf(yield* Effect.exit(executor.execute(create, { title: 7 as unknown as string })))
          assert.strictEqual(typeof badTyped === "object" && badTyped._tag === "InvalidActionArgs" && badTyped.tag, "note.create.v1")
          const [after] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          assert.strictEqual(after?.c, before?.c)
          assert.throws(() => Action.make({ tag: "bad tag!", args: Schema.Struct({}), run: () => Effect.void }), /Invalid action tag/)
        }))

      /** Verifies: R-ACT-1, R-ACT-3 */
      it.effect("runs an action on its args as a replay will decode them, refusing args JSON cannot hold", () =>
        Effect.gen(function*() {
          const { executor, sql, table } = yield* setup()
          const insertAt = (id: string, when: Date) =>
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql`INSERT INTO ${sql(table)} (id, title, created_at) VALUES (${id}, 't', ${when})`)
          const jsonDate = Action.make({
            tag: "note.at.v1",
            args: Schema.Struct({ when: Schema.Date }),
            run: ({ when }) => Effect.as(insertAt("at", when), when)
          })
          const rawDate = Action.make({
            tag: "note.at-raw.v1",
            args: Schema.Struct({ when: Schema.DateFromSelf }),
            run: ({ when }) => insertAt("raw", when)
          })
          const big = Action.make({
            tag: "note.big.v1",
            args: Schema.Struct({ n: Schema.BigIntFromSelf }),
            run: () => insertAt("big", new Date(0))
          })
          const when = new Date("2026-11-24T12:00:00.123Z")
          // A Schema whose encoded form is JSON: the action gets back exactly what it was given.
          const seen = yield* executor.execute(jsonDate, { when })
          assert.strictEqual(seen.getTime(), when.getTime())
          const [before] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          // A Date left as a Date encodes to a string in JSON, which a replay could not decode.
          const raw = failureOf(yield* Effect.exit(executor.execute(rawDate, { when })))
          assert.strictEqual(typeof raw === "object" && raw !== null && "_tag" in raw && raw._tag, "InvalidActionArgs")
          assert.include((raw as Error).message, "Schema.Date rather than Schema.DateFromSelf")
          // A bigint has no JSON form at all.
          const bigint = failureOf(yield* Effect.exit(executor.execute(big, { n: 1n })))
          assert.strictEqual(typeof bigint === "object" && bigint !== null && "_tag" in bigint && bigint._tag, "InvalidActionArgs")
          assert.include((bigint as Error).message, "do not encode to JSON")
          const [after] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          assert.strictEqual(after?.c, before?.c)
          const rows = yield* sql<{ id: string }>`SELECT id FROM ${sql(table)} ORDER BY id`
          assert.deepStrictEqual(rows.map((r) => r.id), ["at"])
        }))

      /** Verifies: R-ACT-2 */
      it.effect("rolls back the record, the writes and the patches when the action fails", () =>
        Effect.gen(function*() {
          const { create, executor, failing, sql, table } = yield* setup()
          const [records] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          const [patches] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_patches`
          const error = failureOf(yield* Effect.exit(executor.execute(failing, { title: "x" })))
          assert.deepStrictEqual(error, { _tag: "AppRule", reason: "no" })
          const empty = failureOf(yield* Effect.exit(executor.execute(create, { title: "" })))
          assert.strictEqual(empty, "title must not be empty")
          const rows = yield* sql`SELECT * FROM ${sql(table)}`
          assert.strictEqual(rows.length, 0)
          const [records2] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          const [patches2] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_patches`
          assert.strictEqual(records2?.c, records?.c)
          assert.strictEqual(patches2?.c, patches?.c)
        }))

      /** Verifies: R-ACT-3 */
      it.effect("gives actions the captured time, a Random seeded by the action id, and stable ids", () =>
        Effect.gen(function*() {
          const { create, executor, sql, table } = yield* setup()
          const a = yield* executor.execute(create, { title: "A" })
          const [row] = yield* sql<{ created_at: Date; lucky: number }>`SELECT created_at, lucky FROM ${sql(table)} WHERE id = ${a.id}`
          assert.strictEqual(row?.created_at.getTime(), a.now)
          assert.strictEqual(row?.lucky, a.lucky)
          const [record] = yield* sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records ORDER BY hlc DESC LIMIT 1`
          // Re-deriving from the action id gives the same id and the same random draw.
          assert.strictEqual(ActionIds.make(record!.id).id("note"), a.id)
          const lucky = yield* Effect.withRandom(Random.nextIntBetween(0, 1_000_000), Random.make(record!.id))
          assert.strictEqual(lucky, a.lucky)
          // Different actions get different ids.
          const b = yield* executor.execute(create, { title: "B" })
          assert.notStrictEqual(b.id, a.id)
        }))

      /** Verifies: R-ACT-3 */
      it.effect("traces the action in a span naming it, whose spans and log dates keep real time while its Clock stays frozen", () =>
        Effect.gen(function*() {
          const { executor, sql } = yield* setup()
          const logDates: Array<number> = []
          const logger = Logger.make(({ date }) => {
            logDates.push(date.getTime())
          })
          let span: Tracer.Span | undefined
          const timed = Action.make({
            tag: "clock.timed.v1",
            args: Schema.Struct({}),
            run: () =>
              Effect.gen(function*() {
                const sql = yield* SqlClient.SqlClient
                const millis = yield* Clock.currentTimeMillis
                const nanos = yield* Clock.currentTimeNanos
                yield* Effect.gen(function*() {
                  span = yield* Effect.currentSpan
                  yield* sql`SELECT 1`
                  yield* Effect.sleep("25 millis")
                  yield* Effect.log("after the sleep")
                }).pipe(Effect.withSpan("clock.timed.inside"))
                return {
                  millis,
                  nanos,
                  millisAfter: yield* Clock.currentTimeMillis,
                  nanosAfter: yield* Clock.currentTimeNanos,
                  dateTime: DateTime.toEpochMillis(yield* DateTime.now)
                }
              })
          })
          const out = yield* executor.execute(timed, {}).pipe(
            Effect.provide(Logger.replace(Logger.defaultLogger, logger))
          )
          // What the action reads stays at its timestamp, slept through or not.
          assert.strictEqual(out.millisAfter, out.millis)
          assert.strictEqual(out.nanosAfter, out.nanos)
          assert.strictEqual(out.nanos, BigInt(out.millis) * 1_000_000n)
          assert.strictEqual(out.dateTime, out.millis)
          // What tracing and logging read is the real clock: the span lasted the sleep, and the
          // log line is dated after it.
          const status = span?.status
          assert.strictEqual(status?._tag, "Ended")
          if (status?._tag === "Ended") {
            assert.isAtLeast(Number(status.endTime - status.startTime) / 1e6, 20)
          }
          assert.strictEqual(logDates.length, 1)
          assert.isAtLeast(logDates[0]! - out.millis, 20)
          // The action's code runs under the executor's span, which names the action.
          let ancestor: Tracer.AnySpan | undefined = span
          while (ancestor !== undefined && !(ancestor._tag === "Span" && ancestor.name === "ActionExecutor.execute")) {
            ancestor = ancestor._tag === "Span" ? Option.getOrUndefined(ancestor.parent) : undefined
          }
          assert.isDefined(ancestor, "the action runs inside an ActionExecutor.execute span")
          if (ancestor?._tag === "Span") {
            const [record] = yield* sql<{ id: string; hlc: string }>`
              SELECT id::text AS id, hlc FROM reprise.action_records ORDER BY hlc DESC LIMIT 1`
            assert.strictEqual(ancestor.attributes.get("reprise.action.tag"), "clock.timed.v1")
            assert.strictEqual(ancestor.attributes.get("reprise.action.id"), record?.id)
            assert.strictEqual(ancestor.attributes.get("reprise.action.hlc"), record?.hlc)
            assert.strictEqual(ancestor.status._tag, "Ended")
          }
        }))

      /** Verifies: R-ACT-3, R-SYNC-8 */
      it.effect("stamps records with increasing HLCs and restores the clock when reopened", () =>
        Effect.gen(function*() {
          const { create, executor, sql } = yield* setup()
          for (let i = 0; i < 5; i++) yield* executor.execute(create, { title: `n${i}` })
          const rows = yield* sql<{ hlc: string }>`SELECT hlc FROM reprise.action_records ORDER BY created_at, hlc`
          const decoded = rows.map((r) => Hlc.decode(r.hlc)).map((e) => {
            if (e._tag === "Left") throw e.left
            return e.right
          })
          for (let i = 1; i < decoded.length; i++) assert.strictEqual(Hlc.compare(decoded[i - 1]!, decoded[i]!), -1)
          const last = yield* executor.clock
          const [newest] = yield* sql<{ hlc: string }>`SELECT max(hlc) AS hlc FROM reprise.action_records`
          assert.strictEqual(newest?.hlc, Hlc.encode(last))
          const reopened = yield* ActionExecutor.make().pipe(
            Effect.provideService(ActionRegistry.ActionRegistry, ActionRegistry.make([create]))
          )
          assert.isTrue(Hlc.equals(yield* reopened.clock, last))
        }))

      /** Verifies: R-ACT-2 */
      it.effect("runs inside a caller's transaction and stops capturing after the action", () =>
        Effect.gen(function*() {
          const { create, executor, sql, table } = yield* setup()
          const inner = yield* sql.withTransaction(Effect.gen(function*() {
            const result = yield* executor.execute(create, { title: "inner" })
            // A write after the action, still in the caller's transaction, is not taken for
            // the action's: it is refused as a write outside any action.
            const stray = yield* Effect.exit(sql.withTransaction(sql`INSERT INTO ${sql(table)} (id, title) VALUES ('stray', 'x')`))
            assert.strictEqual(stray._tag, "Failure")
            return result
          }))
          const rows = yield* sql<{ id: string }>`SELECT id FROM ${sql(table)}`
          assert.deepStrictEqual(rows.map((r) => r.id), [inner.id])
          // The caller's rollback takes the action with it.
          yield* Effect.exit(sql.withTransaction(Effect.zipRight(executor.execute(create, { title: "undone" }), Effect.fail("stop"))))
          const after = yield* sql<{ id: string }>`SELECT id FROM ${sql(table)}`
          assert.strictEqual(after.length, 1)
        }))

      /** Verifies: R-ACT-2, R-ACT-3 */
      it.effect("refuses to execute an action inside a running action, and the outer one writes nothing", () =>
        Effect.gen(function*() {
          const { create, executor, sql, table } = yield* setup()
          const outer = Action.make({
            tag: "note.outer.v1",
            args: Schema.Struct({}),
            run: () =>
              Effect.gen(function*() {
                const sql = yield* SqlClient.SqlClient
                yield* sql`INSERT INTO ${sql(table)} (id, title) VALUES (${(yield* ActionIds.ActionIds).id("before")}, 'before')`
                return yield* executor.execute(create, { title: "inner" })
              })
          })
          const [before] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          const error = failureOf(yield* Effect.exit(executor.execute(outer, {})))
          assert.strictEqual(typeof error === "object" && error !== null && "_tag" in error && error._tag, "NestedAction")
          assert.include((error as Error).message, `"note.create.v1"`)
          assert.include((error as Error).message, `"note.outer.v1"`)
          assert.include((error as Error).message, "other.run(args)")
          const [after] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM reprise.action_records`
          assert.strictEqual(after?.c, before?.c)
          const rows = yield* sql<{ id: string }>`SELECT id FROM ${sql(table)}`
          assert.deepStrictEqual(rows, [])
          // The advised way: the other action's logic, run inside this one, writes as this one.
          const composed = Action.make({
            tag: "note.composed.v1",
            args: Schema.Struct({}),
            run: () => create.run({ title: "composed" })
          })
          const made = yield* executor.execute(composed, {})
          const [row] = yield* sql<{ title: string }>`SELECT title FROM ${sql(table)} WHERE id = ${made.id}`
          assert.strictEqual(row?.title, "composed")
        }))
    })

    /** Verifies: R-ACT-2 */
    it.effect("keeps recording when the session loses the prepared record statement (PGlite prepares it once)", () =>
      Effect.gen(function*() {
        const { create, executor, sql, table } = yield* setup()
        const preparedNow = () =>
          Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'reprise_record_v1'`, ([r]) => r!.n)
        // What the driver's layer declares (PGlite: one session; Postgres through a pool: none).
        const single = (yield* SqlCapabilities.current).singleSession
        const recordCount = () => Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise.action_records`, ([r]) => r!.n)
        const before = yield* recordCount()
        // One session (PGlite): prepared by the executor; a pool (Postgres): never.
        assert.strictEqual(yield* preparedNow(), single ? 1 : 0)
        yield* executor.execute(create, { title: "first" })
        // Something drops it (DEALLOCATE ALL, DISCARD ALL, a new PGlite behind a worker): the
        // next action still runs once and is recorded once, and the statement is back.
        yield* sql.unsafe("DEALLOCATE ALL")
        const second = yield* executor.execute(create, { title: "second" })
        const third = yield* executor.execute(create, { title: "third" })
        assert.strictEqual(yield* preparedNow(), single ? 1 : 0)
        const rows = yield* sql<{ title: string }>`SELECT title FROM ${sql(table)} ORDER BY title`
        assert.deepStrictEqual(rows.map((r) => r.title), ["first", "second", "third"])
        assert.notStrictEqual(second.id, third.id)
        assert.strictEqual((yield* recordCount()) - before, 3)
        const patches = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise.action_patches p
          WHERE p.table_name = ${table}`
        assert.strictEqual(patches[0]!.n, 3)
      }))

    /** Verifies: R-ACT-3 */
    it.effect("names the key when an action gives two rows the same deterministic id, and leaves other unique violations alone", () =>
      Effect.gen(function*() {
        const { executor, sql, table } = yield* setup()
        const twice = Action.make({
          tag: "note.twice.v1",
          args: Schema.Struct({}),
          run: () =>
            Effect.gen(function*() {
              const sql = yield* SqlClient.SqlClient
              const ids = yield* ActionIds.ActionIds
              // Asking again for a key is how an action refers to a row it created: fine.
              assert.strictEqual(ids.id("item"), ids.id("item"))
              yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: ids.id("item"), title: "one" })}`
              yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: ids.id("item"), title: "two" })}`
            })
        })
        const error = failureOf(yield* Effect.exit(executor.execute(twice, {})))
        assert.strictEqual(error._tag, "DuplicateActionId")
        if (error._tag === "DuplicateActionId") {
          assert.strictEqual(error.key, "item")
          assert.strictEqual(error.tag, "note.twice.v1")
          assert.strictEqual(error.table, table)
          assert.include(error.message, "ActionIds.id(\"item\")")
          assert.include(error.message, "its own key")
        }
        const [count] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)} WHERE title IN ('one', 'two')`
        assert.strictEqual(count?.c, 0)

        // A duplicate of a row the action did not create with ActionIds is the app's own.
        const fixed = Action.make({
          tag: "note.fixed.v1",
          args: Schema.Struct({}),
          run: () =>
            Effect.gen(function*() {
              const sql = yield* SqlClient.SqlClient
              yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: "fixed", title: "one" })}`
              yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: "fixed", title: "two" })}`
            })
        })
        const other = failureOf(yield* Effect.exit(executor.execute(fixed, {})))
        assert.strictEqual(other._tag, "SqlError")
      }))

    describe("development mode", () => {
      /** Verifies: R-ACT-4 */
      it.effect("accepts deterministic actions and reports nondeterministic ones with tag, table, row and columns", () =>
        Effect.gen(function*() {
          const { create, executor, randomId, sloppy, sql, table } = yield* setup({ devMode: true })
          const ok = yield* executor.execute(create, { title: "fine" })
          const [count] = yield* sql<{ c: number }>`SELECT count(*)::int AS c FROM ${sql(table)} WHERE id = ${ok.id}`
          assert.strictEqual(count?.c, 1)
          const [patches] = yield* sql<{ c: number }>`
            SELECT count(*)::int AS c FROM reprise.action_patches WHERE table_name = ${table}`
          assert.strictEqual(patches?.c, 1)

          const error = failureOf(yield* Effect.exit(executor.execute(sloppy, { id: "s1" })))
          assert.strictEqual(error._tag, "NondeterministicAction")
          if (error._tag === "NondeterministicAction") {
            assert.strictEqual(error.tag, "note.sloppy.v1")
            assert.strictEqual(error.table, table)
            assert.strictEqual(error.rowId, "s1")
            assert.deepStrictEqual(error.columns, ["lucky"])
            assert.include(error.message, "note.sloppy.v1")
          }
          const idError = failureOf(yield* Effect.exit(executor.execute(randomId, {})))
          assert.strictEqual(idError._tag === "NondeterministicAction" && idError.table, table)
          const rows = yield* sql`SELECT * FROM ${sql(table)} WHERE id <> ${ok.id}`
          assert.strictEqual(rows.length, 0)
        }))
    })
  })
