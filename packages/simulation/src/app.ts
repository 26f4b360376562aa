/**
 * An app built to conflict, for the convergence simulation: todos in lists with a rule (at most
 * `MAX_OPEN` open todos per list), moves between lists, a shared counter incremented by reading
 * then writing (lost updates show), an append-only list per list row (duplicates show double
 * applies), and list creation racing on the same ids.
 *
 * And private data (R-SRV-3, R-SYNC-3): notes in audiences only some users see (each user's
 * private one, and `ops`), an action renaming a tag on every note the replica sees (replicas
 * that see more rename more: corrections), a team counter tallying the notes the replica sees
 * (replicas that see less adopt the author's tally), and a todo created with a note in its
 * author's private audience (other users replay the insert and must not keep the row).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds } from "@reprise/core"
import type { Simulation } from "@reprise/core/testing"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** At most this many open todos per list: the rule concurrent offline creations race on. */
export const MAX_OPEN = 3

/** The app's tables (every replica and the server create them). */
export const setup = `
  CREATE TABLE IF NOT EXISTS lists (id text PRIMARY KEY, name text NOT NULL, items jsonb NOT NULL DEFAULT '[]', audience_key text);
  CREATE TABLE IF NOT EXISTS todos (id text PRIMARY KEY, list_id text NOT NULL, title text NOT NULL,
    done boolean NOT NULL DEFAULT false, audience_key text);
  CREATE TABLE IF NOT EXISTS counters (id text PRIMARY KEY, value integer NOT NULL, audience_key text);
  CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, tag text NOT NULL, audience_key text);`

/** The tracked tables. */
export const tables = ["lists", "todos", "counters", "notes"] as const

/**
 * What each user may see: everyone the team's lists, todos and counters; alice and bob their
 * private notes; bob and carol the ops notes. Views are incomparable (alice / bob) and nested
 * (carol's within bob's).
 */
export const AUDIENCES: Readonly<Record<string, ReadonlyArray<string>>> = {
  alice: ["team", "private:alice"],
  bob: ["team", "ops", "private:bob"],
  carol: ["team", "ops"]
}

/** The app's rules said no; the action has no effect. */
export class Refused extends Data.TaggedError("Refused")<{ readonly reason: string }> {}

const openCount = (sql: SqlClient.SqlClient, listId: string) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM todos WHERE list_id = ${listId} AND NOT done`, ([r]) => r?.n ?? 0)

const listExists = (sql: SqlClient.SqlClient, listId: string) =>
  Effect.map(sql`SELECT 1 FROM lists WHERE id = ${listId}`, (rows) => rows.length > 0)

export const createList = Action.make({
  tag: "list.create.v1",
  args: Schema.Struct({ id: Schema.String, name: Schema.String }),
  run: ({ id, name }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if (yield* listExists(sql, id)) return yield* new Refused({ reason: `list ${id} exists` })
      yield* sql`INSERT INTO lists (id, name, audience_key) VALUES (${id}, ${name}, 'team')`
    })
})

const insertTodo = (listId: string, title: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (!(yield* listExists(sql, listId))) return yield* new Refused({ reason: `no list ${listId}` })
    if ((yield* openCount(sql, listId)) >= MAX_OPEN) return yield* new Refused({ reason: `list ${listId} is full` })
    const id = (yield* ActionIds.ActionIds).id("todo")
    yield* sql`INSERT INTO todos (id, list_id, title, audience_key) VALUES (${id}, ${listId}, ${title}, 'team')`
    return id
  })

export const createTodo = Action.make({
  tag: "todo.create.v1",
  args: Schema.Struct({ listId: Schema.String, title: Schema.String }),
  run: ({ listId, title }) => insertTodo(listId, title)
})

// A todo for the team and a note in the author's private audience: replicas of other users
// replay both inserts and must drop the note (it is outside their audiences).
export const createNotedTodo = Action.make({
  tag: "todo.create-noted.v1",
  args: Schema.Struct({ listId: Schema.String, title: Schema.String, audience: Schema.String }),
  run: ({ audience, listId, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = yield* insertTodo(listId, title)
      const noteId = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO notes (id, tag, audience_key) VALUES (${noteId}, ${"todo:" + title}, ${audience})`
      return id
    })
})

export const createNote = Action.make({
  tag: "note.create.v1",
  args: Schema.Struct({ tag: Schema.String, audience: Schema.String }),
  run: ({ audience, tag }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("note")
      yield* sql`INSERT INTO notes (id, tag, audience_key) VALUES (${id}, ${tag}, ${audience})`
    })
})

