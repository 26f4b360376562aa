/**
 * The examples of docs/client.md, run as printed against a real server over WebSocket, so the
 * guide cannot drift from the API: the complete example (two clients), and the section on
 * transports, the sync loop and status (a client over `Transport.webSocket` that syncs by itself).
 * Two tests check that the guide's code is this file's: every line of its blocks (imports and
 * comments aside) appears here, in order.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionIds, RpcTransport, SyncEngine } from "@reprise/core"
import { SyncRpcServer } from "@reprise/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Client, Inspect, Storage, SyncStatus, Transport } from "../src/index.js"
import { serverLayer, tokenFor } from "./server.js"

/** A block's code lines: indentation, comments, imports and blank lines dropped. */
const codeLines = (text: string): ReadonlyArray<string> =>
  text.split("\n")
    .map((line) => line.replace(/\s+\/\/\s.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("//") && !line.startsWith("import "))

/** Verifies: R-CLI-5 */
it("docs/client.md: the example is this file's code", () => {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const guide = fs.readFileSync(path.join(here, "../../../docs/client.md"), "utf8")
  const example = /## A complete example: two clients and a server\n\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(guide)
  assert.isNotNull(example, "docs/client.md lost its example")
  const source = codeLines(fs.readFileSync(fileURLToPath(import.meta.url), "utf8"))
  let at = 0
  for (const line of codeLines(example![1]!)) {
    const found = source.findIndex((candidate, i) => i >= at && candidate.endsWith(line))
    assert.isAtLeast(found, 0, `docs/client.md's example has a line this test does not run: ${line}`)
    at = found + 1
  }
})

/** Verifies: R-CLI-1, R-CLI-4 */
it("docs/client.md: the transport and status snippets are this file's code", () => {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const guide = fs.readFileSync(path.join(here, "../../../docs/client.md"), "utf8")
  const section = /## Transports, the sync loop and status\n([\s\S]*?)(?:\n## |$(?![\s\S]))/.exec(guide)
  assert.isNotNull(section, "docs/client.md lost its section on transports")
  const blocks = [...section![1]!.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!)
  assert.strictEqual(blocks.length, 2)
  const source = codeLines(fs.readFileSync(fileURLToPath(import.meta.url), "utf8"))
  for (const block of blocks) {
    let at = 0
    for (const line of codeLines(block)) {
      const found = source.findIndex((candidate, i) => i >= at && candidate.endsWith(line))
      assert.isAtLeast(found, 0, `docs/client.md has a line this test does not run: ${line}`)
      at = found + 1
    }
  }
})

const migrations = [
  { name: "create todos", sql: "CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, audience_key text)" },
  { name: "todos.done", sql: "ALTER TABLE todos ADD COLUMN done boolean NOT NULL DEFAULT false" }
]

const addTodo = Action.make({
  tag: "todo.add.v1",
  args: Schema.Struct({ title: Schema.String, list: Schema.String }),
  run: ({ list, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const id = (yield* ActionIds.ActionIds).id("todo")
      yield* sql`INSERT INTO todos ${sql.insert({ id, title, audience_key: list })}`
      return id
    })
})

const completeTodo = Action.make({
  tag: "todo.complete.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: ({ id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE todos SET done = true WHERE id = ${id}`
    })
})

const todoClient = (userId: string, serverUrl: string, token: () => Effect.Effect<string>) =>
  Client.layer({
    storage: Storage.memory(),
    migrations,
    tables: ["todos"],
    actions: [addTodo, completeTodo],
    userId,
    development: true,
    transport: RpcTransport.layerWebSocket({ url: serverUrl, token }).pipe(
      Layer.provide(NodeSocket.layerWebSocketConstructor)
    )
  })

const sync = Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync)

