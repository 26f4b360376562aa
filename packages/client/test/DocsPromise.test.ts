/**
 * docs/promise.md's app, run as printed: two instances of it (alice's and bob's) on in-memory
 * databases, syncing through a real server over HTTP. The first test checks that the guide's
 * code is this file's: every code line of its "The app" block (imports and comments aside)
 * appears here, in order; only `settings` (where the data lives, how to reach the server)
 * differs, as the guide says.
 */
import { assert, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"
import { z } from "zod"
import { createReprise, defineAction, RepriseError } from "../src/index.js"
import { startServer, tokenFor } from "./facadeWorld.js"

const codeLines = (text: string): ReadonlyArray<string> =>
  text.split("\n")
    .map((line) => line.replace(/\s+\/\/\s.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("//") && !line.startsWith("import "))

/** Verifies: R-CLI-1 */
it("docs/promise.md: the app is this file's code", () => {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const guide = fs.readFileSync(path.join(here, "../../../docs/promise.md"), "utf8")
  const example = /## The app\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(guide)
  assert.isNotNull(example, "docs/promise.md lost its app")
  const source = codeLines(fs.readFileSync(fileURLToPath(import.meta.url), "utf8"))
  let at = 0
  for (const line of codeLines(example![1]!)) {
    const found = source.findIndex((candidate, i) => i >= at && candidate.endsWith(line))
    assert.isAtLeast(found, 0, `docs/promise.md's app has a line this test does not run: ${line}`)
    at = found + 1
  }
})

// In the guide, `settings` is the app's own: IndexedDB and its server. Here: memory, the test server.
let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.dispose())
const settingsFor = (user: string) => ({
  userId: user,
  storage: "memory://",
  serverUrl: server.address.rpcUrl,
  transport: "http" as const,
  getToken: () => tokenFor(user)
})

const startTodoApp = async (settings: ReturnType<typeof settingsFor>) => {
  // What the guide prints goes to `shown` here.
  const shown: Array<string> = []
  const console = { log: (line: string) => shown.push(line) }

  const migrations = [
    {
      name: "001 todos",
      sql: `CREATE TABLE todos (
        id text PRIMARY KEY,
        title text NOT NULL,
        done boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        audience_key text NOT NULL)`
    }
  ]

  const addTodo = defineAction({
    tag: "todo.add.v1",
    args: z.object({ title: z.string().trim().min(1, "A todo needs a title"), list: z.string() }),
    run: async (tx, { list, title }, ctx) => {
      const id = ctx.id("todo")
      await tx.query(
        "INSERT INTO todos (id, title, created_at, audience_key) VALUES ($1, $2, $3, $4)",
        [id, title, new Date(ctx.now()).toISOString(), list]
      )
      return id
    }
  })

  const toggleTodo = defineAction({
    tag: "todo.toggle.v1",
    args: z.object({ id: z.string() }),
    run: async (tx, { id }) => {
      const [todo] = await tx.query<{ done: boolean }>("SELECT done FROM todos WHERE id = $1", [id])
      if (todo === undefined) throw new Error(`No todo ${id}`)
      await tx.query("UPDATE todos SET done = $2 WHERE id = $1", [id, !todo.done])
    }
  })

  const reprise = await createReprise({
    storage: settings.storage,
    migrations,
    tables: ["todos"],
    actions: { addTodo, toggleTodo },
    userId: settings.userId,
    server: { url: settings.serverUrl, getToken: settings.getToken, transport: settings.transport }
  })

  const render = (todos: ReadonlyArray<{ title: string; done: boolean }>) => {
    console.log(todos.map((t) => `${t.done ? "[x]" : "[ ]"} ${t.title}`).join(", "))
  }
  const todos = await reprise.live<{ title: string; done: boolean }>(
    "SELECT title, done FROM todos WHERE audience_key = $1 ORDER BY created_at, id",
    ["family"],
    render
  )
  const stopStatus = reprise.status.subscribe((status) => {
    if (status.lastError !== null) console.log(`Sync problem (${status.lastError.tag}): ${status.lastError.message}`)
  })

  const id = await reprise.actions.addTodo({ title: "Buy milk", list: "family" })
  await reprise.actions.toggleTodo({ id })

  try {
    await reprise.actions.addTodo({ title: "   ", list: "family" })
  } catch (error) {
    if (error instanceof RepriseError && error.tag === "InvalidActionArgs") console.log(error.message)
    else throw error
  }

  await reprise.sync()
  console.log(`${reprise.status.current.pending} action(s) waiting for the server`)

  return { reprise, shown, stop: async () => {
    stopStatus()
    await todos.unsubscribe()
    await reprise.close()
  } }
}

/** Verifies: R-CLI-1, R-SYNC-1, R-ACT-1 */
it("docs/promise.md: the app runs, and two of its instances sync through a server", async () => {
  const alice = await startTodoApp(settingsFor("alice"))
  const bob = await startTodoApp(settingsFor("bob"))
  try {
    await alice.reprise.sync()
    const rows = (app: typeof alice) =>
      app.reprise.query<{ title: string; done: boolean }>("SELECT title, done FROM todos ORDER BY id")
    assert.deepStrictEqual(await rows(alice), await rows(bob))
    assert.deepStrictEqual((await rows(alice)).map((r) => `${r.title} ${r.done}`), ["Buy milk true", "Buy milk true"])
    assert.isTrue(alice.shown.some((line) => line.includes("A todo needs a title")))
    assert.isTrue(alice.shown.some((line) => line.startsWith("[x] Buy milk")), alice.shown.join(" | "))
    assert.isTrue(bob.shown.some((line) => line.endsWith("waiting for the server")))
  } finally {
    await alice.stop()
    await bob.stop()
  }
})
