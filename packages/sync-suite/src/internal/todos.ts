/**
 * The engine scenarios' app: todos and counters, with actions chosen to conflict (read-then-
 * write increments, uniqueness rules checked before or after writing, ids chosen by the caller).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { App } from "./world.js"

/** Creates a todo with an id derived from the action. */
export const createTodo = Action.make({
  tag: "todo.create.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("todo")
      yield* sql`INSERT INTO todos ${sql.insert({ id, title, audience_key: "team" })}`
      return id
    })
})

/** Sets a todo's title. */
export const renameTodo = Action.make({
  tag: "todo.rename.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE todos SET title = ${title} WHERE id = ${id}`)
})

/** Flips a todo's done flag. */
export const toggleTodo = Action.make({
  tag: "todo.toggle.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE todos SET done = NOT done WHERE id = ${id}`)
})

/** Creates a counter at zero. */
export const createCounter = Action.make({
  tag: "counter.create.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO counters ${sql.insert({ id, n: 0, audience_key: "team" })}`)
})

/** Reads, then writes: concurrent increments conflict unless replayed in one order. */
export const increment = Action.make({
  tag: "counter.increment.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ n: number }>`SELECT n FROM counters WHERE id = ${id}`
      if (row === undefined) return yield* Effect.fail("no such counter" as const)
      yield* sql`UPDATE counters SET n = ${row.n + 1} WHERE id = ${id}`
    })
})

/** A rule: at most one todo with a given title. Offline, two replicas may both pass it. */
export const createUnique = Action.make({
  tag: "todo.create-unique.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [taken] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM todos WHERE title = ${title}`
      if ((taken?.n ?? 0) > 0) return yield* Effect.fail("title taken" as const)
      yield* sql`INSERT INTO todos ${sql.insert({ id: (yield* ActionIds.ActionIds).id("todo"), title, audience_key: "team" })}`
    })
})

/** Writes first, checks after: on replay behind an earlier claim it fails having written. */
export const claimTitle = Action.make({
  tag: "todo.claim.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO todos ${sql.insert({ id: (yield* ActionIds.ActionIds).id("todo"), title, audience_key: "team" })}`
      yield* sql`UPDATE counters SET n = n + 1 WHERE id = 'claims'`
      const [taken] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM todos WHERE title = ${title}`
      if ((taken?.n ?? 0) > 1) return yield* Effect.fail("title taken" as const)
    })
})

/**
 * An id chosen by the caller: on replay behind an earlier insert of the same id it fails with
 * an SQL error (a duplicate key), which leaves the transaction aborted.
 */
export const insertFixed = Action.make({
  tag: "todo.insert-fixed.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO todos ${sql.insert({ id, title, audience_key: "team" })}`)
})

/** The app: both tables tracked, every action registered. */
export const todosApp: App = {
  tables: `
    CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false, audience_key text);
    CREATE TABLE counters (id text PRIMARY KEY, n integer NOT NULL, audience_key text);`,
  tracked: ["todos", "counters"],
  actions: [createTodo, renameTodo, toggleTodo, createCounter, increment, createUnique, claimTitle, insertFixed]
}
