/**
 * A server page carrying a timestamp far in the future is refused (R-SYNC-8): the replica's
 * clock is not dragged forward and nothing of the page is ingested or acknowledged. The
 * transport here hands the engine a crafted page, as a misbehaving server or a replica with a
 * wrong clock would produce it.
 */
import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ActionExecutor, ActionRegistry, Hlc, SyncEngine, type SyncProtocol, SyncTransport } from "../src/index.js"

const page = (wallMs: number): SyncProtocol.FetchResponse => ({
  actions: [{
    id: "6f1c2a4e-8a1b-4c1d-9e2f-0a1b2c3d4e5f",
    tag: "note.create.v1",
    args: { input: { title: "from the future" }, timestamp: wallMs },
    clientId: Hlc.NodeId.make("other-client"),
    userId: "someone",
    hlc: new Hlc.Hlc({ wallMs, counter: 0, nodeId: Hlc.NodeId.make("other-client") }),
    kind: "action",
    patches: [],
    serverSeq: 1,
    fullView: true
  }],
  next: 1,
  head: 1,
  hasMore: false,
  audiences: null
})

const replica = (wallMs: number) =>
  SyncEngine.layer().pipe(
    Layer.provideMerge(ActionExecutor.layer({ userId: "me", maxDriftMs: 60_000 })),
    Layer.provide(Layer.succeed(SyncTransport.SyncTransport, {
      upload: () => Effect.die("no upload expected"),
      fetch: () => Effect.succeed(page(wallMs))
    })),
    Layer.provide(ActionRegistry.layer([])),
    Layer.provideMerge(PgliteClient.layer({}))
  )

/** Verifies: R-SYNC-8 */
it.live("refuses a fetched action stamped beyond the allowed drift, ingesting nothing", () =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    const executor = yield* ActionExecutor.ActionExecutor
    const before = yield* executor.clock
    const error = yield* Effect.flip(engine.pull)
    assert.strictEqual(error._tag, "ClockDriftError")
    assert.include(error.message, "other-client")
    assert.isTrue(Hlc.equals(yield* executor.clock, before))
    const sql = yield* SqlClient.SqlClient
    const [records] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise.action_records`
    const [state] = yield* sql<{ seq: string }>`SELECT last_server_seq::text AS seq FROM reprise.client_state`
    assert.deepStrictEqual([records?.n, state?.seq], [0, "0"])
  }).pipe(Effect.provide(replica(Date.now() + 60 * 60_000))))

it.live("accepts the same page within the allowed drift (the refusal is about the clock, not the page)", () =>
  Effect.gen(function*() {
    const engine = yield* SyncEngine.SyncEngine
    // Within the drift the page is ingested and applied; this replica does not register the
    // action's tag, so its effects are the server's (an unrunnable remote action, R-SRV-7).
    const report = yield* engine.pull
    assert.strictEqual(report.unrunnable, 1)
    const sql = yield* SqlClient.SqlClient
    const [records] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise.action_records`
    assert.strictEqual(records?.n, 1)
  }).pipe(Effect.provide(replica(Date.now() + 10_000))))
