/**
 * The promise facade's body: the client's services gathered once, and each method as the
 * Effect it runs on the facade's `ManagedRuntime`, its failure turned into a `RepriseError`.
 *
 * @internal
 */
import type { Action } from "@reprise/core"
import { Quarantine, SyncEngine } from "@reprise/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Client from "../Client.js"
import * as Connection from "../Connection.js"
import * as Inspect from "../Inspect.js"
import type * as Reprise from "../Reprise.js"
import * as SyncLoop from "../SyncLoop.js"
import * as SyncStatus from "../SyncStatus.js"
import { RepriseError } from "./promiseErrors.js"

type Runtime = ManagedRuntime.ManagedRuntime<Client.Services, unknown>

/** How long a local-only client waits after a change before reading its counts again. */
const STATUS_DELAY_MS = 16

/** The client's services the facade uses; the loop, status and connection exist only with a server. */
export interface Opened {
  readonly client: Client.ClientShape
  readonly inspect: Inspect.InspectShape
  readonly quarantine: Quarantine.QuarantineShape
  readonly engine: SyncEngine.SyncEngineShape
  readonly loop: Option.Option<SyncLoop.SyncLoopShape>
  readonly status: Option.Option<SyncStatus.StatusShape>
  readonly connection: Option.Option<Connection.ConnectionShape>
}

/** Gathers the services (building the runtime's layer: opening the database and the rest). */
export const open: Effect.Effect<Opened, never, Client.Services> = Effect.gen(function*() {
  const quarantine = yield* Effect.serviceOption(Quarantine.Quarantine)
  return {
    client: yield* Client.Client,
    inspect: yield* Inspect.Inspect,
    quarantine: Option.isSome(quarantine) ? quarantine.value : yield* Quarantine.make,
    engine: yield* SyncEngine.SyncEngine,
    loop: yield* Effect.serviceOption(SyncLoop.SyncLoop),
    status: yield* Effect.serviceOption(SyncStatus.Status),
    connection: yield* Effect.serviceOption(Connection.Connection)
  }
})

/** A failed Effect's cause as the one error a facade user gets. */
export const toRepriseError = (cause: Cause.Cause<unknown>): RepriseError =>
  Cause.isInterruptedOnly(cause)
    ? new RepriseError({ tag: "Closed", message: "The client was closed while this call ran.", cause })
    : RepriseError.from(Option.getOrElse(Cause.failureOption(cause), () => Cause.squash(cause)))

