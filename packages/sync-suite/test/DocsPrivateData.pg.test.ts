/**
 * docs/private-data.md's server setup, run as printed on real Postgres (a fresh database from
 * `@reprise/pg-fixture`): the app's tables and tracking on the server's database, and audiences
 * resolved from its memberships. DocsPrivateData.test.ts checks that these blocks are the
 * guide's.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, Tracking } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import { InProcessTransport, SyncService } from "@reprise/server"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { SyncSuite } from "../src/index.js"
import { type App, exec, idsOf, replicaGroup, type Server } from "../src/internal/world.js"

const databaseName = `PostgreSQL ${PgFixture.serverVersion()}`

// Replicas reach the server in-process; the server is built here, as the guide builds it.
const harness: Pick<SyncSuite.Harness, "transport"> = { transport: InProcessTransport.layer }

const setupServerDb = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS todos (id text PRIMARY KEY, title text, audience_key text)`
  yield* Tracking.install(["todos"])
})

const createTodo = Action.make({
  tag: "docs.todo.create.v1",
  args: Schema.Struct({ id: Schema.String, audience: Schema.NullOr(Schema.String) }),
  run: ({ audience, id }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO todos ${sql.insert({ id, title: id, audience_key: audience })}`)
})

// Replicas run the same setup as the server's database.
const app: App = {
  tables: "CREATE TABLE IF NOT EXISTS todos (id text PRIMARY KEY, title text, audience_key text)",
  tracked: ["todos"],
  actions: [createTodo]
}

describe(`docs/private-data.md §1 and §2: the server's database and its audiences (${databaseName})`, () => {
  const fixture = ManagedRuntime.make(PgFixture.layerUrl)
  let server: Server
  const { dispose, replica, start, sync } = replicaGroup(harness, app, ["ann", "ben", "cy"])

  beforeAll(async () => {
    const databaseUrl = await fixture.runPromise(PgFixture.DatabaseUrl)
    const database = PgClient.layer({ url: Redacted.make(databaseUrl) })

    // The resolver runs on the server's database: take its SqlClient when the layer is built.
    const ServerLive = Layer.unwrapEffect(
      Effect.map(SqlClient.SqlClient, (sql) =>
        SyncService.layer({
          audiences: (userId) =>
            Effect.map(
              sql<{ key: string }>`SELECT 'team:' || team_id AS key FROM memberships WHERE user_id = ${userId}
                                   UNION ALL SELECT 'user:' || ${userId}`,
              (rows) => rows.map((r) => r.key)
            )
        }))
    ).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(databaseUrl) })))

    // The suite reads the server's rows through a second pool on the same database.
    server = ManagedRuntime.make(Layer.merge(ServerLive, database))
    // Once the server has installed its schema (Tracking.install needs it, as it needs
    // SyncSchema.install on a replica): the app's setup, and memberships (Ann and Ben in team
    // t1, Cy in none).
    await server.runPromise(Effect.gen(function*() {
      yield* setupServerDb
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE memberships (user_id text NOT NULL, team_id text NOT NULL)`
      yield* sql`INSERT INTO memberships ${sql.insert([{ user_id: "ann", team_id: "t1" }, { user_id: "ben", team_id: "t1" }])}`
    }))
    await start(server)
  }, 120_000)

  afterAll(async () => {
    await dispose()
    await server?.dispose()
    await fixture.dispose()
  })

  /** Verifies: R-SRV-3 */
  it("a user receives the rows of its teams, its own and the public ones; the server holds them all", async () => {
    await exec(replica("ann"), createTodo, { id: "team-todo", audience: "team:t1" })
    await exec(replica("ann"), createTodo, { id: "ann-todo", audience: "user:ann" })
    await exec(replica("ann"), createTodo, { id: "public-todo", audience: null })
    assert.strictEqual((await sync("ann")).uploaded, 3)
    for (const user of ["ben", "cy"]) await sync(user)
    assert.deepStrictEqual(await idsOf(server, "todos"), ["ann-todo", "public-todo", "team-todo"])
    assert.deepStrictEqual(await idsOf(replica("ann"), "todos"), ["ann-todo", "public-todo", "team-todo"])
    assert.deepStrictEqual(await idsOf(replica("ben"), "todos"), ["public-todo", "team-todo"])
    assert.deepStrictEqual(await idsOf(replica("cy"), "todos"), ["public-todo"])
  }, 120_000)
})
