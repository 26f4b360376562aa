/**
 * The promise facade: one `createReprise(config)` call opens the client (`Client.layer` in a
 * `ManagedRuntime`) and returns a plain promise API with no Effect in its types, for apps that
 * do not use Effect. It holds no logic of its own: each method runs the client's Effects, and
 * every failure rejects with a `RepriseError` whose `tag` names the typed error.
 *
 * Actions are called by name, `reprise.actions.createTodo({ title })`: the config's `actions`
 * record is what the app already has (its imports), the names autocomplete, each function is
 * typed with its schema's input and its result, and the call site does not repeat the action
 * (which `reprise.run(createTodo, args)`, kept for generic code such as hooks, does).
 *
 * @example
 * ```ts
 * import { createReprise, defineAction } from "@reprise/client"
 * import { z } from "zod"
 *
 * const addTodo = defineAction({
 *   tag: "todo.add.v1",
 *   args: z.object({ title: z.string().min(1) }),
 *   run: async (tx, { title }, ctx) => {
 *     await tx.query("INSERT INTO todos (id, title, audience_key) VALUES ($1, $2, 'me')", [ctx.id("todo"), title])
 *   }
 * })
 *
 * const reprise = await createReprise({
 *   storage: "idb://todos",
 *   migrations: [{ name: "todos", sql: "CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, audience_key text)" }],
 *   tables: ["todos"],
 *   actions: { addTodo },
 *   userId: "alice",
 *   server: { url: "wss://sync.example.com/rpc/ws", getToken: () => fetchToken(), transport: "websocket" }
 * })
 * await reprise.actions.addTodo({ title: "Buy milk" })
 * const stop = await reprise.live("SELECT * FROM todos ORDER BY title", [], (rows) => render(rows))
 * ```
 */
import type { PGliteWithLive } from "@electric-sql/pglite/live"
import type { Action, Quarantine, SyncEngine, Tracking } from "@reprise/core"
import * as Exit from "effect/Exit"
import * as Socket from "@effect/platform/Socket"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Client from "./Client.js"
import type * as Inspect from "./Inspect.js"
import { RepriseError } from "./internal/promiseErrors.js"
import * as Facade from "./internal/promiseFacade.js"
import type * as Migrations from "./Migrations.js"
import * as Storage from "./Storage.js"
import * as Transport from "./Transport.js"

/** How to reach the server. */
export interface ServerOptions {
  /** `ws(s)://host/rpc/ws` for `"websocket"`, `http(s)://host/rpc` for `"http"`. */
  readonly url: string
  /** Gives the signed-in user's bearer token; asked on each connection and after the server refuses one. */
  readonly getToken: () => string | Promise<string>
  /** `"websocket"` (the default: pushes arrive at once) or `"http"` (polling). */
  readonly transport?: "websocket" | "http"
  /** With `"http"`: how often to ask for new actions, in ms (5,000 by default). */
  readonly pollIntervalMs?: number
  /**
   * With `"websocket"`: how to open a socket, where the platform has no global `WebSocket`
   * (Node 20): for example `(url, protocols) => new WebSocket(url, protocols)` with the `ws` package.
   */
  readonly webSocket?: (url: string, protocols?: string | Array<string>) => globalThis.WebSocket
}

/** What `createReprise` takes. */
export interface Config<Actions extends Record<string, Action.Any>> {
  /**
   * Where the data lives: `"idb://name"` (IndexedDB, in a browser), a directory path (Node),
   * `"memory://"`, or a `Storage` value (`Storage.opfs(name)`, ...).
   */
  readonly storage: Storage.Storage | string
  /** The app's schema as ordered SQL steps, each applied once (never edit an applied one: add a step). */
  readonly migrations: ReadonlyArray<Migrations.Migration>
  /** The tables whose writes sync; the migrations create them. */
  readonly tables: ReadonlyArray<string | Tracking.TableConfig>
  /** The app's actions by name (promise and Effect actions alike): `reprise.actions.<name>(args)`. */
  readonly actions: Actions
  /**
   * Actions this app no longer calls but must still replay (older versions of a tag that other
   * devices may have recorded).
   */
  readonly replayOnly?: ReadonlyArray<Action.Any>
  /** The signed-in user. */
  readonly userId: string
  /** Omitted: a local-only client (actions stay pending until it is opened with a server). */
  readonly server?: ServerOptions
  /** Run every action twice and report nondeterminism (R-ACT-4): turn on in development and tests. */
  readonly development?: boolean
  /** How often the client syncs when nothing else triggers it, in ms (the sync loop's fallback interval). */
  readonly syncIntervalMs?: number
}

/** Any action, Effect or promise: what `actions` holds. */
export type AnyAction = Action.Any

/** A quarantined action: its id, tag, args, HLC, the server's reason and detail. */
export type QuarantinedAction = Quarantine.QuarantinedAction

/** What one sync did. */
export type SyncReport = SyncEngine.SyncReport

/** The schema input of an action: what its function takes. */
export type ArgsOf<X> = X extends Action.Action<string, infer _A, infer I, infer _Out, infer _E, infer _R> ? I : never

/** What an action returns. */
export type ResultOf<X> = X extends Action.Action<string, infer _A, infer _I, infer Out, infer _E, infer _R> ? Out : never

/** The typed action functions of an `actions` record. */
export type ActionFunctions<Actions> = {
  readonly [K in keyof Actions]: (args: ArgsOf<Actions[K]>) => Promise<ResultOf<Actions[K]>>
}

