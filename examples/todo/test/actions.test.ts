/**
 * The todo app's rules, on a real PGlite client (in memory, local only, development mode so each
 * action runs twice and must write the same rows): a list holds at most 5 open todos (an add or
 * a reopen beyond that does nothing), completing a deleted todo does nothing, and a list's rows
 * carry its audience.
 */
import { createReprise } from "@reprise/client"
import { afterAll, assert, beforeAll, it } from "vitest"
import { actions } from "../src/actions.js"
import { MAX_OPEN_TODOS, migrations, tables } from "../src/schema.js"

const open = () => createReprise({ storage: "memory://", migrations, tables, actions, userId: "alice", development: true })

let reprise: Awaited<ReturnType<typeof open>>

beforeAll(async () => {
  reprise = await open()
  await reprise.actions.createList({ id: "groceries", name: "Groceries" })
}, 60_000)

afterAll(async () => {
  await reprise?.close()
})

const openTitles = async () =>
  (await reprise.query<{ title: string }>(
    "SELECT title FROM todos WHERE list_id = 'groceries' AND NOT done ORDER BY created_at, id"
  )).map((row) => row.title)

/** Verifies: R-ACT-1, R-CLI-2 */
it("a list holds at most 5 open todos: the sixth add and a reopen beyond 5 do nothing", async () => {
  const ids: Array<string> = []
  for (const title of ["a", "b", "c", "d", "e"]) {
    const result = await reprise.actions.addTodo({ listId: "groceries", title })
    assert.isTrue(result.added)
    if (result.added) ids.push(result.id)
  }
  assert.deepStrictEqual(await reprise.actions.addTodo({ listId: "groceries", title: "f" }), { added: false, reason: "full" })
  assert.strictEqual((await openTitles()).length, MAX_OPEN_TODOS)

  // Completing one frees a place; a new todo takes it; reopening the done one is then refused.
  assert.deepStrictEqual(await reprise.actions.completeTodo({ id: ids[0]! }), { completed: true })
  assert.isTrue((await reprise.actions.addTodo({ listId: "groceries", title: "g" })).added)
  assert.deepStrictEqual(await reprise.actions.reopenTodo({ id: ids[0]! }), { reopened: false })
  assert.deepStrictEqual(await openTitles(), ["b", "c", "d", "e", "g"])

  // A deleted todo stays deleted when completed; nothing else changes.
  await reprise.actions.deleteTodo({ id: ids[1]! })
  assert.deepStrictEqual(await reprise.actions.completeTodo({ id: ids[1]! }), { completed: false })
  assert.deepStrictEqual(await reprise.query("SELECT id FROM todos WHERE id = $1", [ids[1]]), [])
  assert.deepStrictEqual(await openTitles(), ["c", "d", "e", "g"])

  const audiences = await reprise.query<{ audience_key: string }>("SELECT DISTINCT audience_key FROM todos")
  assert.deepStrictEqual(audiences, [{ audience_key: "list:groceries" }])
}, 60_000)

/** Verifies: R-CLI-2 */
it("a blank title is refused with InvalidActionArgs, nothing written", async () => {
  const before = await reprise.query("SELECT id FROM todos")
  const error = await reprise.actions.addTodo({ listId: "groceries", title: "   " }).then(() => undefined, (cause: unknown) => cause)
  assert.strictEqual((error as { tag?: string } | undefined)?.tag, "InvalidActionArgs")
  assert.deepStrictEqual(await reprise.query("SELECT id FROM todos"), before)
}, 60_000)
