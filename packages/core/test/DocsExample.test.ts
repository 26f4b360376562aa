/**
 * The example of docs/actions.md, run as written (in memory instead of IndexedDB), so the
 * guide cannot drift from the API.
 */
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Action, ActionExecutor, ActionIds, ActionRegistry, SyncSchema, Tracking } from "../src/index.js"

const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS notes (
    id text PRIMARY KEY, title text NOT NULL, created_at timestamptz, audience_key text)`
  yield* SyncSchema.install()
  yield* Tracking.install(["notes"])
})

const createNote = Action.make({
  tag: "note.create.v1",
  args: Schema.Struct({ title: Schema.String, team: Schema.String }),
  run: ({ team, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      const now = yield* Clock.currentTimeMillis
      if (title.trim() === "") return yield* Effect.fail("A note needs a title" as const)
      yield* sql`INSERT INTO notes ${sql.insert({ id, title, created_at: new Date(now), audience_key: team })}`
      return id
    })
})

const Db = PgliteClient.layer({})
const Replica = ActionExecutor.layer({ userId: "user-1", devMode: true }).pipe(
  Layer.provide(ActionRegistry.layer([createNote])),
  Layer.provideMerge(Db)
)

/** Verifies: R-ACT-1, R-ACT-2, R-ACT-3 */
it.live("docs/actions.md: the setup example runs", () =>
  Effect.gen(function*() {
    yield* migrate
    const id = yield* ActionExecutor.execute(createNote, { title: "Hello", team: "team-1" })
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ id: string; title: string; audience_key: string }>`SELECT id, title, audience_key FROM notes`
    assert.deepStrictEqual(rows, [{ id, title: "Hello", audience_key: "team-1" }])
    const refused = yield* Effect.flip(ActionExecutor.execute(createNote, { title: " ", team: "team-1" }))
    assert.strictEqual(refused, "A note needs a title")
  }).pipe(Effect.provide(Replica)))
