/**
 * The todo app's schema, shared by the clients (their migrations) and the server (the same
 * tables on Postgres, tracked and given audience policies in `server/todoServer.ts`), and the
 * demo's lists and who belongs to them.
 *
 * A list is an audience: each row carries `audience_key = 'list:<list id>'`, so a user sees a
 * list, and its todos, only when the server's membership relation puts them in that audience.
 */

/** The app's migrations: ordered steps, each applied once per database; never edit a shipped one. */
export const migrations = [
  {
    name: "001 lists",
    sql: `CREATE TABLE lists (
      id text PRIMARY KEY,
      name text NOT NULL,
      created_at timestamptz NOT NULL,
      audience_key text NOT NULL
    )`
  },
  {
    name: "002 todos",
    sql: `CREATE TABLE todos (
      id text PRIMARY KEY,
      list_id text NOT NULL,
      title text NOT NULL,
      done boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL,
      audience_key text NOT NULL
    )`
  }
] as const

/** The tables whose writes sync (their audience is the `audience_key` column). */
export const tables = ["lists", "todos"] as const

/** The rule a field merge would break: a list holds at most this many open todos. */
export const MAX_OPEN_TODOS = 5

/** The audience key of a list. */
export const audienceOf = (listId: string): string => `list:${listId}`

/** The demo's users. */
export const users = ["alice", "bob"] as const

/** A demo user. */
export type User = (typeof users)[number]

/** A list of the demo, its members and the todos Alice starts it with. */
export interface DemoList {
  readonly id: string
  readonly name: string
  readonly members: ReadonlyArray<User>
  readonly todos: ReadonlyArray<string>
}

/**
 * The demo's lists: two shared by Alice and Bob, and Alice's private one, which Bob's replica
 * never receives (the server filters the log by audience, and Postgres's row-level security
 * enforces it).
 */
export const demoLists: ReadonlyArray<DemoList> = [
  { id: "groceries", name: "Groceries", members: ["alice", "bob"], todos: ["Milk", "Bread", "Eggs"] },
  { id: "trip", name: "Weekend trip", members: ["alice", "bob"], todos: ["Book the train", "Pack the tent"] },
  { id: "alice-private", name: "Alice's private list", members: ["alice"], todos: ["Buy Bob a birthday present"] }
]
