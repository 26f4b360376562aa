/**
 * The sync loop and the status through `Client.layer` with `Transport.webSocket`, against a
 * real server on PGlite: nothing here asks for a sync except where a case says so.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { assert, layer } from "@effect/vitest"
import { SyncRpcServer } from "@reprise/server"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Client from "../src/Client.js"
import { Connection, Offline } from "../src/Connection.js"
import * as Storage from "../src/Storage.js"
import { SyncLoop } from "../src/SyncLoop.js"
import * as SyncStatus from "../src/SyncStatus.js"
import * as Transport from "../src/Transport.js"
import { addNote, notesTable, serverLayer, tokenFor } from "./syncWorld.js"

/** A client of `userId` over WebSocket to the server in context. */
const clientOf = (userId: string) =>
  Layer.unwrapEffect(Effect.map(SyncRpcServer.Address, (address) =>
    Client.layer({
      storage: Storage.memory(),
      migrations: [{ name: "notes", sql: notesTable }],
      tables: ["notes"],
      actions: [addNote],
      userId,
      transport: Transport.webSocket({
        url: address.webSocketUrl,
        getToken: () => tokenFor(userId),
        backoff: { initial: "50 millis", max: "500 millis" },
        webSocketConstructor: NodeSocket.layerWebSocketConstructor
      })
    })))

const status = Effect.map(Effect.serviceOption(SyncStatus.Status), Option.getOrThrow)
const connection = Effect.map(Effect.serviceOption(Connection), Option.getOrThrow)
const loop = Effect.map(Effect.serviceOption(SyncLoop), Option.getOrThrow)

/** Waits (at most 20 s) for a status reading that satisfies `ok`. */
const statusWhere = (ok: (s: SyncStatus.SyncStatus) => boolean, what: string) =>
  Effect.flatMap(status, (s) =>
    s.changes.pipe(
      Stream.filter(ok),
      Stream.runHead,
      Effect.map(Option.getOrThrow),
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`the status never became ${what}`) }),
      Effect.orDie
    ))

const notes = Effect.map(Client.query<{ id: string }>("SELECT id FROM notes ORDER BY id"), (rows) => rows.map((r) => r.id))

layer(serverLayer, { excludeTestServices: true, timeout: "120 seconds" })("SyncLoop and SyncStatus", (it) => {
  /** Verifies: R-CLI-1, R-CLI-4 (local actions upload by themselves; pushed pages reach the other client; the status follows) */
  it.effect("uploads after local actions and applies what the server pushes, with no sync asked for", () =>
    Effect.gen(function*() {
      const alice = yield* Layer.build(clientOf("loop-alice"))
      const bob = yield* Layer.build(clientOf("loop-bob"))
      yield* Effect.provide(statusWhere((s) => s.caughtUp, "caught up"), bob)
      for (const id of ["loop-1", "loop-2", "loop-3"]) {
        yield* Effect.provide(Client.run(addNote, { id, body: "from alice" }), alice)
      }
      const after = yield* Effect.provide(statusWhere((s) => s.caughtUp && s.pending === 0, "caught up with nothing pending"), alice)
      assert.isNotNull(after.lastSyncAt)
      assert.isNull(after.lastError)
      assert.strictEqual(after.connection, "online")
      // Bob hears of them through his subscription.
      const seen = yield* Effect.provide(
        notes.pipe(
          Effect.delay("100 millis"),
          Effect.repeat({ until: (ids) => ids.length === 3 }),
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("bob never got alice's notes") })
        ),
        bob
      )
      assert.deepStrictEqual(seen, ["loop-1", "loop-2", "loop-3"])
    }).pipe(Effect.scoped))

  /** Verifies: R-CLI-4, R-CLI-1 (the offline switch loses nothing, a typed error is kept for the status, coming back syncs by itself) */
  it.effect("switched off: actions stay pending and a sync fails with Offline; switched on: it syncs by itself", () =>
    Effect.gen(function*() {
      const carol = yield* Layer.build(clientOf("loop-carol"))
      yield* Effect.provide(Effect.gen(function*() {
        yield* statusWhere((s) => s.caughtUp, "caught up")
        yield* Effect.flatMap(connection, (c) => c.setEnabled(false))
        yield* Client.run(addNote, { id: "offline-1", body: "written offline" })
        const offline = yield* statusWhere((s) => s.connection === "offline" && s.pending === 1, "offline with one pending")
        assert.isFalse(offline.caughtUp)
        const failed = yield* Effect.exit(Effect.flatMap(loop, (l) => l.syncNow))
        assert.isTrue(Exit.isFailure(failed))
        const withError = yield* statusWhere((s) => s.lastError !== null, "failed")
        assert.strictEqual(withError.lastError?._tag, "TransportError")
        assert.instanceOf((withError.lastError as { readonly cause?: unknown }).cause, Offline)
        assert.strictEqual(withError.pending, 1)
        yield* Effect.flatMap(connection, (c) => c.setEnabled(true))
        const back = yield* statusWhere((s) => s.caughtUp && s.pending === 0, "caught up again")
        assert.isNull(back.lastError)
      }), carol)
    }).pipe(Effect.scoped))
})
