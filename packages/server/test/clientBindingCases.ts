/**
 * Client ids bound to users (R-SRV-7): the first user to upload under a client id owns it, and
 * an upload by another user under it is `UploadRejected` `WrongClient`, nothing written. The
 * cases run on any server the tests set up (PGlite without a role, Postgres under the RLS role).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import { SyncProtocol } from "@reprise/core"
import * as Effect from "effect/Effect"
import type { SyncService } from "../src/index.js"
import { failureOf, request, wire } from "./suites/helpers.js"

/** The server under test: its database (as the tests' login), the service and an app table (id, title). */
export interface BindingEnv {
  readonly sql: SqlClient.SqlClient
  readonly sync: SyncService.SyncServiceShape
  readonly table: string
}

let wall = Date.now() - 60_000
let rows = 0

/** One action of `userId` from `clientId` creating a public row of `table`. */
export const creation = (env: BindingEnv, clientId: string, userId: string) => {
  const id = `bind-${++rows}`
  return wire({
    clientId,
    userId,
    wallMs: ++wall,
    patches: [{ op: "INSERT", table: env.table, rowId: id, forward: { id, title: `by ${userId}` }, reverse: null }]
  })
}

/** Uploads `actions` as `userId` from `clientId` at the head the caller sees. */
export const uploadAs = (
  env: BindingEnv,
  userId: string,
  clientId: string,
  actions: ReadonlyArray<typeof SyncProtocol.ActionWire.Encoded>
): ReturnType<BindingEnv["sync"]["upload"]> => Effect.flatMap(env.sync.head(userId), (basis) => env.sync.upload(userId, request(clientId, basis, actions)))

/** The log, the head, the app table and the bindings, as one comparable string. */
export const holdings = (env: BindingEnv) =>
  Effect.gen(function*() {
    const [log] = yield* env.sql<{ actions: number; patches: number; head: string }>`
      SELECT (SELECT count(*) FROM reprise_server.actions)::int AS actions,
             (SELECT count(*) FROM reprise_server.patches)::int AS patches,
             (SELECT head FROM reprise_server.state)::text AS head`
    const table = yield* env.sql<{ r: string }>`SELECT t.id AS r FROM ${env.sql(env.table)} t ORDER BY t.id`
    const clients = yield* env.sql<{ r: string }>`
      SELECT c.client_id || '=' || c.user_id AS r FROM reprise_server.clients c ORDER BY c.client_id`
    return JSON.stringify({ log, table: table.map((x) => x.r), clients: clients.map((x) => x.r) })
  })

/** Expects `upload` to be refused as `WrongClient` naming `clientId`, with nothing written. */
export const refusedAsWrongClient = <E>(
  env: BindingEnv,
  clientId: string,
  upload: Effect.Effect<unknown, E>
) =>
  Effect.gen(function*() {
    const before = yield* holdings(env)
    const error = failureOf(yield* Effect.exit(upload))
    assert.instanceOf(error, SyncProtocol.UploadRejected)
    const rejected = error as SyncProtocol.UploadRejected
    assert.strictEqual(rejected.reason, "WrongClient", rejected.message)
    assert.include(rejected.detail, JSON.stringify(clientId))
    assert.include(rejected.detail, "client id of its own")
    assert.strictEqual(yield* holdings(env), before, "nothing written")
  })

/**
 * The binding's behaviour through the service: the first uploader owns the client id; another
 * user is refused (also when retrying the owner's stored actions would be its own, and after the
 * owner's later uploads), the owner keeps uploading, and each user's own clients work.
 */
export const bindingCases = (env: BindingEnv): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    const shared = `shared-${rows}-${Date.now().toString(36)}`
    const first = [creation(env, shared, "alice")]
    const accepted = yield* uploadAs(env, "alice", shared, first)
    assert.strictEqual(accepted.accepted.length, 1)

    // Bob's own actions (author = caller) under alice's client: refused, nothing written.
    yield* refusedAsWrongClient(env, shared, uploadAs(env, "bob", shared, [creation(env, shared, "bob")]))
    // Mixed with actions that would be valid on their own: the whole upload is refused.
    yield* refusedAsWrongClient(
      env,
      shared,
      uploadAs(env, "bob", shared, [creation(env, shared, "bob"), creation(env, shared, "bob")])
    )

    // The owner keeps uploading under it, and an idempotent retry still answers its sequence.
    yield* uploadAs(env, "alice", shared, [creation(env, shared, "alice")])
    const retried = yield* uploadAs(env, "alice", shared, first)
    assert.deepStrictEqual(retried.accepted, accepted.accepted)

    // Bob under a client of his own is accepted; alice under bob's is refused in turn.
    const bobs = `${shared}-bob`
    yield* uploadAs(env, "bob", bobs, [creation(env, bobs, "bob")])
    yield* refusedAsWrongClient(env, bobs, uploadAs(env, "alice", bobs, [creation(env, bobs, "alice")]))

    const [bindings] = yield* env.sql<{ owners: string }>`
      SELECT string_agg(c.client_id || '=' || c.user_id, ',' ORDER BY c.client_id) AS owners
      FROM reprise_server.clients c WHERE c.client_id IN (${shared}, ${bobs})`
    assert.strictEqual(bindings?.owners, `${shared}=alice,${bobs}=bob`)
  })
