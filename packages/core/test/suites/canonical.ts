/**
 * Canonical capture (R-ACT-6): an action whose one statement changes many rows captures the same
 * patches whatever order Postgres visits the rows in. Run on PGlite and on real Postgres.
 */
import { assert, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Action, ActionExecutor, ActionRegistry, type Patch, SyncSchema, Tracking } from "../../src/index.js"
import { asAction, uniqueName } from "./helpers.js"

const ROWS = 12

/**
 * Two tables with the same rows whose storage order differs: each row of `forward` was last
 * rewritten in id order, each row of `reversed` in the opposite order (an UPDATE writes a new
 * version of the row at the end of the table).
 */
const twoReplicas = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* SyncSchema.install()
  const forward = uniqueName("canon_fwd")
  const reversed = uniqueName("canon_rev")
  for (const table of [forward, reversed]) {
    yield* sql`CREATE TABLE ${sql(table)} (id text PRIMARY KEY, n int NOT NULL, audience_key text)`
  }
  yield* Tracking.install([forward, reversed])
  const ids = Array.from({ length: ROWS }, (_, i) => `r${String(i).padStart(2, "0")}`)
  for (const [table, order] of [[forward, ids], [reversed, [...ids].reverse()]] as const) {
    yield* asAction(sql, Effect.gen(function*() {
      yield* sql`INSERT INTO ${sql(table)} (id, n) SELECT 'r' || lpad(i::text, 2, '0'), i FROM generate_series(0, ${ROWS - 1}) AS i`
      for (const id of order) yield* sql`UPDATE ${sql(table)} SET n = n + 1000 WHERE id = ${id}`
      for (const id of order) yield* sql`UPDATE ${sql(table)} SET n = n - 1000 WHERE id = ${id}`
    }))
  }
  const storage = (table: string) =>
    Effect.map(sql<{ id: string }>`SELECT id FROM ${sql(table)} ORDER BY ctid`, (rows) => rows.map((r) => r.id))
  // The premise: Postgres visits the two tables' rows in opposite orders.
  assert.deepStrictEqual(yield* storage(forward), ids)
  assert.deepStrictEqual(yield* storage(reversed), [...ids].reverse())
  return { sql, forward, reversed }
})

/** Many rows in one UPDATE, then many in one DELETE. */
const bulk = (sql: SqlClient.SqlClient, table: string) =>
  Effect.gen(function*() {
    yield* sql`UPDATE ${sql(table)} SET n = n + 100 WHERE n % 2 = 0`
    yield* sql`DELETE FROM ${sql(table)} WHERE n % 3 = 0`
  })

/** What a replay compares: everything but the action. */
const comparable = (patches: ReadonlyArray<Patch.Patch>) =>
  patches.map(({ forward, op, reverse, rowId, seq }) => ({ seq, rowId, op, forward, reverse }))

export const canonicalSuite = (name: string, driver: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  layer(driver, { timeout: "120 seconds", excludeTestServices: true })(`canonical capture: ${name}`, (it) => {
    /** Verifies: R-ACT-6 */
    it.effect("captures a multi-row UPDATE and DELETE identically whatever order the rows are stored in", () =>
      Effect.gen(function*() {
        const { forward, reversed, sql } = yield* twoReplicas
        const first = comparable(yield* asAction(sql, bulk(sql, forward)))
        const second = comparable(yield* asAction(sql, bulk(sql, reversed)))
        assert.deepStrictEqual(second, first)
        // Statements in the order the action ran them; within one, rows by id.
        const updated = first.filter((p) => p.op === "UPDATE").map((p) => p.rowId)
        const deleted = first.filter((p) => p.op === "DELETE").map((p) => p.rowId)
        assert.deepStrictEqual(updated, ["r00", "r02", "r04", "r06", "r08", "r10"])
        assert.deepStrictEqual(deleted, ["r02", "r03", "r08", "r09"])
        assert.deepStrictEqual(first.map((p) => p.seq), Array.from({ length: 10 }, (_, i) => i + 1))
        assert.deepStrictEqual(first.slice(0, 6).map((p) => p.op), Array(6).fill("UPDATE"))
      }))

    /** Verifies: R-ACT-6 */
    it.effect("keeps an INSERT's rows in the order its query gave them, and orders a statement after it", () =>
      Effect.gen(function*() {
        const { reversed, sql } = yield* twoReplicas
        const patches = yield* asAction(sql, Effect.gen(function*() {
          yield* sql`INSERT INTO ${sql(reversed)} (id, n) VALUES ('z2', 2), ('z1', 1)`
          yield* sql`UPDATE ${sql(reversed)} SET n = n + 1 WHERE id IN ('z2', 'z1', 'r01')`
        }))
        assert.deepStrictEqual(patches.map((p) => `${p.op} ${p.rowId}`), [
          "INSERT z2",
          "INSERT z1",
          "UPDATE r01",
          "UPDATE z1",
          "UPDATE z2"
        ])
      }))

    /** Verifies: R-ACT-6 */
    it.effect("development mode's double run accepts an action changing many rows in one statement", () =>
      Effect.gen(function*() {
        const { forward, reversed, sql } = yield* twoReplicas
        const tidy = Action.make({
          tag: "canon.tidy.v1",
          args: Schema.Struct({ table: Schema.String }),
          run: ({ table }) => bulk(sql, table)
        })
        const executor = yield* ActionExecutor.make({ devMode: true }).pipe(
          Effect.provideService(ActionRegistry.ActionRegistry, ActionRegistry.make([tidy]))
        )
        yield* executor.execute(tidy, { table: reversed })
        yield* executor.execute(tidy, { table: forward })
        const left = (table: string) =>
          Effect.map(sql<{ id: string; n: number }>`SELECT id, n FROM ${sql(table)} ORDER BY id`, (rows) => rows.map((r) => `${r.id}=${r.n}`))
        assert.deepStrictEqual(yield* left(reversed), yield* left(forward))
      }))
  
    /** Verifies: R-ACT-6 */
    it.effect("orders the rows an ON DELETE CASCADE removes, as a statement of their own after the parents", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* SyncSchema.install()
        const parents = uniqueName("canon_parent")
        const children = uniqueName("canon_child")
        yield* sql`CREATE TABLE ${sql(parents)} (id text PRIMARY KEY, audience_key text)`
        yield* sql`CREATE TABLE ${sql(children)} (id text PRIMARY KEY,
          parent text NOT NULL REFERENCES ${sql(parents)} (id) ON DELETE CASCADE, audience_key text)`
        yield* Tracking.install([parents, children])
        yield* asAction(sql, Effect.gen(function*() {
          yield* sql`INSERT INTO ${sql(parents)} (id) VALUES ('p2'), ('p1')`
          yield* sql`INSERT INTO ${sql(children)} (id, parent) VALUES ('c3', 'p2'), ('c1', 'p1'), ('c2', 'p2')`
          // The parents' storage order is reversed: p1 is visited first.
          yield* sql`UPDATE ${sql(parents)} SET audience_key = 'x' WHERE id = 'p2'`
        }))
        const patches = yield* asAction(sql, sql`DELETE FROM ${sql(parents)}`)
        assert.deepStrictEqual(patches.map((p) => `${p.op} ${p.rowId}`), [
          "DELETE p1",
          "DELETE p2",
          "DELETE c1",
          "DELETE c2",
          "DELETE c3"
        ])
      }))
  })
