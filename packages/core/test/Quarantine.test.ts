/**
 * The quarantine end to end (R-REC-3), on PGlite with the in-process server (filtering by
 * audience, so the replicas replay as private-data replicas): a replica's action the server
 * rejects (it writes a table the server's database does not track: UntrackedTable; or a note in
 * an audience its author is not in: Forbidden) leaves the pending queue for the quarantine with
 * its reason, its local effects are undone (a later action that read them replays without
 * them), the replica's other pending actions still upload in the same sync, remote apply goes on
 * while it sits there, and the replica converges with the server and another replica. List,
 * count, discard and retry work; a retry once the cause is fixed uploads it at its place. An
 * action the server's log delivers after all leaves the quarantine; a rejection about the client
 * (WrongAuthor) quarantines nothing.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { InProcessTransport, SyncService } from "../../server/src/index.js"
import {
  Action,
  ActionExecutor,
  ActionRegistry,
  Quarantine,
  SyncEngine,
  type SyncProtocol,
  SyncSchema,
  SyncTransport,
  Tracking
} from "../src/index.js"

const putNote = Action.make({
  tag: "note.put.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String }),
  run: ({ id, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO notes (id, title) VALUES (${id}, ${title})`
    })
})

const putSecret = Action.make({
  tag: "secret.put.v1",
  args: Schema.Struct({ id: Schema.String, body: Schema.String }),
  run: ({ body, id }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO secrets (id, body) VALUES (${id}, ${body})`
    })
})

/** A note whose title is a secret's body, as this replica sees it when the action runs. */
const noteFromSecret = Action.make({
  tag: "note.fromSecret.v1",
  args: Schema.Struct({ id: Schema.String, secret: Schema.String }),
  run: ({ id, secret }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [found] = yield* sql<{ body: string }>`SELECT body FROM secrets WHERE id = ${secret}`
      yield* sql`INSERT INTO notes (id, title) VALUES (${id}, ${found?.body ?? "no secret"})`
    })
})

