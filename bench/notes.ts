/** The benchmarks' app: a `notes` table and the actions W1 and W2 run (shared by run.ts and sync.ts). */
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

export const NOTES_DDL = `CREATE TABLE notes (id text PRIMARY KEY, title text, content text, user_id text, audience_key text)`

export const createNote = Action.make({
  tag: "note.create.v1",
  args: Schema.Struct({ title: Schema.String, content: Schema.String }),
  run: ({ content, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO notes ${sql.insert({ id, title, content, user_id: "u1", audience_key: "u1" })}`
      return id
    })
})

export const renameNote = Action.make({
  tag: "note.rename.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE notes SET title = ${title} WHERE id = ${id}`
    })
})
