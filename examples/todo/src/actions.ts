/**
 * The todo app's actions: the only way it writes. Each runs in one transaction on the local
 * database, is recorded with the rows it changed, syncs, and is run again (replayed) on the other
 * replicas and after a rollback, in one global order. So the app's rules live here, in plain
 * code, and hold after every merge:
 *
 * - a list holds at most `MAX_OPEN_TODOS` open todos: `addTodo` counts inside its transaction
 *   and adds nothing when the list is full (`reopenTodo` too), so two offline adds to a list
 *   with one free place end with one of them added, never six open todos;
 * - completing a todo that was deleted does nothing (`completeTodo` updates the row only if it
 *   is still there), where a field merge would bring the deleted row back, half-written.
 *
 * Args are Effect Schemas; the promise facade accepts any Standard Schema.
 */
import { defineAction, type PromiseAction } from "@reprise/client"
import * as Schema from "effect/Schema"
import { audienceOf, MAX_OPEN_TODOS } from "./schema.js"

const Title = Schema.Trim.pipe(Schema.minLength(1, { message: () => "A todo needs a title" }), Schema.maxLength(200))

/** Creates a list (its id is its audience, `list:<id>`); nothing when it exists already. */
export const createList = defineAction({
  tag: "list.create.v1",
  args: Schema.Struct({ id: Schema.String.pipe(Schema.pattern(/^[a-z0-9-]{1,40}$/)), name: Title }),
  run: async (tx, { id, name }, ctx) => {
    await tx.query(
      "INSERT INTO lists (id, name, created_at, audience_key) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
      [id, name, new Date(ctx.now()).toISOString(), audienceOf(id)]
    )
  }
})

/** What `addTodo` did. */
export type AddResult = { readonly added: true; readonly id: string } | { readonly added: false; readonly reason: "full" }

const openCount = async (tx: PromiseAction.Transaction, listId: string): Promise<number> => {
  const [row] = await tx.query<{ open: number }>(
    "SELECT count(*)::int AS open FROM todos WHERE list_id = $1 AND NOT done",
    [listId]
  )
  return row?.open ?? 0
}

/** Adds a todo to a list, unless the list already holds `MAX_OPEN_TODOS` open todos. */
export const addTodo = defineAction({
  tag: "todo.add.v1",
  args: Schema.Struct({ listId: Schema.String, title: Title }),
  run: async (tx, { listId, title }, ctx): Promise<AddResult> => {
    if (await openCount(tx, listId) >= MAX_OPEN_TODOS) return { added: false, reason: "full" }
    const id = ctx.id("todo")
    await tx.query(
      "INSERT INTO todos (id, list_id, title, done, created_at, audience_key) VALUES ($1, $2, $3, false, $4, $5)",
      [id, listId, title, new Date(ctx.now()).toISOString(), audienceOf(listId)]
    )
    return { added: true, id }
  }
})

/** Marks a todo done; a todo that is gone (deleted meanwhile) stays gone. */
export const completeTodo = defineAction({
  tag: "todo.complete.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: async (tx, { id }) => {
    const rows = await tx.query<{ id: string }>("UPDATE todos SET done = true WHERE id = $1 AND NOT done RETURNING id", [id])
    return { completed: rows.length === 1 }
  }
})

/** Opens a done todo again, unless its list is full. */
export const reopenTodo = defineAction({
  tag: "todo.reopen.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: async (tx, { id }) => {
    const [todo] = await tx.query<{ list_id: string; done: boolean }>("SELECT list_id, done FROM todos WHERE id = $1", [id])
    if (todo === undefined || !todo.done) return { reopened: false }
    if (await openCount(tx, todo.list_id) >= MAX_OPEN_TODOS) return { reopened: false }
    await tx.query("UPDATE todos SET done = false WHERE id = $1", [id])
    return { reopened: true }
  }
})

/** Deletes a todo (nothing when it is gone already). */
export const deleteTodo = defineAction({
  tag: "todo.delete.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: async (tx, { id }) => {
    await tx.query("DELETE FROM todos WHERE id = $1", [id])
  }
})

/** Every action of the app, by name: what `createReprise` registers. */
export const actions = { createList, addTodo, completeTodo, reopenTodo, deleteTodo }
