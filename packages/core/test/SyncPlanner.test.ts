import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { SyncPlanner } from "../src/index.js"
import { seedFor } from "./suites/hlcSql.js"

const seed = seedFor("SyncPlanner.test")
const RUNS = 10_000

type Entry = SyncPlanner.Entry

// Small alphabets on purpose: equal HLCs (ties broken by id) and duplicates are common.
const entryArb = fc.record({
  id: fc.constantFrom(..."abcdefghijklmnop".split("")),
  hlc: fc.constantFrom("001.00000.x", "001.00001.x", "002.00000.a", "002.00000.b", "003.00000.x", "004.00000.y")
})

const historyArb = fc.record({
  applied: fc.uniqueArray(entryArb, { selector: (e) => e.id, maxLength: 10 }).map((es) => es.sort(SyncPlanner.order)),
  incoming: fc.array(entryArb, { maxLength: 10 })
}).map(({ applied, incoming }) => {
  // An id names one action: a duplicate carries the applied action's own HLC.
  const byId = new Map(applied.map((e) => [e.id, e]))
  const firstSeen = new Map<string, Entry>()
  const consistent = incoming.map((e) => {
    const known = byId.get(e.id) ?? firstSeen.get(e.id)
    if (known !== undefined) return known
    firstSeen.set(e.id, e)
    return e
  })
  return { applied, incoming: consistent }
})

/** What applying a plan to `applied` leaves, following the plan literally. */
const execute = (applied: ReadonlyArray<Entry>, plan: SyncPlanner.Plan): ReadonlyArray<Entry> => {
  switch (plan._tag) {
    case "NothingToDo":
      return applied
    case "FastForward":
      return [...applied, ...plan.apply]
    case "Reconcile": {
      // What the engine rolls back: every applied action after the ancestor.
      const kept = plan.ancestor === null ? [] : applied.slice(0, applied.indexOf(plan.ancestor) + 1)
      return [...kept, ...plan.replay]
    }
  }
}

const expected = (applied: ReadonlyArray<Entry>, incoming: ReadonlyArray<Entry>) => {
  const all = new Map<string, Entry>()
  for (const e of [...applied, ...incoming]) if (!all.has(e.id)) all.set(e.id, e)
  return [...all.values()].sort(SyncPlanner.order)
}

describe("SyncPlanner.plan", () => {
  /** Verifies: R-SYNC-1, R-SYNC-2, R-SYNC-4, R-SYNC-5 */
  it("leaves every replica with applied ∪ incoming, once each, in global order", () => {
    fc.assert(
      fc.property(historyArb, ({ applied, incoming }) => {
        const plan = SyncPlanner.plan(applied, incoming)
        assert.deepStrictEqual(execute(applied, plan), expected(applied, incoming))
      }),
      { numRuns: RUNS, seed }
    )
  })

  /** Verifies: R-SYNC-1, R-SYNC-2 */
  it("keeps each plan's own invariants", () => {
    fc.assert(
      fc.property(historyArb, ({ applied, incoming }) => {
        const plan = SyncPlanner.plan(applied, incoming)
        const appliedIds = new Set(applied.map((e) => e.id))
        const fresh = incoming.filter((e) => !appliedIds.has(e.id))
        if (plan._tag === "NothingToDo") {
          assert.strictEqual(fresh.length, 0)
        } else if (plan._tag === "FastForward") {
          assert.deepStrictEqual(plan.apply, [...plan.apply].sort(SyncPlanner.order))
          const last = applied[applied.length - 1]
          if (last !== undefined) assert.strictEqual(SyncPlanner.order(last, plan.apply[0]!), -1)
        } else {
          const earliest = [...fresh].sort(SyncPlanner.order)[0]!
          const rollback = applied.filter((e) => plan.ancestor === null || SyncPlanner.order(e, plan.ancestor) > 0)
          assert.isAbove(rollback.length, 0)
          for (const e of rollback) assert.strictEqual(SyncPlanner.order(e, earliest), 1)
          if (plan.ancestor !== null) {
            assert.strictEqual(SyncPlanner.order(plan.ancestor, earliest), -1)
            assert.include(applied, plan.ancestor)
          }
          assert.deepStrictEqual(plan.replay, [...plan.replay].sort(SyncPlanner.order))
          assert.sameMembers(plan.replay.map((e) => e.id), [...new Set([...rollback, ...fresh].map((e) => e.id))])
        }
      }),
      { numRuns: RUNS, seed: seed + 1 }
    )
  })

  /** Verifies: R-SYNC-5 */
  it("is idempotent: planning again after applying a plan does nothing", () => {
    fc.assert(
      fc.property(historyArb, ({ applied, incoming }) => {
        const after = execute(applied, SyncPlanner.plan(applied, incoming))
        assert.deepStrictEqual(SyncPlanner.plan(after, incoming), { _tag: "NothingToDo" })
        assert.deepStrictEqual(SyncPlanner.plan(after, [...incoming].reverse()), { _tag: "NothingToDo" })
      }),
      { numRuns: RUNS, seed: seed + 2 }
    )
  })

  /** Verifies: R-SYNC-2 */
  it("plans the same from the applied suffix the engine loads as from the whole log", () => {
    fc.assert(
      fc.property(historyArb, ({ applied, incoming }) => {
        const appliedIds = new Set(applied.map((e) => e.id))
        const fresh = incoming.filter((e) => !appliedIds.has(e.id)).sort(SyncPlanner.order)
        if (fresh.length === 0) return
        // The engine's query: applied actions after the earliest new one, plus the one before.
        let start = applied.findIndex((e) => SyncPlanner.order(e, fresh[0]!) > 0)
        if (start < 0) start = applied.length
        const suffix = applied.slice(Math.max(0, start - 1))
        assert.deepStrictEqual(SyncPlanner.plan(suffix, fresh), SyncPlanner.plan(applied, incoming))
      }),
      { numRuns: RUNS, seed: seed + 3 }
    )
  })

  /** Verifies: R-SYNC-4 */
  it("puts a late arrival in its place even with nothing pending", () => {
    const applied = [{ id: "a", hlc: "001" }, { id: "c", hlc: "003" }, { id: "d", hlc: "004" }]
    const plan = SyncPlanner.plan(applied, [{ id: "b", hlc: "002" }])
    assert.deepStrictEqual(plan, {
      _tag: "Reconcile",
      ancestor: { id: "a", hlc: "001" },
      replay: [{ id: "b", hlc: "002" }, { id: "c", hlc: "003" }, { id: "d", hlc: "004" }]
    })
  })
})
