/**
 * The browser test's page: opens the client on IndexedDB (the browser default storage),
 * optionally runs an action (`?add=title`), syncs with the server over WebSocket (`?server=`,
 * `?token=`), and reports what it holds on `window.__reprise`; the client is closed before the
 * report, so IndexedDB holds everything by then.
 */
import { SyncEngine } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { Client, Inspect, Storage, Transport } from "../../src/index.js"
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
  // The documented transport: the browser's own WebSocket, reconnecting, with the sync loop.
  transport: Transport.webSocket({ url: server, getToken: () => token })
})

const titles = Effect.map(Client.query<{ title: string }>("SELECT title FROM todos ORDER BY title"), (rows) =>
  rows.map((row) => row.title))

const visit = Effect.gen(function*() {
  const client = yield* Client.Client
  const inspect = yield* Inspect.Inspect
  const before = yield* titles
  if (add !== null) yield* Client.run(addTodo, { title: add })
  // Single-flight with the client's sync loop; tried again while the socket is still connecting
  // (a TransportError whose cause is NotConnected), for up to 10 s.
  yield* Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.requestSync).pipe(
    Effect.retry({
      while: (error) => error._tag === "TransportError",
      schedule: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(100)))
    })
  )
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
