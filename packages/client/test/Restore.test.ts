/**
 * A client database that lost its latest writes (restored from a copy taken before an action it
 * had uploaded, as a browser can after a crash before IndexedDB was written): its next sync
 * must bring the action back from the server, with the same id, applied once. (It does: the
 * restored watermark is older than the action, and ingest takes it as received.)
 */
import { assert, it } from "@effect/vitest"
import { SyncEngine } from "@reprise/core"
import { SyncRpcServer } from "@reprise/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Client, Inspect, Storage } from "../src/index.js"
import { actions, createNote, migrations } from "./fixtures.js"
import { serverLayer, webSocketTransport } from "./server.js"

/** Verifies: R-CLI-4, R-SYNC-5 */
it.live("a database restored from before an uploaded action gets it back from the server on its next sync", () =>
  Effect.gen(function*() {
    const address = yield* Effect.map(Layer.build(serverLayer()), (context) => Context.get(context, SyncRpcServer.Address))
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-restore-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true })))
    const dir = path.join(root, "db")
    const inScope = <A, E>(effect: Effect.Effect<A, E, Client.Services>) =>
      Effect.scoped(Effect.flatMap(Layer.build(Client.layer({
        storage: Storage.directory(dir),
        migrations,
        tables: ["notes"],
        actions,
        userId: "alice",
        transport: webSocketTransport(address, "alice")
      })), (context) => Effect.provide(effect, context)))
    const sync = Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync)
    yield* inScope(Effect.zipRight(Client.run(createNote, { title: "first", team: "t" }), sync))
    fs.cpSync(dir, path.join(root, "copy"), { recursive: true })
    const second = yield* inScope(Effect.tap(Client.run(createNote, { title: "second", team: "t" }), () => sync))
    fs.rmSync(dir, { recursive: true, force: true })
    fs.cpSync(path.join(root, "copy"), dir, { recursive: true })
    const after = yield* inScope(Effect.gen(function*() {
      const report = yield* sync
      const notes = yield* Client.query<{ id: string; title: string }>("SELECT id, title FROM notes ORDER BY title")
      const inspect = yield* Inspect.Inspect
      return { report, notes, synced: yield* inspect.synced(), counts: yield* inspect.counts }
    }))
    assert.deepStrictEqual(after.notes.map((n) => n.title), ["first", "second"], JSON.stringify(after))
    assert.isTrue(after.notes.some((n) => n.id === second))
    assert.strictEqual(after.synced.length, 2)
    assert.deepStrictEqual(after.counts, { pending: 0, quarantined: 0 })
  }).pipe(Effect.scoped), 120_000)
