import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Hlc from "../../src/Hlc.js"

/**
 * The seed of a randomized test file: `REPRISE_SEED` when set (to replay a failure), a fresh
 * one otherwise; printed either way.
 */
export const seedFor = (label: string): number => {
  const seed = process.env["REPRISE_SEED"] === undefined
    ? Math.floor(Math.random() * 0x7fffffff)
    : Number.parseInt(process.env["REPRISE_SEED"], 10)
  if (!Number.isSafeInteger(seed)) throw new Error(`REPRISE_SEED must be an integer, got ${process.env["REPRISE_SEED"]}`)
  console.log(`[${label}] fast-check seed ${seed} (replay with REPRISE_SEED=${seed})`)
  return seed
}

/** Stores `hlcs` encoded in `hlc_sort` and checks `ORDER BY` equals the TypeScript sort. */
export const sqlSortsLikeOrder = Effect.fn("sqlSortsLikeOrder")(function*(hlcs: ReadonlyArray<Hlc.Hlc>) {
  const sql = yield* SqlClient.SqlClient
  yield* sql`TRUNCATE hlc_sort`
  yield* sql`INSERT INTO hlc_sort ${sql.insert(hlcs.map((h) => ({ encoded: Hlc.encode(h) })))}`
  const rows = yield* sql`SELECT encoded FROM hlc_sort ORDER BY encoded`
  const fromSql = yield* Schema.decodeUnknown(Schema.Array(Schema.Struct({ encoded: Hlc.HlcFromString })))(rows)
  assert.deepStrictEqual(fromSql.map((r) => r.encoded), [...hlcs].sort(Hlc.Order))
})
