/**
 * The promise facade on real PGlite, and two facades syncing through a real server over HTTP:
 * typed action functions (zod and Effect Schema args), queries and live queries, the status,
 * inspection, errors as `RepriseError`s carrying the typed tag and the original cause, and
 * development mode's double run catching a nondeterministic promise action.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll } from "vitest"
import { createReprise, type Reprise } from "../src/Reprise.js"
import { RepriseError } from "../src/index.js"
import { z } from "zod"
import { defineAction } from "../src/index.js"
import { addTodo, migrations, stampTodo, startServer, toggleTodo, tokenFor } from "./facadeWorld.js"

/** Writes a table the client tracks and the server does not: the server refuses it (UntrackedTable). */
const addNote = defineAction({
  tag: "note.add.v1",
  args: z.object({ text: z.string() }),
  run: async (tx, { text }, ctx) => {
    await tx.query("INSERT INTO notes (id, text, audience_key) VALUES ($1, $2, 'shared')", [ctx.id("note"), text])
  }
})

const actions = { addTodo, toggleTodo, stampTodo }
type App = Reprise<typeof actions>

/** Node 20 has no global WebSocket: the `ws`-backed constructor @effect/platform-node provides. */
const nodeWebSocket = Effect.runSync(Effect.provide(Socket.WebSocketConstructor, NodeSocket.layerWebSocketConstructor))

const open = (
  options: {
    readonly development?: boolean
    readonly server?: { readonly url: string; readonly userId: string; readonly webSocket?: boolean }
  } = {}
) =>
  createReprise({
    storage: "memory://",
    migrations,
    tables: ["todos"],
    actions,
    userId: options.server?.userId ?? "alice",
    development: options.development ?? false,
    ...(options.server === undefined ? {} : {
      server: options.server.webSocket === true
        ? { url: options.server.url, transport: "websocket" as const, webSocket: nodeWebSocket, getToken: () => tokenFor(options.server!.userId) }
        : {
          url: options.server.url,
          transport: "http" as const,
          pollIntervalMs: 200,
          getToken: () => tokenFor(options.server!.userId)
        }
    })
  })

const rejection = (promise: Promise<unknown>): Promise<RepriseError> =>
  promise.then(
    () => assert.fail("expected a rejection"),
    (error: unknown) => {
      assert.instanceOf(error, RepriseError)
      assert.instanceOf(error, Error)
      return error as RepriseError
    }
  )

