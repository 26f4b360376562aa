// @vitest-environment happy-dom
// @vitest-environment-options {"url": "http://127.0.0.1/", "settings": {"fetch": {"disableSameOriginPolicy": true}}}
// (happy-dom's fetch applies the same-origin policy; the client's HTTP transport talks to a loopback server.)
/**
 * The React bindings in a DOM (happy-dom) over a real client (the promise facade on an
 * in-memory PGlite): a click runs an action through `useAction` and `useLiveQuery` renders the
 * new row; a failing action shows its typed error; the status hook counts pending actions; the
 * quarantine hook lists an action a real server refused and discards it.
 */
import { createReprise, defineAction, type RepriseClient } from "@reprise/client"
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react"
import * as Schema from "effect/Schema"
import { afterAll, afterEach, assert, beforeAll, describe, it } from "vitest"
// The client package's test server and app (a real SyncRpcServer on loopback).
import { migrations as serverMigrations, startServer, tokenFor } from "../../client/test/facadeWorld.js"
import { RepriseProvider, useAction, useLiveQuery, useQuarantine, useSyncStatus } from "../src/index.js"

const addTodo = defineAction({
  tag: "todo.add.v1",
  args: Schema.standardSchemaV1(Schema.Struct({ title: Schema.String.pipe(Schema.minLength(1)) })),
  run: async (tx, { title }, ctx) => {
    await tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, $2, 'me')", [ctx.id("todo"), title])
  }
})

const actions = { addTodo }
let reprise: RepriseClient<typeof actions>

beforeAll(async () => {
  reprise = await createReprise({
    storage: "memory://",
    migrations: [{ name: "todos", sql: "CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, audience_key text)" }],
    tables: ["todos"],
    actions,
    userId: "alice"
  })
})
afterEach(cleanup)
afterAll(() => reprise.close())

const Todos = () => {
  const todos = useLiveQuery<{ title: string }>("SELECT title FROM todos WHERE title LIKE $1 ORDER BY title", ["%"])
  const add = useAction(addTodo)
  const status = useSyncStatus()
  const quarantine = useQuarantine()
  return (
    <div>
      <button onClick={() => add.run({ title: "Buy milk" })}>add</button>
      <button onClick={() => add.run({ title: "" })}>add empty</button>
      <p data-testid="pending">{status.pending}</p>
      <p data-testid="running">{add.pending ? "running" : "idle"}</p>
      <p data-testid="error">{add.error === null ? "none" : add.error.tag}</p>
      <p data-testid="quarantined">{quarantine.actions === undefined ? "…" : quarantine.actions.length}</p>
      <ul>{todos === undefined ? <li>loading</li> : todos.map((t) => <li key={t.title}>{t.title}</li>)}</ul>
    </div>
  )
}

describe("@reprise/react", () => {
  /** Verifies: R-CLI-1, R-ACT-1 */
  it("a click runs an action and the live query renders the new row; the status counts it", async () => {
    render(<RepriseProvider reprise={reprise}><Todos /></RepriseProvider>)
    await waitFor(() => assert.isNull(screen.queryByText("loading")))
    assert.isNull(screen.queryByText("Buy milk"))
    assert.strictEqual(screen.getByTestId("quarantined").textContent, "0")
    await act(async () => {
      fireEvent.click(screen.getByText("add"))
    })
    await waitFor(() => assert.isNotNull(screen.queryByText("Buy milk")), { timeout: 5_000 })
    await waitFor(() => assert.strictEqual(screen.getByTestId("pending").textContent, "1"), { timeout: 5_000 })
    assert.strictEqual(screen.getByTestId("running").textContent, "idle")
    assert.strictEqual(screen.getByTestId("error").textContent, "none")
  })

  /** Verifies: R-ACT-1 */
  it("a failing action leaves its typed error in the hook's state, and nothing written", async () => {
    render(<RepriseProvider reprise={reprise}><Todos /></RepriseProvider>)
    await act(async () => {
      fireEvent.click(screen.getByText("add empty"))
    })
    await waitFor(() => assert.strictEqual(screen.getByTestId("error").textContent, "InvalidActionArgs"))
    assert.lengthOf(await reprise.query("SELECT 1 FROM todos WHERE title = ''"), 0)
  })

  /** Verifies: R-REC-3, R-CLI-1 */
  it("useQuarantine lists an action the server refused and discards it", async () => {
    // The client tracks `notes`, which the server does not: the server refuses the upload.
    const addNote = defineAction({
      tag: "note.add.v1",
      args: Schema.standardSchemaV1(Schema.Struct({ text: Schema.String })),
      run: async (tx, { text }, ctx) => {
        await tx.query("INSERT INTO notes (id, text, audience_key) VALUES ($1, $2, 'shared')", [ctx.id("note"), text])
      }
    })
    const server = await startServer()
    const client = await createReprise({
      storage: "memory://",
      migrations: [...serverMigrations, { name: "notes", sql: "CREATE TABLE notes (id text PRIMARY KEY, text text, audience_key text)" }],
      tables: ["todos", "notes"],
      actions: { addNote },
      userId: "carol",
      server: { url: server.address.rpcUrl, transport: "http", pollIntervalMs: 200, getToken: () => tokenFor("carol") }
    })
    const Refused = () => {
      const { actions, discard } = useQuarantine()
      const status = useSyncStatus()
      return (
        <div>
          <p data-testid="count">{status.quarantined}</p>
          <ul>
            {(actions ?? []).map((a) => (
              <li key={a.id}>
                {a.tag} {a.reason}
                <button onClick={() => discard(a.id)}>discard</button>
              </li>
            ))}
          </ul>
        </div>
      )
    }
    try {
      render(<RepriseProvider reprise={client}><Refused /></RepriseProvider>)
      await client.actions.addNote({ text: "refused" })
      await client.sync()
      await waitFor(() => assert.isNotNull(screen.queryByText("note.add.v1 UntrackedTable")), { timeout: 10_000 })
      await waitFor(() => assert.strictEqual(screen.getByTestId("count").textContent, "1"), { timeout: 10_000 })
      await act(async () => {
        fireEvent.click(screen.getByText("discard"))
      })
      await waitFor(() => assert.isNull(screen.queryByText("note.add.v1 UntrackedTable")), { timeout: 10_000 })
      assert.deepStrictEqual(await client.quarantine.list(), [])
    } finally {
      cleanup()
      await client.close()
      await server.dispose()
    }
  })

  /** Verifies: R-CLI-1 */
  it("hooks outside a provider say what is missing", () => {
    const Bare = () => {
      useSyncStatus()
      return null
    }
    const original = console.error
    console.error = () => undefined
    try {
      assert.throws(() => render(<Bare />), /RepriseProvider/)
    } finally {
      console.error = original
    }
  })
})