// Renames a tag on every note the running replica sees: a replica that sees notes the author
// could not renames those too (its correction adds them). One UPDATE per note, in id order
// (`retagAll` does the same in one statement).
export const retag = Action.make({
  tag: "note.retag.v1",
  args: Schema.Struct({ from: Schema.String, to: Schema.String }),
  run: ({ from, to }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const notes = yield* sql<{ id: string }>`SELECT id FROM notes WHERE tag = ${from} ORDER BY id`
      for (const { id } of notes) yield* sql`UPDATE notes SET tag = ${to} WHERE id = ${id}`
    })
})

// `retag` in one statement over many rows, and the done todos of a list cleared in one: Postgres
// visits the rows in storage order, which differs between replicas and replays; the captured
// patches are the same whatever the order (R-ACT-6).
export const retagAll = Action.make({
  tag: "note.retag-all.v1",
  args: Schema.Struct({ from: Schema.String, to: Schema.String }),
  run: ({ from, to }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE notes SET tag = ${to} WHERE tag = ${from}`)
})

export const clearDone = Action.make({
  tag: "todo.clear-done.v1",
  args: Schema.Struct({ listId: Schema.String }),
  run: ({ listId }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM todos WHERE list_id = ${listId} AND done`)
})

// A team row computed from rows only some users see: a replica that sees less than the author
// computes another tally, so the author's result stands ("author" authority).
export const tally = Action.make({
  tag: "counter.tally.v1",
  authority: "author",
  args: Schema.Struct({ tag: Schema.String }),
  run: ({ tag }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`
        INSERT INTO counters (id, value, audience_key)
        SELECT ${"tally:" + tag}, count(*)::int, 'team' FROM notes WHERE tag = ${tag}
        ON CONFLICT (id) DO UPDATE SET value = excluded.value`)
})

export const renameTodo = Action.make({
  tag: "todo.rename.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`UPDATE todos SET title = ${title} WHERE id = ${id} RETURNING id`
      if (rows.length === 0) return yield* new Refused({ reason: `no todo ${id}` })
    })
})

export const toggleTodo = Action.make({
  tag: "todo.toggle.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [todo] = yield* sql<{ done: boolean; list_id: string }>`SELECT done, list_id FROM todos WHERE id = ${id}`
      if (todo === undefined) return yield* new Refused({ reason: `no todo ${id}` })
      // Reopening counts against the list's rule.
      if (todo.done && (yield* openCount(sql, todo.list_id)) >= MAX_OPEN) {
        return yield* new Refused({ reason: `list ${todo.list_id} is full` })
      }
      yield* sql`UPDATE todos SET done = ${!todo.done} WHERE id = ${id}`
    })
})

export const deleteTodo = Action.make({
  tag: "todo.delete.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`DELETE FROM todos WHERE id = ${id} RETURNING id`
      if (rows.length === 0) return yield* new Refused({ reason: `no todo ${id}` })
    })
})

export const moveTodo = Action.make({
  tag: "todo.move.v1",
  args: Schema.Struct({ id: Schema.String, listId: Schema.String }),
  run: ({ id, listId }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [todo] = yield* sql<{ done: boolean; list_id: string }>`SELECT done, list_id FROM todos WHERE id = ${id}`
      if (todo === undefined) return yield* new Refused({ reason: `no todo ${id}` })
      if (todo.list_id === listId) return
      if (!(yield* listExists(sql, listId))) return yield* new Refused({ reason: `no list ${listId}` })
      if (!todo.done && (yield* openCount(sql, listId)) >= MAX_OPEN) {
        return yield* new Refused({ reason: `list ${listId} is full` })
      }
      yield* sql`UPDATE todos SET list_id = ${listId} WHERE id = ${id}`
    })
})

// Reads, then writes: replicas incrementing concurrently lose updates unless replay orders them.
export const increment = Action.make({
  tag: "counter.increment.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ value: number }>`SELECT value FROM counters WHERE id = ${id}`
      if (row === undefined) yield* sql`INSERT INTO counters (id, value, audience_key) VALUES (${id}, 1, 'team')`
      else yield* sql`UPDATE counters SET value = ${row.value + 1} WHERE id = ${id}`
    })
})

