// @vitest-environment happy-dom
/**
 * docs/react.md's components, run as printed in a DOM (happy-dom) over a real client (the
 * promise facade on an in-memory PGlite). The first test checks that the guide's code is this
 * file's: every code line of its "The components" block (imports and comments aside) appears
 * here, in order.
 */
import { createReprise, defineAction, type RepriseClient } from "@reprise/client"
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { useState } from "react"
import { afterAll, afterEach, assert, beforeAll, it } from "vitest"
import { RepriseProvider, useAction, useLiveQuery, useQuarantine, useSyncStatus } from "../src/index.js"

const codeLines = (text: string): ReadonlyArray<string> =>
  text.split("\n")
    .map((line) => line.replace(/\s+\/\/\s.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("//") && !line.startsWith("import "))

/** Verifies: R-CLI-1 */
it("docs/react.md: the components are this file's code", () => {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const guide = fs.readFileSync(path.join(here, "../../../docs/react.md"), "utf8")
  const example = /## The components\n[\s\S]*?```tsx\n([\s\S]*?)```/.exec(guide)
  assert.isNotNull(example, "docs/react.md lost its components")
  const source = codeLines(fs.readFileSync(fileURLToPath(import.meta.url), "utf8"))
  let at = 0
  for (const line of codeLines(example![1]!)) {
    const found = source.findIndex((candidate, i) => i >= at && candidate.endsWith(line))
    assert.isAtLeast(found, 0, `docs/react.md's components have a line this test does not run: ${line}`)
    at = found + 1
  }
})

// The app's actions and client, as in docs/promise.md (Effect Schema args here: this package's
// tests have no zod; any Standard Schema works the same).
const addTodo = defineAction({
  tag: "todo.add.v1",
  args: Schema.standardSchemaV1(Schema.Struct({
    title: Schema.Trim.pipe(Schema.minLength(1, { message: () => "A todo needs a title" })),
    list: Schema.String
  })),
  run: async (tx, { list, title }, ctx) => {
    await tx.query("INSERT INTO todos (id, title, created_at, audience_key) VALUES ($1, $2, $3, $4)", [
      ctx.id("todo"),
      title,
      new Date(ctx.now()).toISOString(),
      list
    ])
  }
})
const toggleTodo = defineAction({
  tag: "todo.toggle.v1",
  args: Schema.standardSchemaV1(Schema.Struct({ id: Schema.String })),
  run: async (tx, { id }) => {
    await tx.query("UPDATE todos SET done = NOT done WHERE id = $1", [id])
  }
})
const actions = { addTodo, toggleTodo }
let reprise: RepriseClient<typeof actions>
beforeAll(async () => {
  reprise = await createReprise({
    storage: "memory://",
    migrations: [{
      name: "001 todos",
      sql: `CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL, audience_key text NOT NULL)`
    }],
    tables: ["todos"],
    actions,
    userId: "alice"
  })
})
afterEach(cleanup)
afterAll(() => reprise.close())

const TodoList = ({ list }: { list: string }) => {
  const todos = useLiveQuery<{ id: string; title: string; done: boolean }>(
    "SELECT id, title, done FROM todos WHERE audience_key = $1 ORDER BY created_at, id",
    [list]
  )
  const toggle = useAction(toggleTodo)
  if (todos === undefined) return <p>Loading…</p>
  return (
    <ul>
      {todos.map((todo) => (
        <li key={todo.id} onClick={() => toggle.run({ id: todo.id })}>
          {todo.done ? "✓ " : ""}
          {todo.title}
        </li>
      ))}
    </ul>
  )
}

const NewTodo = ({ list }: { list: string }) => {
  const [title, setTitle] = useState("")
  const add = useAction(addTodo)
  return (
    <form
      onSubmit={async (event) => {
        event.preventDefault()
        await add.run({ title, list })
        setTitle("")
      }}
    >
      <input value={title} onChange={(event) => setTitle(event.target.value)} placeholder="New todo" />
      <button disabled={add.pending}>Add</button>
      {add.error !== null && <p role="alert">{add.error.message}</p>}
    </form>
  )
}

const SyncBadge = () => {
  const status = useSyncStatus()
  return <span title="sync">{status.connection}{status.pending > 0 ? ` · ${status.pending} to sync` : ""}</span>
}

const Rejected = () => {
  const { actions, discard, retry } = useQuarantine()
  if (actions === undefined || actions.length === 0) return null
  return (
    <ul>
      {actions.map((action) => (
        <li key={action.id}>
          {action.tag} was refused: {action.detail}
          <button onClick={() => retry(action.id)}>Retry</button>
          <button onClick={() => discard(action.id)}>Discard</button>
        </li>
      ))}
    </ul>
  )
}

const App = () => (
  <RepriseProvider reprise={reprise}>
    <SyncBadge />
    <NewTodo list="family" />
    <TodoList list="family" />
    <Rejected />
  </RepriseProvider>
)

/** Verifies: R-CLI-1, R-ACT-1 */
it("docs/react.md: the components render, add and toggle todos, and show errors and the status", async () => {
  render(<App />)
  await waitFor(() => assert.isNull(screen.queryByText("Loading…")))
  const input = screen.getByPlaceholderText("New todo")
  await act(async () => {
    fireEvent.change(input, { target: { value: "Buy milk" } })
  })
  await act(async () => {
    fireEvent.submit(input.closest("form")!)
  })
  await waitFor(() => assert.isNotNull(screen.queryByText("Buy milk")), { timeout: 5_000 })
  await act(async () => {
    fireEvent.click(screen.getByText("Buy milk"))
  })
  await waitFor(() => assert.strictEqual(screen.getAllByRole("listitem")[0]?.textContent, "✓ Buy milk"), { timeout: 5_000 })
  await waitFor(() => assert.strictEqual(screen.getByTitle("sync").textContent, "offline · 2 to sync"), { timeout: 5_000 })

  await act(async () => {
    fireEvent.change(input, { target: { value: "   " } })
  })
  await act(async () => {
    fireEvent.submit(input.closest("form")!)
  })
  await waitFor(() => assert.include(screen.getByRole("alert").textContent, "A todo needs a title"))
  assert.lengthOf(screen.getAllByRole("listitem"), 1)
})
