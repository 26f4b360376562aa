import { assert, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Action } from "@reprise/core"
import { Simulation } from "@reprise/core/testing"
import { SimulationServer } from "@reprise/server/testing"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

// The app under test: stock that two shops sell from, offline. Its rule: never below zero.
class OutOfStock extends Data.TaggedError("OutOfStock")<{ readonly sku: string }> {}

const restock = Action.make({
  tag: "stock.restock.v1",
  args: Schema.Struct({ sku: Schema.String, units: Schema.Int }),
  run: ({ sku, units }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ qty: number }>`SELECT qty FROM stock WHERE id = ${sku}`
      if (row === undefined) yield* sql`INSERT INTO stock (id, qty, audience_key) VALUES (${sku}, ${units}, 'shop')`
      else yield* sql`UPDATE stock SET qty = ${row.qty + units} WHERE id = ${sku}`
    })
})

const sell = Action.make({
  tag: "stock.sell.v1",
  args: Schema.Struct({ sku: Schema.String }),
  run: ({ sku }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ qty: number }>`SELECT qty FROM stock WHERE id = ${sku}`
      if (row === undefined || row.qty < 1) return yield* new OutOfStock({ sku })
      yield* sql`UPDATE stock SET qty = ${row.qty - 1} WHERE id = ${sku}`
    })
})

it.live("stock converges under every fault and never goes negative", () =>
  Effect.gen(function*() {
    const simulator = yield* Simulation.make({
      actions: [restock, sell],
      setup: "CREATE TABLE IF NOT EXISTS stock (id text PRIMARY KEY, qty integer NOT NULL, audience_key text)",
      tables: ["stock"],
      users: ["ann", "ben", "ann"], // three replicas: Ann on two devices, Ben on one
      clientDatabase: PgliteClient.layer({}),
      serverDatabase: PgliteClient.layer({}),
      server: SimulationServer.driver(),
      maxActionsPerReplica: 12,
      generate: ({ random }) =>
        Effect.succeed(
          random.chance(0.3)
            ? Simulation.command(restock, { sku: random.pick(["apple", "pear"]), units: random.between(1, 3) })
            : Simulation.command(sell, { sku: random.pick(["apple", "pear"]) })
        ),
      invariants: () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const negative = yield* sql<{ id: string; qty: number }>`SELECT id, qty FROM stock WHERE qty < 0`
          return negative.map((row) => ({ kind: "invariant" as const, detail: `${row.id} at ${row.qty}` }))
        })
    })
    const from = Number(process.env["SEED"] ?? Math.floor(Math.random() * 1_000_000))
    console.log(`stock simulation: seeds ${from}..${from + 4} (replay with SEED=${from})`)
    for (let seed = from; seed < from + 5; seed++) {
      const report = yield* simulator.run(seed) // fails with SimulationFailed, naming the seed
      assert.strictEqual(report.divergences + report.lost + report.residualPending, 0)
    }
  }).pipe(Effect.scoped), 600_000)