// Appends a new item (its id derived from the action) to a list: an action applied twice
// shows as the same item twice.
export const append = Action.make({
  tag: "list.append.v1",
  args: Schema.Struct({ listId: Schema.String }),
  run: ({ listId }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [list] = yield* sql<{ items: string }>`SELECT items::text AS items FROM lists WHERE id = ${listId}`
      if (list === undefined) return yield* new Refused({ reason: `no list ${listId}` })
      const items = JSON.parse(list.items) as Array<string>
      items.push((yield* ActionIds.ActionIds).id("item"))
      yield* sql`UPDATE lists SET items = ${JSON.stringify(items)}::jsonb WHERE id = ${listId}`
    })
})

/** Every action of the app. */
export const actions = [
  createList,
  createTodo,
  renameTodo,
  toggleTodo,
  deleteTodo,
  moveTodo,
  increment,
  append,
  createNotedTodo,
  createNote,
  retag,
  tally,
  retagAll,
  clearDone
] as const

const LIST_IDS = ["L1", "L2", "L3"]
const COUNTER_IDS = ["C1", "C2"]
const TAGS = ["red", "green", "blue"]

/**
 * Picks a replica's next action from what its database holds. `tally` (an action of "author"
 * authority) and the multi-row actions (`retagAll`, `clearDone`) are drawn only `withTally`
 * (CI's random schedules, `pnpm sim --tally`): without it the draws are those of the mix before
 * they existed, so older regression cases replay as they were found.
 */
export const generate = (context: Simulation.GenerateContext, withTally = false) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { random } = context
    const lists = (yield* sql<{ id: string }>`SELECT id FROM lists ORDER BY id`).map((r) => r.id)
    const todos = (yield* sql<{ id: string }>`SELECT id FROM todos ORDER BY id`).map((r) => r.id)
    const title = `t${random.int(1000)}`
    const roll = random.int(100)
    if (lists.length === 0 || roll < 8) {
      return { action: createList, args: { id: random.pick(LIST_IDS), name: `list by ${context.userId}` } }
    }
    if (todos.length === 0 || roll < 30) return { action: createTodo, args: { listId: random.pick(lists), title } }
    if (roll < 40) return { action: renameTodo, args: { id: random.pick(todos), title } }
    if (roll < 52) return { action: toggleTodo, args: { id: random.pick(todos) } }
    if (roll < 60) return { action: deleteTodo, args: { id: random.pick(todos) } }
    if (roll < 66) return { action: moveTodo, args: { id: random.pick(todos), listId: random.pick(lists) } }
    if (roll < 76) return { action: increment, args: { id: random.pick(COUNTER_IDS) } }
    if (roll < 82) return { action: append, args: { listId: random.pick(lists) } }
    // Private data: the user's audiences other than the team's.
    const own = (AUDIENCES[context.userId] ?? []).filter((a) => a !== "team")
    if (roll < 86 && own.length > 0) {
      return { action: createNotedTodo, args: { listId: random.pick(lists), title, audience: own[0]! } }
    }
    if (roll < 92 && own.length > 0) return { action: createNote, args: { tag: random.pick(TAGS), audience: random.pick(own) } }
    if (roll < 96 || !withTally) return { action: retag, args: { from: random.pick(TAGS), to: random.pick(TAGS) } }
    if (roll < 98) return { action: tally, args: { tag: random.pick(TAGS) } }
    if (roll < 99) return { action: retagAll, args: { from: random.pick(TAGS), to: random.pick(TAGS) } }
    return { action: clearDone, args: { listId: random.pick(lists) } }
  })

/** The app's invariants, checked on every database after quiescence. */
export const invariants = (_database: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const violations: Array<Simulation.Violation> = []
    const duplicated = yield* sql<{ id: string; item: string }>`
      SELECT l.id, i.item FROM lists l CROSS JOIN LATERAL jsonb_array_elements_text(l.items) AS i(item)
      GROUP BY l.id, i.item HAVING count(*) > 1`
    for (const row of duplicated) violations.push({ kind: "double-apply", detail: `item ${row.item} appears twice in list ${row.id}` })
    const full = yield* sql<{ list_id: string; n: number }>`
      SELECT list_id, count(*)::int AS n FROM todos WHERE NOT done GROUP BY list_id HAVING count(*) > ${MAX_OPEN}`
    for (const row of full) violations.push({ kind: "invariant", detail: `list ${row.list_id} has ${row.n} open todos (max ${MAX_OPEN})` })
    const orphans = yield* sql<{ id: string }>`SELECT t.id FROM todos t WHERE NOT EXISTS (SELECT 1 FROM lists l WHERE l.id = t.list_id)`
    for (const row of orphans) violations.push({ kind: "invariant", detail: `todo ${row.id} is in a list that does not exist` })
    return violations
  })
