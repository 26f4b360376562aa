/**
 * A client database an earlier build installed, whose capture functions checked no sizes (the
 * executor checked an action's patches with a statement of its own, `check_action_limits`):
 * opening it with this build (`SyncSchema.install`, which the executor runs) replaces each
 * tracked table's capture function with this build's, which refuses an action over the
 * protocol's limits as it captures it, drops the old function, and keeps the data.
 */
import { assert, describe, it } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Action, ActionExecutor, ActionRegistry, SyncProtocol, SyncSchema, Tracking } from "../src/index.js"

const L = SyncProtocol.Limits

const put = Action.make({
  tag: "note.put.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO notes (id, title) VALUES (${id}, ${title})`)
})

/** Grows a note's title to `length` characters from small args (the UPDATE's image is what is too large). */
const stretch = Action.make({
  tag: "note.stretch.v1",
  args: Schema.Struct({ id: Schema.String, length: Schema.Number }),
  run: ({ id, length }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE notes SET title = repeat('s', ${length}) WHERE id = ${id}`)
})

const captures = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ name: string; source: string }>`
    SELECT p.proname AS name, p.prosrc AS source FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'reprise' AND p.proname LIKE 'capture\\_%' ORDER BY 1`)

const oldCheckInstalled = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ present: boolean }>`SELECT to_regprocedure('reprise.check_action_limits(uuid, int, int, int, int, int)') IS NOT NULL AS present`,
    ([row]) => row!.present
  ))

/**
 * Turns the installed capture functions into what an earlier build installed: no size check and
 * no version mark (the rest of the function is as it was), and puts its executor's check
 * function back (a stand-in with its signature: only its removal is looked at).
 */
const downgrade = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const definitions = yield* sql<{ definition: string }>`
    SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'reprise' AND p.proname LIKE 'capture\\_%'`
  assert.isAbove(definitions.length, 0)
  for (const { definition } of definitions) {
    const old = definition
      .replace(/-- reprise capture v\d+\n/, "")
      .replace("current_setting('reprise.check_limits', true) = v_action", "false")
    assert.notStrictEqual(old, definition)
    yield* sql.unsafe(old)
  }
  yield* sql.unsafe(`CREATE FUNCTION reprise.check_action_limits(uuid, int, int, int, int, int) RETURNS void
    LANGUAGE sql AS 'SELECT NULL::void'`)
})

describe("capture functions of an earlier build", () => {
  /** Verifies: R-SRV-7 */
  it.effect("are replaced when this build opens the database: an action over the limits is refused, the data kept", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE notes (id text PRIMARY KEY, title text NOT NULL, audience_key text)`
      yield* SyncSchema.install()
      yield* Tracking.install(["notes"])
      yield* downgrade
      assert.isTrue((yield* captures).every(({ source }) => !source.includes("reprise.check_limits")))
      assert.isTrue(yield* oldCheckInstalled)

      // The earlier build's state: an action whose row image is over the limit would be taken.
      const registry = ActionRegistry.layer([put, stretch])
      const open = <A, E>(effect: Effect.Effect<A, E, ActionExecutor.ActionExecutor>) =>
        Effect.provide(effect, ActionExecutor.layer({ userId: "me" }).pipe(Layer.provide(registry)))
      // Opening it with this build (the executor installs the schema first) upgrades it.
      yield* open(ActionExecutor.execute(put, { id: "kept", title: "small" }))
      const upgraded = yield* captures
      assert.strictEqual(upgraded.length, 1)
      assert.include(upgraded[0]!.source, "reprise.check_limits")
      assert.isFalse(yield* oldCheckInstalled)

      const error = yield* Effect.flip(open(ActionExecutor.execute(stretch, { id: "kept", length: L.maxRowImageChars })))
      if (!(error instanceof ActionExecutor.ActionTooLarge)) return assert.fail(`expected ActionTooLarge, got ${String(error)}`)
      assert.deepStrictEqual(
        [error.what, error.limit, error.table, error.rowId],
        ["forward row image", L.maxRowImageChars, "public.notes", "kept"]
      )
      const [row] = yield* sql<{ title: string; records: number }>`
        SELECT title, (SELECT count(*)::int FROM reprise.action_records) AS records FROM notes WHERE id = 'kept'`
      assert.deepStrictEqual(row, { title: "small", records: 1 })

      // Installing again finds nothing to replace.
      yield* SyncSchema.install()
      assert.deepStrictEqual(yield* captures, upgraded)
    }).pipe(Effect.provide(PgliteClient.layer({}))))
})
