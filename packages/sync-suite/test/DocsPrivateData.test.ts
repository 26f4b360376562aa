/**
 * The examples of docs/private-data.md, run as written: each code block of the guide appears
 * verbatim (indentation aside; the first test checks it) in this file or, for the server on
 * Postgres, in DocsPrivateData.pg.test.ts, inside the setup it needs, so the guide cannot drift
 * from the API.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action, ActionExecutor, ActionIds, ActionRegistry, Patch, SyncSchema, Tracking } from "@reprise/core"
import { InProcessTransport } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { SyncSuite } from "../src/index.js"
import { type App, exec, idsOf, type Replica, replicaGroup, type Server, startServer } from "../src/internal/world.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const guide = fs.readFileSync(path.join(here, "../../../docs/private-data.md"), "utf8")

/** Lines without their indentation, blank lines dropped: how a block is found in this file. */
const normalize = (text: string): string =>
  text.split("\n").map((line) => line.trim()).filter((line) => line !== "").join("\n")

const harness: SyncSuite.Harness = {
  name: "in-process transport, server on PGlite",
  serverDatabase: () => PgliteClient.layer({}),
  transport: InProcessTransport.layer
}

/** Verifies: R-SRV-3 */
it("docs/private-data.md: every example is run here or in DocsPrivateData.pg.test.ts, as printed", () => {
  const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!)
  assert.strictEqual(blocks.length, 4, "the guide's examples changed: update these tests with them")
  const source = ["DocsPrivateData.test.ts", "DocsPrivateData.pg.test.ts"]
    .map((file) => normalize(fs.readFileSync(path.join(here, file), "utf8")))
    .join("\n")
  for (const block of blocks) assert.include(source, normalize(block), "an example of the guide is not run as printed")
})

// §1. Give rows an audience key.
const trackingTables = `
  CREATE TABLE todos (id text PRIMARY KEY, title text NOT NULL, audience_key text);
  CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL, owner_scope text);
  CREATE TABLE members (id text PRIMARY KEY, name text NOT NULL, team_id text NOT NULL);`

const addRows = Action.make({
  tag: "docs.add-rows.v1",
  args: Schema.Struct({}),
  run: () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const ids = yield* ActionIds.ActionIds
      yield* sql`INSERT INTO todos ${sql.insert({ id: ids.id("todo"), title: "t", audience_key: "team:t1" })}`
      yield* sql`INSERT INTO notes ${sql.insert({ id: ids.id("note"), body: "n", owner_scope: "user:ann" })}`
      yield* sql`INSERT INTO members ${sql.insert({ id: ids.id("member"), name: "Ann", team_id: "t2" })}`
      yield* sql`INSERT INTO todos ${sql.insert({ id: ids.id("public"), title: "p", audience_key: null })}`
      return ids.actionId
    })
})

/** Verifies: R-SRV-3 */
it.live("docs/private-data.md §1: the audience column, a named column and an expression", () =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(trackingTables)
    yield* SyncSchema.install()
    yield* Tracking.install([
      "todos",                                   // audience_key column
      { name: "notes", audienceColumn: "owner_scope" },
      { name: "members", audienceExpression: "'team:' || r.team_id" }
    ])
    const actionId = yield* ActionExecutor.execute(addRows, {})
    const patches = yield* Patch.forActions([actionId])
    assert.deepStrictEqual(
      patches.map((patch) => [patch.table, patch.audienceKey]),
      [["todos", "team:t1"], ["notes", "user:ann"], ["members", "team:t2"], ["todos", null]]
    )
  }).pipe(Effect.provide(ActionExecutor.layer({ userId: "ann" }).pipe(
    Layer.provideMerge(Layer.merge(PgliteClient.layer({}), ActionRegistry.layer([addRows])))
  ))))

// §3: a server filtering by audience, replicas syncing with it.
const tables = `
  CREATE TABLE tasks (id text PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false, audience_key text);
  CREATE TABLE stats (id text PRIMARY KEY, open integer NOT NULL, audience_key text);`

const createTask = Action.make({
  tag: "docs.task.create.v1",
  args: Schema.Struct({ id: Schema.String, audience: Schema.NullOr(Schema.String) }),
  run: ({ audience, id }) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO tasks ${sql.insert({ id, title: id, audience_key: audience })}`)
})

// The team's counter of open tasks, counted over the tasks the author can see (including the
// author's private ones). Another user's replay would count other tasks.
const recount = Action.make({
  tag: "stats.recount.v1",
  args: Schema.Struct({ id: Schema.String }),
  authority: "author",
  run: ({ id }) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`
    INSERT INTO stats (id, open, audience_key)
    SELECT ${id}, count(*)::int, 'team' FROM tasks WHERE NOT done
    ON CONFLICT (id) DO UPDATE SET open = excluded.open`)
})

const app: App = { tables, tracked: ["tasks", "stats"], actions: [createTask, recount] }

describe("docs/private-data.md §3: an action of \"author\" authority", () => {
  let server: Server
  const { dispose, replica, start, sync } = replicaGroup(harness, app, ["ann", "ben"])
  // §3's recount writes its row in audience 'team': here both users are in it.
  const audiences: Record<string, ReadonlyArray<string>> = { ann: ["team", "user:ann"], ben: ["team"] }

  beforeAll(async () => {
    server = await startServer(harness, app, { audiences: (userId) => Effect.succeed(audiences[userId] ?? []) })
    await start(server)
  }, 120_000)

  afterAll(async () => {
    await dispose()
    await server?.dispose()
  })

  /** Verifies: R-SRV-3, R-SYNC-3 */
  it("the author's result stands on another user's replica, and nobody corrects it", async () => {
    await exec(replica("ann"), createTask, { id: "team-task", audience: "team" })
    await exec(replica("ann"), createTask, { id: "ann-task", audience: "user:ann" })
    await exec(replica("ann"), recount, { id: "open" })
    await sync("ann")
    // Ben sees one open task, and replays the recount over it; Ann counted two.
    const ben = await sync("ben")
    assert.deepStrictEqual([ben.replayed, ben.corrections], [2, 0])
    assert.deepStrictEqual(await idsOf(replica("ben"), "tasks"), ["team-task"])
    const open = (runtime: Replica | Server) =>
      runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ open: number }>`SELECT open FROM stats`))
    for (const runtime of [server, replica("ann"), replica("ben")]) assert.deepStrictEqual(await open(runtime), [{ open: 2 }])
    const again = await sync("ann")
    assert.deepStrictEqual([again.corrections, again.uploaded], [0, 0])
  }, 120_000)
})