const twoClients = (serverUrl: string, tokenFor: (userId: string) => Effect.Effect<string>) =>
  Effect.gen(function*() {
    const alice = yield* Layer.build(todoClient("alice", serverUrl, () => tokenFor("alice")))
    const bob = yield* Layer.build(todoClient("bob", serverUrl, () => tokenFor("bob")))

    const id = yield* Effect.provide(Client.run(addTodo, { title: "Buy milk", list: "home" }), alice)
    yield* Effect.provide(sync, alice)
    yield* Effect.provide(sync, bob)
    yield* Effect.provide(Client.run(completeTodo, { id }), bob)
    yield* Effect.provide(sync, bob)
    yield* Effect.provide(sync, alice)

    const inspect = yield* Effect.provide(Inspect.Inspect, alice)
    const log = yield* inspect.synced()
    const todos = yield* Effect.provide(Client.query("SELECT title, done FROM todos"), alice)
    return {
      todos,
      log: log.map((action) => `${action.serverSeq} ${action.tag} by ${action.userId}`),
      counts: yield* inspect.counts,
      cursor: yield* inspect.cursor
    }
  }).pipe(Effect.scoped)

/** Verifies: R-CLI-5, R-SYNC-1 */
it.live("docs/client.md: two clients sync through a real server as printed", () =>
  Effect.gen(function*() {
    const server = yield* Layer.build(serverLayer(["todos"], migrations.map((m) => m.sql)))
    const address = Context.get(server, SyncRpcServer.Address)
    const result = yield* twoClients(address.webSocketUrl, tokenFor)
    // What the example's comments say it returns.
    assert.deepStrictEqual(result, {
      todos: [{ title: "Buy milk", done: true }],
      log: ["1 todo.add.v1 by alice", "2 todo.complete.v1 by bob"],
      counts: { pending: 0, quarantined: 0 },
      cursor: 2
    })
  }).pipe(Effect.scoped), 240_000)

// serverUrl: "ws://127.0.0.1:4000/rpc/ws" for `pnpm serve`; dataDir: where this client keeps its data.
const syncingClient = (serverUrl: string, dataDir: string, auth: { currentToken: () => Promise<string> }) =>
  Client.layer({
    storage: Storage.directory(dataDir),
    migrations, tables: ["todos"], actions: [addTodo, completeTodo], userId: "alice",
    transport: Transport.webSocket({
      url: serverUrl,
      getToken: () => auth.currentToken(),           // a string, a promise or an Effect
      webSocketConstructor: NodeSocket.layerWebSocketConstructor // Node 20 only; browsers have one
    }),
    syncInterval: "30 seconds"                       // the loop's fallback, 30 s by default
  })

const watchStatus = Effect.gen(function*() {
  const status = Option.getOrThrow(yield* Effect.serviceOption(SyncStatus.Status))
  yield* Stream.runForEach(status.changes, (s) =>
    Effect.log(`${s.connection}, ${s.pending} pending${s.caughtUp ? ", up to date" : ""}`))
})

/** Verifies: R-CLI-1, R-CLI-4 */
it.live("docs/client.md: a client over Transport.webSocket syncs by itself and its status says so", () =>
  Effect.gen(function*() {
    const address = Context.get(yield* Layer.build(serverLayer(["todos"], migrations.map((m) => m.sql))), SyncRpcServer.Address)
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-docs-sync-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dataDir, { recursive: true, force: true })))
    const auth = { currentToken: () => Effect.runPromise(tokenFor("alice")) }
    const client = yield* Layer.build(syncingClient(address.webSocketUrl, dataDir, auth))
    const watching = yield* Effect.fork(Effect.provide(watchStatus, client))
    yield* Effect.provide(Client.run(addTodo, { title: "Buy milk", list: "home" }), client)
    // No sync is asked for: the loop uploads after the action, and the status reaches
    // "online, nothing pending, caught up".
    const status = Option.getOrThrow(yield* Effect.provide(Effect.serviceOption(SyncStatus.Status), client))
    const settled = yield* Stream.runHead(Stream.filter(status.changes, (s) =>
      s.connection === "online" && s.pending === 0 && s.caughtUp)).pipe(Effect.timeout("60 seconds"))
    assert.isTrue(Option.isSome(settled))
    yield* Fiber.interrupt(watching)
  }).pipe(Effect.scoped), 120_000)