/** Builds the facade over the runtime and its services. */
export const make = <Actions extends Record<string, Action.Any>>(
  runtime: Runtime,
  opened: Opened,
  actions: Actions
): Reprise.Reprise<Actions> => {
  let closed = false
  const closedError = () =>
    new RepriseError({ tag: "Closed", message: "This Reprise client is closed (close() was called): open a new one." })

  const call = async <A, E>(effect: Effect.Effect<A, E, Client.Services>): Promise<A> => {
    if (closed) throw closedError()
    const exit = await runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw closed ? closedError() : toRepriseError(exit.cause)
  }

  // The status: the client's own stream when it has a sync loop; else (local-only) the counts,
  // read again after each call that can change them.
  let current: Reprise.Status = {
    connection: "offline",
    pending: 0,
    quarantined: 0,
    lastSyncAt: null,
    caughtUp: false,
    lastError: null
  }
  const listeners = new Set<(status: Reprise.Status) => void>()
  const publish = (next: Reprise.Status) => {
    if (sameStatus(current, next)) return
    current = next
    for (const listener of listeners) listener(next)
  }
  let watcher: Fiber.RuntimeFiber<void, unknown> | undefined
  // Local-only counts are read again a frame after the calls that change them, once for a
  // burst of calls: reading them right after each action would queue a query on PGlite's one
  // session ahead of the live queries refreshing the UI.
  let dirty = false
  let reading: Promise<void> | undefined
  const readCounts = async () => {
    while (dirty && !closed) {
      dirty = false
      const exit = await runtime.runPromiseExit(opened.inspect.counts)
      if (Exit.isSuccess(exit)) publish({ ...current, pending: exit.value.pending, quarantined: exit.value.quarantined })
    }
    reading = undefined
  }
  const refreshCounts = () => {
    if (Option.isSome(opened.status) || closed) return
    dirty = true
    reading ??= new Promise<void>((resolve) => setTimeout(resolve, STATUS_DELAY_MS)).then(readCounts)
  }
  const ready = Option.match(opened.status, {
    onNone: async () => {
      dirty = true
      await readCounts()
      // Without the client's status stream, the connection's own state still shows.
      if (Option.isSome(opened.connection)) {
        watcher = runtime.runFork(Stream.runForEach(opened.connection.value.changes, (connection) =>
          Effect.sync(() => publish({ ...current, connection }))))
      }
    },
    onSome: async (status) => {
      publish(fromStatus(await runtime.runPromise(status.current)))
      watcher = runtime.runFork(Stream.runForEach(status.changes, (s) => Effect.sync(() => publish(fromStatus(s)))))
    }
  })

  const runAction = async (action: Action.Any, args: unknown): Promise<never> => {
    try {
      return await call(opened.client.runTag(action.tag, args)) as never
    } finally {
      refreshCounts()
    }
  }

  // One function per action, typed by the record it was built from.
  const functions = Object.fromEntries(
    Object.entries(actions).map(([name, action]) => [name, (args: unknown) => runAction(action, args)])
  ) as unknown as Reprise.ActionFunctions<Actions>

  // A sync asked for while the connection is being made waits for that attempt's outcome.
  const settled = Option.match(opened.connection, {
    onNone: () => Effect.void,
    onSome: (connection) =>
      Effect.asVoid(Stream.runHead(Stream.filter(connection.changes, (state) => state !== "connecting")))
  })
  const sync = () =>
    call(Effect.zipRight(
      settled,
      Option.match(opened.loop, {
        onNone: () => opened.engine.sync,
        onSome: (loop) => loop.syncNow
      })
    )).finally(() => refreshCounts())

  const facade: Reprise.Reprise<Actions> = {
    clientId: opened.client.clientId,
    userId: opened.client.userId,
    actions: functions,
    run: (action, args) => runAction(action, args),
    query: (sql, params) => call(opened.client.query(sql, params)),
    live: async <Row extends object>(
      sql: string,
      params: ReadonlyArray<unknown>,
      callback: (rows: ReadonlyArray<Row>) => void
    ): Promise<Reprise.LiveQuery<Row>> => {
      if (closed) throw closedError()
      try {
        const live = await opened.client.pglite.live.query<Row>(sql, [...params], (results) => callback(results.rows))
        return { rows: live.initialResults.rows, unsubscribe: () => live.unsubscribe() }
      } catch (error) {
        throw new RepriseError({ tag: "SqlError", message: `Live query failed: ${messageOf(error)}`, cause: error })
      }
    },
    status: {
      get current() {
        return current
      },
      subscribe: (callback) => {
        listeners.add(callback)
        return () => void listeners.delete(callback)
      }
    },
    sync,
    setOnline: (online) =>
      Option.match(opened.connection, {
        onNone: () =>
          Promise.reject(
            new RepriseError({ tag: "NoServer", message: "This client has no server (createReprise without server)." })
          ),
        onSome: (connection) => call(connection.setEnabled(online))
      }),
    quarantine: {
      list: () => call(opened.quarantine.list),
      discard: (id) => call(opened.quarantine.discard(id)).finally(() => refreshCounts()),
      retry: (id) =>
        call(Effect.zipRight(
          opened.quarantine.retry(id),
          Option.match(opened.loop, { onNone: () => Effect.void, onSome: (loop) => loop.nudge })
        )).finally(() => refreshCounts())
    },
    inspect: {
      pending: () => call(opened.inspect.pending),
      synced: (options) => call(opened.inspect.synced(options)),
      action: (id) => call(Effect.map(opened.inspect.action(id), Option.getOrNull)),
      cursor: () => call(opened.inspect.cursor),
      lastSync: () =>
        call(Effect.map(opened.inspect.lastSync, (last) =>
          Option.match(last, {
            onNone: () => null,
            onSome: (l): Reprise.LastSync =>
              l._tag === "Success"
                ? { ok: true, at: l.at, durationMs: l.durationMs, report: l.report }
                : { ok: false, at: l.at, durationMs: l.durationMs, error: RepriseError.from(l.error) }
          })))
    },
    pglite: opened.client.pglite,
    close: async () => {
      if (closed) return
      await ready.catch(() => undefined)
      closed = true
      await reading
      listeners.clear()
      if (watcher !== undefined) await runtime.runPromise(Fiber.interrupt(watcher))
      await runtime.dispose()
    }
  }
  return facade
}

const fromStatus = (status: SyncStatus.SyncStatus): Reprise.Status => ({
  connection: status.connection,
  pending: status.pending,
  quarantined: status.quarantined,
  lastSyncAt: status.lastSyncAt,
  caughtUp: status.caughtUp,
  lastError: status.lastError === null ? null : RepriseError.from(status.lastError)
})

const sameStatus = (a: Reprise.Status, b: Reprise.Status): boolean =>
  a.connection === b.connection && a.pending === b.pending && a.quarantined === b.quarantined &&
  a.lastSyncAt === b.lastSyncAt && a.caughtUp === b.caughtUp && a.lastError?.cause === b.lastError?.cause

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))