describe("createReprise, local", () => {
  let app: App
  beforeAll(async () => {
    app = await open()
  })
  afterAll(() => app.close())

  /** Verifies: R-CLI-1, R-CLI-5, R-ACT-1 */
  it("runs typed actions, answers queries and live queries, and counts what is pending", async () => {
    const seen: Array<ReadonlyArray<{ title: string }>> = []
    const live = await app.live<{ title: string }>("SELECT title FROM todos ORDER BY title", [], (rows) => seen.push(rows))
    const statuses: Array<number> = []
    const stop = app.status.subscribe((status) => statuses.push(status.pending))

    const id = await app.actions.addTodo({ title: "  Buy milk " })
    assert.isString(id)
    await app.actions.toggleTodo({ id })
    const rows = await app.query<{ title: string; done: boolean }>("SELECT title, done FROM todos WHERE id = $1", [id])
    assert.deepStrictEqual(rows, [{ title: "Buy milk", done: true }])

    // The live query delivered the new row (PGlite's live extension, after the commit).
    for (let i = 0; i < 100 && !seen.some((r) => r.some((row) => row.title === "Buy milk")); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.isTrue(seen.some((r) => r.some((row) => row.title === "Buy milk")), "the live query saw the row")
    await live.unsubscribe()

    // Local-only: both actions wait for a server.
    const pending = await app.inspect.pending()
    assert.deepStrictEqual(pending.map((a) => a.tag), ["todo.add.v1", "todo.toggle.v1"])
    assert.deepStrictEqual(pending[0]?.args, { title: "  Buy milk " })
    for (let i = 0; i < 100 && app.status.current.pending !== 2; i++) await new Promise((r) => setTimeout(r, 10))
    assert.strictEqual(app.status.current.pending, 2)
    assert.include(statuses, 2)
    stop()
    assert.deepStrictEqual(await app.quarantine.list(), [])
  })

  /** Verifies: R-ACT-1 */
  it("rejects with RepriseErrors carrying the typed tag and the original cause", async () => {
    const invalid = await rejection(app.actions.addTodo({ title: "   " }))
    assert.strictEqual(invalid.tag, "InvalidActionArgs")
    assert.include(invalid.message, "a todo needs a title")
    assert.strictEqual((invalid.cause as { _tag: string })._tag, "InvalidActionArgs")

    const effectArgs = await rejection(app.run(toggleTodo, { id: 42 } as unknown as { id: string }))
    assert.strictEqual(effectArgs.tag, "InvalidActionArgs")

    const failed = await rejection(app.actions.toggleTodo({ id: "nope" }))
    assert.strictEqual(failed.tag, "ActionFailed")
    assert.include(failed.message, "There is no todo nope")

    const sql = await rejection(app.query("SELEC nonsense"))
    assert.strictEqual(sql.tag, "SqlError")
    const readOnly = await rejection(app.query("DELETE FROM todos"))
    assert.strictEqual(readOnly.tag, "SqlError")

    // @ts-expect-error title must be a string: the action function is typed by its schema
    const typed = await rejection(app.actions.addTodo({ title: 3 }))
    assert.strictEqual(typed.tag, "InvalidActionArgs")
  })

  /** Verifies: R-ACT-4 */
  it("in development mode, passes deterministic promise actions and catches a nondeterministic one", async () => {
    const dev = await open({ development: true })
    try {
      const id = await dev.actions.addTodo({ title: "Once" })
      assert.lengthOf(await dev.query("SELECT 1 FROM todos WHERE id = $1", [id]), 1)
      const error = await rejection(dev.actions.stampTodo({ title: "Sloppy" }))
      assert.strictEqual(error.tag, "NondeterministicAction")
      assert.include(error.message, "created_at")
      assert.lengthOf(await dev.query("SELECT 1 FROM todos WHERE title = 'Sloppy'"), 0)
    } finally {
      await dev.close()
    }
    const closed = await rejection(dev.actions.addTodo({ title: "late" }))
    assert.strictEqual(closed.tag, "Closed")
  })
})

describe("createReprise, two clients and a server (one over WebSocket, one over HTTP)", () => {
  let server: Awaited<ReturnType<typeof startServer>>
  let alice: App
  let bob: App
  beforeAll(async () => {
    server = await startServer()
    alice = await open({ server: { url: server.address.webSocketUrl, userId: "alice", webSocket: true } })
    bob = await open({ server: { url: server.address.rpcUrl, userId: "bob" } })
  })
  afterAll(async () => {
    await alice?.close()
    await bob?.close()
    await server?.dispose()
  })

  const rows = (app: App) => app.query<{ r: string }>("SELECT t::text AS r FROM todos t ORDER BY id").then((r) => r.map((x) => x.r))

  /** Verifies: R-SYNC-1, R-SYNC-2, R-ACT-3, R-CLI-1 */
  it("converge, each replaying the other's promise actions exactly", async () => {
    const fromBob = await bob.actions.addTodo({ title: "from bob" })
    await new Promise((resolve) => setTimeout(resolve, 3))
    const fromAlice = await alice.actions.addTodo({ title: "from alice" })
    await alice.actions.toggleTodo({ id: fromAlice })
    const aliceBefore = await rows(alice)
    await bob.sync()
    await alice.sync()
    await bob.sync()
    const [a, b] = [await rows(alice), await rows(bob)]
    assert.deepStrictEqual(a, b)
    assert.lengthOf(a, 2)
    // Alice's row (its id, time and random number) is what she wrote, on both replicas.
    for (const row of aliceBefore) assert.include(b, row)
    assert.isTrue(b.some((r) => r.includes(fromBob)))
    assert.deepStrictEqual(await alice.inspect.pending(), [])
    const last = await alice.inspect.lastSync()
    assert.isTrue(last?.ok)
    assert.isAtLeast(await alice.inspect.cursor(), 3)
  })

  /** Verifies: R-REC-3, R-CLI-1, R-CLI-5 */
  it("lists an action the server refused in the quarantine, its effects undone, and discards it", async () => {
    const carol = await createReprise({
      storage: "memory://",
      migrations: [...migrations, { name: "notes", sql: "CREATE TABLE notes (id text PRIMARY KEY, text text, audience_key text)" }],
      tables: ["todos", "notes"],
      actions: { addTodo, addNote },
      userId: "carol",
      server: { url: server.address.rpcUrl, transport: "http", pollIntervalMs: 200, getToken: () => tokenFor("carol") }
    })
    try {
      await carol.actions.addNote({ text: "not on the server" })
      await carol.actions.addTodo({ title: "fine" })
      await carol.sync()
      const [refused, ...others] = await carol.quarantine.list()
      assert.strictEqual(refused?.tag, "note.add.v1")
      assert.strictEqual(refused?.reason, "UntrackedTable")
      assert.lengthOf(others, 0)
      assert.lengthOf(await carol.query("SELECT 1 FROM notes"), 0, "its effects were undone")
      assert.lengthOf(await carol.query("SELECT 1 FROM todos WHERE title = 'fine'"), 1)
      assert.deepStrictEqual(await carol.inspect.pending(), [])
      for (let i = 0; i < 200 && carol.status.current.quarantined !== 1; i++) await new Promise((r) => setTimeout(r, 10))
      assert.strictEqual(carol.status.current.quarantined, 1)
      await carol.quarantine.discard(refused!.id)
      assert.deepStrictEqual(await carol.quarantine.list(), [])
      const again = await rejection(carol.quarantine.discard(refused!.id))
      assert.strictEqual(again.tag, "NotQuarantined")
    } finally {
      await carol.close()
    }
  })
})