/** The sync status (R-CLI-1). */
export interface Status {
  readonly connection: "online" | "connecting" | "offline"
  /** Local actions the server does not have yet. */
  readonly pending: number
  /** Local actions the server rejected (see `quarantine`). */
  readonly quarantined: number
  /** When the last sync succeeded, epoch ms. */
  readonly lastSyncAt: number | null
  /** Nothing pending and the last sync reached the server's head. */
  readonly caughtUp: boolean
  /** The last sync's error; cleared by the next success. */
  readonly lastError: RepriseError | null
}

/** How the last sync went. */
export type LastSync =
  | { readonly ok: true; readonly at: number; readonly durationMs: number; readonly report: SyncEngine.SyncReport }
  | { readonly ok: false; readonly at: number; readonly durationMs: number; readonly error: RepriseError }

/** A live query's handle. */
export interface LiveQuery<Row> {
  /** The rows when it started. */
  readonly rows: ReadonlyArray<Row>
  /** Stops calling the callback. */
  readonly unsubscribe: () => Promise<void>
}

/** The facade. */
export interface Reprise<Actions extends Record<string, Action.Any>> {
  /** This database's client id. */
  readonly clientId: string
  readonly userId: string
  /** The app's actions: each runs in one transaction, is recorded and syncs. */
  readonly actions: ActionFunctions<Actions>
  /** Runs any registered action with its schema's input. */
  readonly run: <X extends Action.Any>(action: X, args: ArgsOf<X>) => Promise<ResultOf<X>>
  /** Read-only SQL (`$1` parameters) on the local database. */
  readonly query: <Row extends object = Record<string, unknown>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Promise<ReadonlyArray<Row>>
  /** A PGlite live query: `callback` gets the rows now and after every change that affects them. */
  readonly live: <Row extends object = Record<string, unknown>>(
    sql: string,
    params: ReadonlyArray<unknown>,
    callback: (rows: ReadonlyArray<Row>) => void
  ) => Promise<LiveQuery<Row>>
  readonly status: {
    /** The latest status (the same object until it changes). */
    readonly current: Status
    /** Calls `callback` on every change; returns the function that stops it. */
    readonly subscribe: (callback: (status: Status) => void) => () => void
  }
  /** Syncs now (or joins the sync under way) and resolves with what it did. */
  readonly sync: () => Promise<SyncEngine.SyncReport>
  /** Switches the connection off (`false`: local actions stay pending) and on again. */
  readonly setOnline: (online: boolean) => Promise<void>
  /** Actions the server rejected for permission or validity, their local effects undone (R-REC-3). */
  readonly quarantine: {
    readonly list: () => Promise<ReadonlyArray<QuarantinedAction>>
    /** Drops one for good. */
    readonly discard: (id: string) => Promise<void>
    /** Puts one back in the pending queue and applies it again locally; the next sync uploads it. */
    readonly retry: (id: string) => Promise<void>
  }
  /** The action log and sync state, for tests and devtools (R-CLI-5). */
  readonly inspect: {
    readonly pending: () => Promise<ReadonlyArray<Inspect.ActionInfo>>
    readonly synced: (options?: { readonly since?: number; readonly limit?: number }) => Promise<ReadonlyArray<Inspect.ActionInfo>>
    readonly action: (id: string) => Promise<Inspect.ActionInfo | null>
    readonly cursor: () => Promise<number>
    readonly lastSync: () => Promise<LastSync | null>
  }
  /** The PGlite instance (with live queries), for UI bindings such as `@reprise/react`. */
  readonly pglite: PGliteWithLive
  /** Stops syncing and closes the database; every call after it rejects with tag `"Closed"`. */
  readonly close: () => Promise<void>
}

/**
 * Opens the client: the database on `storage`, the migrations, tracking, the actions and, with
 * `server`, the transport and the sync loop. Rejects with a `RepriseError` (`"MigrationFailed"`,
 * `"DatabaseOpenFailed"`, ...) when it cannot.
 */
export const createReprise = async <const Actions extends Record<string, Action.Any>>(
  config: Config<Actions>
): Promise<Reprise<Actions>> => {
  const named = Object.values(config.actions)
  const runtime = ManagedRuntime.make(Client.layer({
    storage: typeof config.storage === "string" ? Storage.fromDataDir(config.storage) : config.storage,
    migrations: config.migrations,
    tables: config.tables,
    actions: [...named, ...(config.replayOnly ?? [])],
    userId: config.userId,
    ...(config.development === undefined ? {} : { development: config.development }),
    ...(config.syncIntervalMs === undefined ? {} : { syncInterval: `${config.syncIntervalMs} millis` as const }),
    ...(config.server === undefined ? {} : { transport: transportOf(config.server) })
  }))
  const opened = await runtime.runPromiseExit(Facade.open)
  if (Exit.isFailure(opened)) {
    await runtime.dispose()
    throw Facade.toRepriseError(opened.cause)
  }
  return Facade.make(runtime, opened.value, config.actions)
}

const transportOf = (server: ServerOptions): Layer.Layer<Transport.Services> => {
  const options = { url: server.url, getToken: () => Promise.resolve(server.getToken()) }
  if (server.transport === "http") {
    return Transport.http({
      ...options,
      ...(server.pollIntervalMs === undefined ? {} : { pollInterval: `${server.pollIntervalMs} millis` as const })
    })
  }
  const open = server.webSocket
  return Transport.webSocket(
    open === undefined ? options : {
      ...options,
      webSocketConstructor: Layer.succeed(Socket.WebSocketConstructor, (url, protocols) => open(url, protocols))
    }
  )
}

/** Re-exported so facade users need one import. */
export { RepriseError }
