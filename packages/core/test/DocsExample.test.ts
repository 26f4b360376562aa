/**
 * The example of docs/actions.md, run as printed (in Node, so on an in-memory PGlite), so the
 * guide cannot drift from the API. The first test checks that the guide's code is this file's:
 * every line of its block (imports and comments aside) appears here, in order.
 */
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Action, ActionExecutor, ActionIds, ActionRegistry, SyncSchema, Tracking } from "../src/index.js"

/** A block's code lines: indentation, comments, imports and blank lines dropped. */
const codeLines = (text: string): ReadonlyArray<string> =>
  text.split("\n")
    .map((line) => line.replace(/\s+\/\/\s.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("//") && !line.startsWith("import "))

/** Verifies: R-ACT-1 */
it("docs/actions.md: the setup example is this file's code", () => {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const guide = fs.readFileSync(path.join(here, "../../../docs/actions.md"), "utf8")
  const example = /## Set up a replica\n\n```ts\n([\s\S]*?)```/.exec(guide)
  assert.isNotNull(example, "docs/actions.md lost its setup example")
  const source = codeLines(fs.readFileSync(fileURLToPath(import.meta.url), "utf8"))
  let at = 0
  for (const line of codeLines(example![1]!)) {
    const found = source.findIndex((candidate, i) => i >= at && candidate.endsWith(line))
    assert.isAtLeast(found, 0, `docs/actions.md's example has a line this test does not run: ${line}`)
    at = found + 1
  }
})

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

const program = Effect.gen(function*() {
  yield* migrate
  const id = yield* ActionExecutor.execute(createNote, { title: "Hello", team: "team-1" })
  return id
})

/** Verifies: R-ACT-1, R-ACT-2, R-ACT-3 */
it.live("docs/actions.md: the setup example runs", () =>
  Effect.gen(function*() {
    // As printed, the example's last line: it runs `program` on a database of its own.
    const printed = yield* Effect.promise(() =>
      Effect.runPromise(Effect.provide(program, Replica))
    )
    assert.isString(printed)
    // The same program, then a look at what it wrote and at its rule.
    const id = yield* program
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ id: string; title: string; audience_key: string }>`SELECT id, title, audience_key FROM notes`
    assert.deepStrictEqual(rows, [{ id, title: "Hello", audience_key: "team-1" }])
    const refused = yield* Effect.flip(ActionExecutor.execute(createNote, { title: " ", team: "team-1" }))
    assert.strictEqual(refused, "A note needs a title")
  }).pipe(Effect.provide(Replica)))