/** A note in an audience (private data, R-SRV-3): only its members may write it. */
const putInAudience = Action.make({
  tag: "note.putIn.v1",
  args: Schema.Struct({ id: Schema.String, title: Schema.String, audience: Schema.String }),
  run: ({ audience, id, title }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO notes (id, title, audience_key) VALUES (${id}, ${title}, ${audience})`
    })
})

const actions = [putNote, putSecret, noteFromSecret, putInAudience]

/** The audiences each user is in; alice joins "ops" during the tests. */
const members: Record<string, Set<string>> = { alice: new Set(), bob: new Set() }
const NOTES = "CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, title text NOT NULL, audience_key text)"
const SECRETS = "CREATE TABLE IF NOT EXISTS secrets (id text PRIMARY KEY, body text NOT NULL, audience_key text)"

type Server = ManagedRuntime.ManagedRuntime<SyncService.SyncService | SqlClient.SqlClient, unknown>
type Replica = ManagedRuntime.ManagedRuntime<
  SyncEngine.SyncEngine | Quarantine.Quarantine | ActionExecutor.ActionExecutor | SqlClient.SqlClient,
  unknown
>

/**
 * The server's database has the notes only: an upload writing secrets is UntrackedTable. It
 * filters by audience (`members`): a note in an audience its writer is not in is Forbidden.
 */
const startServer = async (): Promise<Server> => {
  const audiences = (userId: string) => Effect.sync(() => [...(members[userId] ?? [])])
  const runtime = ManagedRuntime.make(Layer.provideMerge(SyncService.layer({ audiences }), PgliteClient.layer({})))
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(NOTES)
    yield* Tracking.install(["notes"])
  }))
  return runtime
}

/** Every upload request each user's replica sent, in order (the transport passes them on unchanged). */
const sent: Record<string, Array<SyncProtocol.UploadRequest>> = {}

/** A replica of `userId` on a fresh PGlite; its transport is signed in as `signedIn` (the same user by default). */
const startReplica = async (server: Server, userId: string, signedIn = userId): Promise<Replica> => {
  const served = await server.runPromise(Effect.context<SyncService.SyncService>())
  const base = Layer.merge(PgliteClient.layer({}), ActionRegistry.layer(actions))
  const executor = Layer.provideMerge(ActionExecutor.layer({ userId }), base)
  const requests: Array<SyncProtocol.UploadRequest> = []
  sent[userId] = requests
  const transport = Layer.effect(
    SyncTransport.SyncTransport,
    Effect.map(InProcessTransport.make(signedIn), (inner): SyncTransport.SyncTransportShape => ({
      fetch: inner.fetch,
      upload: (request) => Effect.suspend(() => {
        requests.push(request)
        return inner.upload(request)
      })
    }))
  ).pipe(Layer.provide(Layer.succeedContext(served)))
  const runtime = ManagedRuntime.make(
    Layer.provideMerge(
      Layer.merge(SyncEngine.layer({ maxUploadAttempts: 3 }), Quarantine.layer),
      Layer.merge(executor, transport)
    )
  )
  await runtime.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`${NOTES}; ${SECRETS}`)
    yield* SyncSchema.install()
    yield* Tracking.install(["notes", "secrets"])
  }))
  return runtime
}

const exec = <A, I, E>(replica: Replica, action: Action.Action<string, A, I, void, E, SqlClient.SqlClient>, args: A) =>
  replica.runPromise(ActionExecutor.execute(action, args))

const sync = (replica: Replica) => replica.runPromise(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))

const quarantine = <A, E>(replica: Replica, f: (q: Quarantine.QuarantineShape) => Effect.Effect<A, E>) =>
  replica.runPromise(Effect.flatMap(Quarantine.Quarantine, f))

/** A table's rows as Postgres renders them, by id (equal text, equal rows). */
const rows = (runtime: Server | Replica, table: string) =>
  runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql<{ r: string }>`SELECT t::text AS r FROM ${sql(table)} t ORDER BY id`, (rs) => rs.map((x) => x.r))))

/** The replica's pending records (not synced), in order: their ids, or with `kinds` "kind id". */
const pending = (replica: Replica, kinds = false) =>
  replica.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ id: string; kind: string }>`
        SELECT id::text AS id, kind FROM reprise.action_records WHERE NOT synced ORDER BY hlc, id`,
      (rs) => rs.map((r) => kinds ? `${r.kind} ${r.id}` : r.id)
    )))

/** The id of the record of the replica's action whose input's id is `inputId`. */
const recordOf = async (replica: Replica, inputId: string): Promise<string> => {
  const [row] = await replica.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: string }>`SELECT id::text AS id FROM reprise.action_records WHERE args -> 'input' ->> 'id' = ${inputId}`))
  if (row === undefined) throw new Error(`no record of ${inputId}`)
  return row.id
}

/** The ids of every action the server's log holds, as `userId` fetches them. */
const serverLog = (server: Server, userId: string) =>
  server.runPromise(Effect.flatMap(SyncService.SyncService, (service) =>
    Effect.map(service.fetch(userId, { since: 0, limit: 1000 }), (page) => page.actions.map((a) => a.id))))

/** A few milliseconds, so that the next action's HLC is later on every replica. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 3))

describe("Quarantine (R-REC-3)", () => {
  let server: Server
  let alice: Replica
  let bob: Replica
  /** Alice's action the server rejects, and one she discards. */
  let secret = ""
  let discarded = ""

  beforeAll(async () => {
    server = await startServer()
    alice = await startReplica(server, "alice")
    bob = await startReplica(server, "bob")
  }, 60_000)

  afterAll(async () => {
    await alice?.dispose()
    await bob?.dispose()
    await server?.dispose()
  })

  /** Verifies: R-REC-3 */
  it("quarantines a rejected action with its reason, undoes its effects, uploads the rest, and converges", async () => {
    await exec(bob, putNote, { id: "b1", title: "bee" })
    await sync(bob)
    await tick()
    await exec(alice, putNote, { id: "n1", title: "one" })
    await exec(alice, putSecret, { id: "s1", body: "hidden" })
    secret = await recordOf(alice, "s1")
    await exec(alice, noteFromSecret, { id: "n2", secret: "s1" })
    await exec(alice, putNote, { id: "n3", title: "three" })
    assert.deepStrictEqual(await rows(alice, "notes"), ["(n1,one,)", "(n2,hidden,)", "(n3,three,)"])

    const report = await sync(alice)
    assert.strictEqual(report.quarantined, 1)
    assert.strictEqual(report.uploaded, 3)
    assert.strictEqual(report.fetched, 1)

    const listed = await quarantine(alice, (q) => q.list)
    assert.strictEqual(listed.length, 1)
    const [entry] = listed
    assert.strictEqual(entry?.id, secret)
    assert.strictEqual(entry?.tag, "secret.put.v1")
    assert.deepStrictEqual(entry?.args, { id: "s1", body: "hidden" })
    assert.strictEqual(entry?.kind, "action")
    assert.strictEqual(entry?.reason, "UntrackedTable")
    assert.include(entry?.detail, "public.secrets")
    assert.isAbove(entry?.at ?? 0, 0)

    // Its effects are undone, and the action that read them replayed without them.
    assert.deepStrictEqual(await rows(alice, "secrets"), [])
    assert.deepStrictEqual(await rows(alice, "notes"), ["(b1,bee,)", "(n1,one,)", "(n2,\"no secret\",)", "(n3,three,)"])
    assert.deepStrictEqual(await pending(alice), [])
    assert.notInclude(await serverLog(server, "alice"), secret)

    await sync(bob)
    const onServer = await rows(server, "notes")
    assert.deepStrictEqual(await rows(alice, "notes"), onServer)
    assert.deepStrictEqual(await rows(bob, "notes"), onServer)
    assert.deepStrictEqual(await rows(bob, "secrets"), [])
  })

  /** Verifies: R-REC-3 */
  it("keeps applying remote actions while an action sits in quarantine, and never uploads it", async () => {
    await tick()
    await exec(bob, putNote, { id: "b2", title: "second" })
    await sync(bob)
    const report = await sync(alice)
    assert.strictEqual(report.fetched, 1)
    assert.strictEqual(report.quarantined, 0)
    assert.strictEqual(report.uploaded, 0)
    assert.include(await rows(alice, "notes"), "(b2,second,)")
    assert.deepStrictEqual((await quarantine(alice, (q) => q.list)).map((a) => a.id), [secret])
    assert.deepStrictEqual(await rows(alice, "notes"), await rows(server, "notes"))
  })

  /** Verifies: R-REC-3 */
  it("quarantines again on a retry the server still rejects; discard deletes for good", async () => {
    await tick()
    await exec(alice, putSecret, { id: "s2", body: "other" })
    discarded = await recordOf(alice, "s2")
    await exec(alice, putNote, { id: "n4", title: "four" })
    const first = await sync(alice)
    assert.strictEqual(first.quarantined, 1)
    assert.strictEqual(first.uploaded, 1)
    assert.deepStrictEqual((await quarantine(alice, (q) => q.list)).map((a) => a.id), [secret, discarded])

    // Retried before the cause is fixed: applied again, then rejected again on the next sync.
    await quarantine(alice, (q) => q.retry(secret))
    assert.deepStrictEqual(await rows(alice, "secrets"), ["(s1,hidden,)"])
    // n2, synced with the title it had without the secret, now replays with it: the replica
    // also tells the server (a correction, R-SYNC-3).
    const retried = await pending(alice, true)
    assert.strictEqual(retried.length, 2)
    assert.strictEqual(retried[0], `action ${secret}`)
    assert.match(retried[1] ?? "", /^correction /)
    const again = await sync(alice)
    assert.strictEqual(again.quarantined, 1)
    assert.deepStrictEqual(await rows(alice, "secrets"), [])
    assert.include(await rows(alice, "notes"), "(n2,\"no secret\",)")
    assert.deepStrictEqual((await quarantine(alice, (q) => q.list)).map((a) => a.id), [secret, discarded])
    assert.deepStrictEqual(await rows(alice, "notes"), await rows(server, "notes"))

    assert.strictEqual(await quarantine(alice, (q) => q.count), 2)
    await quarantine(alice, (q) => q.discard(discarded))
    assert.deepStrictEqual((await quarantine(alice, (q) => q.list)).map((a) => a.id), [secret])
    assert.strictEqual(await quarantine(alice, (q) => q.count), 1)
    for (const id of [discarded, "not-an-id", "00000000-0000-4000-8000-000000000000"]) {
      for (const op of ["discard", "retry"] as const) {
        const result = await quarantine(alice, (q) => Effect.either(q[op](id)))
        assert.isTrue(Either.isLeft(result), `${op} ${id}`)
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, "NotQuarantined", `${op} ${id}`)
          if (result.left._tag === "NotQuarantined") assert.strictEqual(result.left.actionId, id)
        }
      }
    }
    assert.deepStrictEqual(await pending(alice), [])
    await sync(bob)
    assert.deepStrictEqual(await rows(alice, "notes"), await rows(server, "notes"))
    assert.deepStrictEqual(await rows(bob, "notes"), await rows(server, "notes"))
  })

  /** Verifies: R-REC-3, R-SYNC-3 */
  it("a retry once the server tracks the table uploads the action at its place, and everyone converges", async () => {
    await server.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(SECRETS)
      yield* Tracking.install(["secrets"])
    }))
    await quarantine(alice, (q) => q.retry(secret))
    assert.deepStrictEqual(await quarantine(alice, (q) => q.list), [])
    // Back at its place: the note that reads it replays with it.
    assert.include(await rows(alice, "notes"), "(n2,hidden,)")
    const report = await sync(alice)
    assert.strictEqual(report.quarantined, 0)
    // The action, and a correction: n2 is synced with the title it had without the secret.
    assert.strictEqual(report.uploaded, 2)
    assert.include(await serverLog(server, "alice"), secret)
    assert.notInclude(await serverLog(server, "alice"), discarded)
    await sync(bob)
    await sync(alice)
    const notes = await rows(server, "notes")
    const secrets = await rows(server, "secrets")
    assert.include(notes, "(n2,hidden,)")
    assert.deepStrictEqual(secrets, ["(s1,hidden,)"])
    for (const replica of [alice, bob]) {
      assert.deepStrictEqual(await rows(replica, "notes"), notes)
      assert.deepStrictEqual(await rows(replica, "secrets"), secrets)
      assert.deepStrictEqual(await pending(replica), [])
    }
  })

  /** Verifies: R-REC-3, R-SRV-3 */
  it("quarantines a write the server forbids, and uploads it on a retry once the author may write it", async () => {
    await tick()
    await exec(alice, putInAudience, { id: "p1", title: "plan", audience: "ops" })
    const forbidden = await recordOf(alice, "p1")
    await exec(alice, putNote, { id: "n5", title: "five" })
    const report = await sync(alice)
    assert.strictEqual(report.quarantined, 1)
    assert.strictEqual(report.uploaded, 1)
    const [entry] = await quarantine(alice, (q) => q.list)
    assert.strictEqual(entry?.id, forbidden)
    assert.strictEqual(entry?.reason, "Forbidden")
    assert.include(entry?.detail, "\"ops\"")
    assert.notInclude((await rows(alice, "notes")).join(" "), "p1")
    assert.deepStrictEqual(await rows(alice, "notes"), await rows(server, "notes"))

    // Alice joins the audience; once her replica knows it (a sync), the retry goes up.
    members["alice"]!.add("ops")
    await sync(alice)
    await quarantine(alice, (q) => q.retry(forbidden))
    assert.include(await rows(alice, "notes"), "(p1,plan,ops)")
    const retried = await sync(alice)
    assert.strictEqual(retried.quarantined, 0)
    assert.strictEqual(retried.uploaded, 1)
    assert.deepStrictEqual(await quarantine(alice, (q) => q.list), [])
    await sync(bob)
    const notes = await rows(server, "notes")
    assert.include(notes, "(p1,plan,ops)")
    assert.deepStrictEqual(await rows(alice, "notes"), notes)
    assert.deepStrictEqual(await rows(bob, "notes"), notes.filter((row) => !row.endsWith(",ops)")))
    assert.deepStrictEqual(await pending(alice), [])
  })

  /** Verifies: R-REC-3, R-SYNC-5 */
  it("an action the server's log delivers after all leaves the quarantine and is applied once", async () => {
    await tick()
    await exec(bob, putInAudience, { id: "p2", title: "bob's plan", audience: "lab" })
    const refused = await recordOf(bob, "p2")
    assert.strictEqual((await sync(bob)).quarantined, 1)
    assert.deepStrictEqual((await quarantine(bob, (q) => q.list)).map((a) => a.id), [refused])
    // The same action reaches the server after all (bob may write there now): here, its first
    // upload sent again, as a retry of a lost answer would.
    members["bob"]!.add("lab")
    const first = sent["bob"]!.find((request) => request.actions.some((a) => a.id === refused))!
    const action = first.actions.find((a) => a.id === refused)!
    await server.runPromise(Effect.flatMap(SyncService.SyncService, (service) =>
      service.upload("bob", { clientId: first.clientId, basis: first.basis, actions: [action] })))
    const report = await sync(bob)
    assert.strictEqual(report.fetched, 1)
    assert.deepStrictEqual(await quarantine(bob, (q) => q.list), [])
    assert.deepStrictEqual(await pending(bob), [])
    assert.include(await rows(bob, "notes"), "(p2,\"bob's plan\",lab)")
    await sync(alice)
    // Each converges with the server's rows in its audiences (bob: "lab", alice: "ops").
    const notes = await rows(server, "notes")
    assert.include(notes, "(p2,\"bob's plan\",lab)")
    assert.deepStrictEqual(await rows(bob, "notes"), notes.filter((row) => !row.endsWith(",ops)")))
    assert.deepStrictEqual(await rows(alice, "notes"), notes.filter((row) => !row.endsWith(",lab)")))
  })

  /** Verifies: R-REC-3 */
  it("a rejection about the client, not an action (WrongAuthor), fails the sync and quarantines nothing", async () => {
    // Its actions are recorded for "mallory", its token says "alice": a misconfigured client.
    const misconfigured = await startReplica(server, "mallory", "alice")
    try {
      await exec(misconfigured, putNote, { id: "m1", title: "mine" })
      const mine = await recordOf(misconfigured, "m1")
      const result = await misconfigured.runPromise(
        Effect.either(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync))
      )
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "UploadRejected")
        if (result.left._tag === "UploadRejected") assert.strictEqual(result.left.reason, "WrongAuthor")
      }
      assert.strictEqual(await quarantine(misconfigured, (q) => q.count), 0)
      assert.deepStrictEqual(await pending(misconfigured), [mine])
      assert.include(await rows(misconfigured, "notes"), "(m1,mine,)")
    } finally {
      await misconfigured.dispose()
    }
  })
})
