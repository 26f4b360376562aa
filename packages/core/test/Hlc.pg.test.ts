/**
 * The HLC encoding sorts in real Postgres (the server's database) exactly as `Hlc.Order`
 * compares in TypeScript, on random sets from one printed seed (`REPRISE_SEED=<n>` replays).
 */
import { assert, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgFixture from "@reprise/pg-fixture"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import fc from "fast-check"
import * as Hlc from "../src/Hlc.js"
import { seedFor, sqlSortsLikeOrder } from "./suites/hlcSql.js"

const seed = seedFor("Hlc.pg.test")

// Node ids that are prefixes of each other and mix case, digits, `-` and `_`: where a
// linguistic collation would disagree with `Order`.
const trickyIds = ["a", "a-", "a_", "a0", "aZ", "aB", "ab", "a-b", "a_b", "A", "Z", "z", "-", "_", "0", "9", "--", "__"]
const nodeIdArb = fc.oneof(
  fc.constantFrom(...trickyIds),
  fc.array(fc.constantFrom(..."abzABZ019_-"), { minLength: 1, maxLength: 64 }).map((cs) => cs.join(""))
).map((s) => Hlc.NodeId.make(s))
const hlcArb = fc.oneof(
  fc.record({ wallMs: fc.integer({ min: 0, max: 5 }), counter: fc.integer({ min: 0, max: 3 }), nodeId: nodeIdArb }),
  fc.record({
    wallMs: fc.oneof(fc.integer({ min: 0, max: Hlc.MAX_WALL_MS }), fc.constant(Hlc.MAX_WALL_MS)),
    counter: fc.oneof(fc.integer({ min: 0, max: Hlc.MAX_COUNTER }), fc.constant(Hlc.MAX_COUNTER)),
    nodeId: nodeIdArb
  })
).map((f) => new Hlc.Hlc(f))
const setArb = fc.array(hlcArb, { minLength: 200, maxLength: 500 })


layer(PgFixture.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Hlc in SQL (Postgres)", (it) => {
  /** Verifies: R-SYNC-2 */
  it.effect("ORDER BY on a text COLLATE \"C\" column equals the TypeScript sort, on random sets", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE hlc_sort (encoded ${sql.literal(Hlc.SQL_TYPE)} NOT NULL)`
      const [column] = yield* sql<{ collation: string; database: string }>`
        SELECT (SELECT collation for (''::${sql.literal(Hlc.SQL_TYPE)})) AS collation,
               (SELECT datcollate FROM pg_database WHERE datname = current_database()) AS database`
      // Whatever the database's default collation, the column compares bytes.
      assert.strictEqual(column?.collation, `"C"`)
      console.log(`[Hlc.pg.test] database collation ${column?.database}, HLC column collation ${column?.collation}`)
      // An index must agree too: replay reads HLCs in index order.
      yield* sql`CREATE INDEX hlc_sort_encoded ON hlc_sort (encoded)`
      const runtime = yield* Effect.runtime<SqlClient.SqlClient>()
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(setArb, (hlcs) => Runtime.runPromise(runtime)(sqlSortsLikeOrder(hlcs))), { numRuns: 50, seed })
      )
    }))
})
