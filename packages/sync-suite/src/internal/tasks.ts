/**
 * The private-data scenarios' app: tasks and a stats row, written by users in overlapping
 * audiences: `team` (alice, bob, carol), `ops` (bob, eve), and each user's private one.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { App } from "./world.js"

/** Each user's audience keys, as the server resolves them. */
export const AUDIENCES: Readonly<Record<string, ReadonlyArray<string>>> = {
  alice: ["team", "private:alice"],
  bob: ["team", "ops", "private:bob"],
  carol: ["team"],
  eve: ["ops"]
}

/** Creates a task with the id and audience given. */
export const createTask = Action.make({
  tag: "task.create.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String, tag: Schema.String, audience: Schema.String }),
  run: ({ audience, id, tag, title }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`INSERT INTO tasks ${sql.insert({ id, title, tag, audience_key: audience })}`)
})

/**
 * Renames a tag on every task the replica running it can see: a replica that sees tasks the
 * author could not renames those too (an additive difference, corrected).
 */
export const renameTag = Action.make({
  tag: "tag.rename.v1",
  args: Schema.Struct({ from: Schema.String, to: Schema.String }),
  run: ({ from, to }) =>
    // One statement over many rows: capture numbers their patches canonically, whatever order
    // Postgres visits them in on each replica (R-ACT-6).
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE tasks SET tag = ${to} WHERE tag = ${from}`)
})

/**
 * Writes a shared row from every task the replica can see: a replica that sees less than the
 * author computes less, so the author's result stands ("author" authority).
 */
export const recount = Action.make({
  tag: "stats.recount.v1",
  authority: "author",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`
        INSERT INTO stats (id, open, audience_key)
        SELECT ${id}, count(*)::int, 'team' FROM tasks WHERE NOT done
        ON CONFLICT (id) DO UPDATE SET open = excluded.open`)
})

/**
 * A team task plus a line in the author's private journal: a replica outside that audience
 * replays the journal insert too, and must not keep the row.
 */
export const createLogged = Action.make({
  tag: "task.create-logged.v1",
  args: Schema.Struct({ title: Schema.String, journal: Schema.String }),
  run: ({ journal, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const ids = yield* ActionIds.ActionIds
      yield* sql`INSERT INTO tasks ${sql.insert({ id: ids.id("task"), title, tag: null, audience_key: "team" })}`
      yield* sql`INSERT INTO tasks ${
        sql.insert({ id: ids.id("journal"), title: `created ${title}`, tag: null, audience_key: journal })
      }`
    })
})

/** What the slot actions fail with when their rule says no. */
class Refused extends Data.TaggedError("Refused")<{ readonly reason: string }> {}

/** Takes a slot on a board: a team task, refused while the board (a task) does not exist. */
export const claimSlot = Action.make({
  tag: "slot.claim.v1",
  args: Schema.Struct({ id: Schema.String, board: Schema.String }),
  run: ({ board, id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if ((yield* sql`SELECT 1 FROM tasks WHERE id = ${board}`).length === 0) {
        return yield* new Refused({ reason: `no board ${board}` })
      }
      yield* sql`INSERT INTO tasks ${sql.insert({ id, title: "slot", tag: board, audience_key: "team" })}`
    })
})

/** Gives a slot back: refused when it is not taken. */
export const releaseSlot = Action.make({
  tag: "slot.release.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if ((yield* sql`DELETE FROM tasks WHERE id = ${id} RETURNING id`).length === 0) {
        return yield* new Refused({ reason: `slot ${id} is not taken` })
      }
    })
})

/** The app: both tables tracked, every action registered. */
export const tasksApp: App = {
  tables: `
    CREATE TABLE tasks (id text PRIMARY KEY, title text NOT NULL, tag text, done boolean NOT NULL DEFAULT false,
      audience_key text);
    CREATE TABLE stats (id text PRIMARY KEY, open integer NOT NULL, audience_key text);`,
  tracked: ["tasks", "stats"],
  actions: [createTask, renameTag, recount, createLogged, claimSlot, releaseSlot]
}
