/**
 * The browser test's app (shared by the page and the Node side): a todos table and one action.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

export const migrations = [
  { name: "create todos", sql: "CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, audience_key text)" }
]

export const addTodo = Action.make({
  tag: "todo.add.v1",
  args: Schema.Struct({ title: Schema.String }),
  run: ({ title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("todo")
      yield* sql`INSERT INTO todos ${sql.insert({ id, title, audience_key: "home" })}`
      return id
    })
})

/** What the page reports on `window.__reprise`. */
export interface PageResult {
  readonly clientId: string
  readonly storage: string
  /** The todos before this visit's action and sync. */
  readonly before: ReadonlyArray<string>
  /** The todos after them. */
  readonly after: ReadonlyArray<string>
  readonly pending: number
  readonly cursor: number
}
