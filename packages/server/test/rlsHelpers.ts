/**
 * Helpers for the row-level security tests: a database set up with `Rls.install` (a role of
 * the test's own), two tracked app tables with `Rls.audiencePolicies` (an audience column and
 * an audience expression), memberships, hand-built actions with claimed audience keys, and
 * snapshots of everything the server holds.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Hlc, type SyncProtocol, type SyncServer, Tracking } from "@reprise/core"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { Rls, SyncService } from "../src/index.js"
import { failureOf, request } from "./suites/helpers.js"

/** A role name unique in the cluster (roles are cluster-wide). */
export const roleName = (base: string): string =>
  `${base}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`

/** The app tables. */
export const NOTES = "rls_notes"
export const ITEMS = "rls_items"

/** Memberships: alice and bob share "team", carol is in "ops", dave in both. */
export const MEMBERS: ReadonlyArray<readonly [string, string]> = [
  ["alice", "team"], ["alice", "list:team"], ["bob", "team"], ["bob", "list:team"],
  ["carol", "ops"], ["carol", "list:ops"], ["dave", "team"], ["dave", "ops"], ["dave", "list:team"], ["dave", "list:ops"]
]

/** Each table: a row of audience `key` and the audience key its capture computes for it. */
export const TABLES = [
  {
    name: NOTES,
    row: (id: string, key: string) => ({ id, title: `t-${id}`, audience_key: key }),
    key: (key: string) => key,
    setTitle: (title: string) => ({ title }),
    moveTo: (key: string) => ({ audience_key: key })
  },
  {
    name: ITEMS,
    row: (id: string, key: string) => ({ id, title: `t-${id}`, list_id: key }),
    key: (key: string) => `list:${key}`,
    setTitle: (title: string) => ({ title }),
    moveTo: (key: string) => ({ list_id: key })
  }
] as const

/** What `setup` gives: the database, the service on it, and the role. */
export interface Env {
  readonly sql: SqlClient.SqlClient
  readonly sync: SyncService.SyncServiceShape
  readonly role: string
}

/** The database set up for `role`, and the service on it (which finds the role itself). */
export const setup = (role: string, options: SyncService.Options = {}): Effect.Effect<Env, unknown, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Rls.install({ role })
    yield* sql`CREATE TABLE ${sql(NOTES)} (id text PRIMARY KEY, title text, audience_key text)`
    yield* sql`CREATE TABLE ${sql(ITEMS)} (id text PRIMARY KEY, title text, list_id text)`
    yield* Tracking.install([NOTES, { name: ITEMS, audienceExpression: "'list:' || r.list_id" }])
    yield* Rls.audiencePolicies({ table: NOTES })
    yield* Rls.audiencePolicies({ table: ITEMS })
    for (const [user, key] of MEMBERS) yield* Rls.addMember(user, key)
    const built = yield* Effect.scoped(Layer.build(SyncService.layer(options)))
    return { sql, sync: Context.get(built, SyncService.SyncService), role }
  })

/** A patch as a client claims it. */
export interface Claimed {
  readonly op: "INSERT" | "UPDATE" | "DELETE"
  readonly table: string
  readonly rowId: string
  readonly forward: object | null
  readonly reverse: object | null
  readonly audienceKey: string | null
}

let wall = Date.now() - 120_000
/** One action of `user` with the given patches (audience keys as claimed), as its client sends it. */
export const action = (
  user: string,
  patches: ReadonlyArray<Claimed>,
  /** Its HLC wall time; by default later than every action built before. */
  at?: number
): typeof SyncProtocol.ActionWire.Encoded => {
  const clientId = `${user || "anon"}-client`
  wall += 1
  const wallMs = at ?? wall
  return {
    id: crypto.randomUUID(),
    tag: "rls.test.v1",
    args: { input: {}, timestamp: wallMs },
    clientId,
    userId: user,
    hlc: Hlc.encode(new Hlc.Hlc({ wallMs, counter: 0, nodeId: Hlc.NodeId.make(clientId) })),
    kind: "action",
    patches: patches.map((p, i) => ({
      seq: i + 1,
      schema: "public",
      table: p.table,
      rowId: p.rowId,
      op: p.op,
      forward: p.forward === null ? null : JSON.stringify(p.forward),
      reverse: p.reverse === null ? null : JSON.stringify(p.reverse),
      audienceKey: p.audienceKey
    }))
  }
}

/** Uploads `actions` as `user` at the current head. */
export const upload = (
  env: Env,
  user: string,
  actions: ReadonlyArray<typeof SyncProtocol.ActionWire.Encoded>
): Effect.Effect<SyncProtocol.UploadResponse, SyncServer.UploadError> =>
  Effect.flatMap(env.sync.head(user), (basis) =>
    env.sync.upload(user, request(`${user || "anon"}-client`, basis, actions)))

/** Everything the server holds (log sizes, head, both tables' rows), as one comparable string. */
export const snapshot = (env: Env) =>
  Effect.gen(function*() {
    const [log] = yield* env.sql<{ actions: number; patches: number; head: string }>`
      SELECT (SELECT count(*) FROM reprise_server.actions)::int AS actions,
             (SELECT count(*) FROM reprise_server.patches)::int AS patches,
             (SELECT head FROM reprise_server.state)::text AS head`
    const notes = yield* env.sql<{ r: string }>`SELECT t::text AS r FROM ${env.sql(NOTES)} t ORDER BY id`
    const items = yield* env.sql<{ r: string }>`SELECT t::text AS r FROM ${env.sql(ITEMS)} t ORDER BY id`
    return JSON.stringify({ log, notes: notes.map((x) => x.r), items: items.map((x) => x.r) })
  })

class Rollback extends Data.TaggedError("Rollback")<{ readonly value: number }> {}

/**
 * Runs `statement` as the server role with the settings a request of `user` sets (database
 * membership), capture off as materialization runs, then rolls back: the rows it affected, or
 * -1 when Postgres refused it.
 */
export const asRole = (env: Env, user: string, statement: (sql: SqlClient.SqlClient) => Effect.Effect<number, unknown>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(env.sql.withTransaction(Effect.gen(function*() {
      yield* env.sql`SELECT set_config('reprise.user_id', ${user}, true),
        set_config('request.jwt.claims', ${JSON.stringify({ sub: user })}, true),
        set_config('reprise.audiences', '', true), set_config('reprise.see_all', '', true),
        set_config('reprise.capture', 'off', true), set_config('role', ${env.role}, true)`
      const n = yield* statement(env.sql)
      return yield* new Rollback({ value: n })
    })))
    if (Exit.isSuccess(exit)) throw new Error("unreachable: the probe always rolls back")
    const failure = failureOf(exit)
    return failure instanceof Rollback ? failure.value : -1
  })

/** The role goes with its privileges in this database (roles outlive the test's database). */
export const dropRole = (role: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`DROP OWNED BY "${role}"`)
    yield* sql.unsafe(`DROP ROLE "${role}"`)
  }).pipe(Effect.orDie)
