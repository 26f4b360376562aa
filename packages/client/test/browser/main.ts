/**
 * The browser test's page: opens the client on IndexedDB (the browser default storage),
 * optionally runs an action (`?add=title`), syncs with the server over WebSocket (`?server=`,
 * `?token=`), and reports what it holds on `window.__reprise`; the client is closed before the
 * report, so IndexedDB holds everything by then.
 */
import * as Socket from "@effect/platform/Socket"
import { RpcTransport, SyncEngine } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Client, Inspect, Storage } from "../../src/index.js"
import { addTodo, migrations, type PageResult } from "./app.js"

declare global {
  interface Window {
    __reprise?: PageResult | { readonly error: string }
  }
}

const params = new URLSearchParams(location.search)
const server = params.get("server") ?? ""
const token = params.get("token") ?? ""
const add = params.get("add")

const ClientLive = Client.layer({
  storage: Storage.indexedDb("reprise-browser-test"),
  migrations,
  tables: ["todos"],
  actions: [addTodo],
  userId: "browser-user",
  transport: RpcTransport.layerWebSocket({ url: server, token: () => Effect.succeed(token) }).pipe(
    Layer.provide(Socket.layerWebSocketConstructorGlobal)
  )
})

const titles = Effect.map(Client.query<{ title: string }>("SELECT title FROM todos ORDER BY title"), (rows) =>
  rows.map((row) => row.title))

const visit = Effect.gen(function*() {
  const client = yield* Client.Client
  const inspect = yield* Inspect.Inspect
  const before = yield* titles
  if (add !== null) yield* Client.run(addTodo, { title: add })
  yield* Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync)
  const result: PageResult = {
    clientId: client.clientId,
    storage: client.storage._tag,
    before,
    after: yield* titles,
    pending: (yield* inspect.counts).pending,
    cursor: yield* inspect.cursor
  }
  return result
})

Effect.runPromise(Effect.scoped(Effect.flatMap(Layer.build(ClientLive), (context) => Effect.provide(visit, context)))).then(
  (result) => {
    window.__reprise = result
  },
  (error: unknown) => {
    window.__reprise = { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
  }
)
