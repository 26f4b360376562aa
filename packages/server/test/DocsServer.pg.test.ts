/**
 * docs/server.md's worked example runs as printed: its SQL (the app's table, memberships in the
 * default relation, then the app's own `caller_audiences()`) on a database set up as `migrate`
 * sets it up, and the policies `Rls.audiencePolicies` gives the table then decide, under a
 * request's settings and the server's role, which rows each user reads (R-SRV-3).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { Tracking } from "@reprise/core"
import * as PgFixture from "@reprise/pg-fixture"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Rls } from "../src/index.js"

const guide = fs.readFileSync(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../docs/server.md"),
  "utf8"
)
const sqlBlocks = [...guide.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!)

/** The todos `userId` reads, and its audiences, under a request's settings and the server's role. */
const readAs = (role: string, userId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT set_config('reprise.user_id', ${userId}, true)`
      yield* sql.unsafe(`SET LOCAL ROLE "${role}"`)
      const rows = yield* sql<{ id: string }>`SELECT id FROM todos ORDER BY id`
      const [audiences] = yield* sql<{ keys: ReadonlyArray<string> }>`SELECT reprise_server.caller_audiences() AS keys`
      return { ids: rows.map((r) => r.id), audiences: [...(audiences?.keys ?? [])].sort() }
    })))

layer(PgFixture.layer(), { timeout: "120 seconds" })("docs/server.md (PostgreSQL)", (it) => {
  /** Verifies: R-SRV-3 (the guide's membership example, as printed) */
  it.effect("the worked example's SQL runs as printed, and its audiences decide what each user reads", () =>
    Effect.gen(function*() {
      assert.strictEqual(sqlBlocks.length, 1, "docs/server.md has one SQL example")
      const sql = yield* SqlClient.SqlClient
      const role = `reprise_docs_${process.pid}_${Date.now().toString(36)}`
      // As `migrate` sets the database up, then the app's own relation the example's function reads.
      yield* Rls.install({ role })
      yield* sql.unsafe(`CREATE SCHEMA app; CREATE TABLE app.list_members (user_id text, list_id text)`)
      yield* sql.unsafe(`GRANT USAGE ON SCHEMA app TO "${role}"; GRANT SELECT ON app.list_members TO "${role}"`)
      // The example in its three paragraphs: the table, the default relation's rows, the function.
      const example = sqlBlocks[0]!
      const createTable = example.slice(0, example.indexOf("\n\n"))
      const inserts = example.slice(createTable.length, example.indexOf("-- ... or"))
      const replacement = example.slice(example.indexOf("-- ... or"))
      yield* sql.unsafe(createTable)
      yield* Tracking.install(["todos"])
      yield* Rls.install({ role })
      yield* Rls.audiencePolicies({ table: "todos" })

      // The default membership relation first, before the example's function replaces the default.
      yield* sql.unsafe(inserts)
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT set_config('reprise.capture', 'off', true)`
        yield* sql.unsafe(`INSERT INTO todos (id, title, audience_key) VALUES
          ('t1', 'milk', 'list:groceries'), ('t2', 'report', 'list:work'), ('t3', 'public', NULL)`)
      }))
      const bob = yield* readAs(role, "bob")
      assert.deepStrictEqual(bob, { ids: ["t1", "t3"], audiences: ["list:groceries"] })
      const alice = yield* readAs(role, "alice")
      assert.deepStrictEqual(alice, { ids: ["t1", "t2", "t3"], audiences: ["list:groceries", "list:work"] })

      // The app's own function over its own relation.
      yield* sql.unsafe(replacement)
      yield* sql`INSERT INTO app.list_members (user_id, list_id) VALUES ('carol', 'work')`
      const carol = yield* readAs(role, "carol")
      assert.deepStrictEqual(carol, { ids: ["t2", "t3"], audiences: ["list:work"] })
      const nobody = yield* readAs(role, "mallory")
      assert.deepStrictEqual(nobody, { ids: ["t3"], audiences: [] })
      yield* sql.unsafe(`DROP OWNED BY "${role}"; DROP ROLE "${role}"`).pipe(Effect.ignore)
    }))
})
