/**
 * A small notes app the client tests share: its migrations, tracked table and actions.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Migrations } from "../src/index.js"

/** The notes app's schema, in two steps (the second a later release's). */
export const migrations: ReadonlyArray<Migrations.Migration> = [
  {
    name: "create notes",
    sql: "CREATE TABLE notes (id text PRIMARY KEY, title text NOT NULL, audience_key text)"
  },
  { name: "notes.pinned", sql: "ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false" }
]

/** Creates a note in `team`'s audience and returns its id. */
export const createNote = Action.make({
  tag: "note.create.v1",
  args: Schema.Struct({ title: Schema.String, team: Schema.String }),
  run: ({ team, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO notes ${sql.insert({ id, title, audience_key: team })}`
      return id
    })
})

/** Renames a note. */
export const renameNote = Action.make({
  tag: "note.rename.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE notes SET title = ${title} WHERE id = ${id}`
    })
})

export const actions = [createNote, renameNote]
