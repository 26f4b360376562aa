import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { CorrectionPlanner } from "../src/index.js"
import { seedFor } from "./suites/hlcSql.js"

const seed = seedFor("CorrectionPlanner.test")
const RUNS = 10_000

type Row = CorrectionPlanner.DivergentRow

// Small alphabets on purpose: shared audiences, actions writing several rows and actions
// differing in several audiences are common.
const audienceArb = fc.constantFrom<string | null>(null, "a", "b", "c")
const actionIdArb = fc.constantFrom("a1", "a2", "a3", "a4", "a5", "a6")
const opArb = fc.constantFrom<CorrectionPlanner.PatchOp>("INSERT", "UPDATE", "DELETE")
const imageArb = fc.option(fc.constantFrom('{"n":1}', '{"n":2}'), { nil: null })

const rowArb: fc.Arbitrary<Row> = fc.record({
  schema: fc.constantFrom("public", "app"),
  table: fc.constantFrom("todos", "lists"),
  rowId: fc.constantFrom("r1", "r2", "r3", "r4"),
  image: imageArb,
  correct: fc.boolean(),
  op: opArb,
  forward: imageArb,
  reverse: imageArb,
  adoptOp: opArb,
  adoptForward: imageArb,
  actions: fc.uniqueArray(actionIdArb, { maxLength: 3 }),
  audience: audienceArb
})

const inputArb = fc.record({
  rows: fc.uniqueArray(rowArb, { selector: (r) => `${r.schema}.${r.table}.${r.rowId}`, maxLength: 8 }),
  differing: fc.uniqueArray(
    fc.record({ id: actionIdArb, audience: audienceArb, hidden: fc.boolean() }),
    { selector: (d) => `${d.id}/${d.audience}`, maxLength: 8 }
  )
})

const key = (row: { readonly schema: string; readonly table: string; readonly rowId: string }) =>
  `${row.schema}.${row.table}.${row.rowId}`

describe("CorrectionPlanner.plan", () => {
  /** Verifies: R-SYNC-3 */
  it("corrects or adopts every divergent row exactly once, each in its own audience", () => {
    fc.assert(
      fc.property(inputArb, ({ differing, rows }) => {
        const plan = CorrectionPlanner.plan(rows, differing)
        const corrected = plan.corrections.flatMap((c) => c.rows.map(key))
        const adopted = plan.adoptions.map(key)
        assert.sameMembers([...corrected, ...adopted], rows.map(key))
        assert.strictEqual(new Set([...corrected, ...adopted]).size, rows.length)
        for (const correction of plan.corrections) {
          for (const row of correction.rows) {
            assert.isTrue(row.correct)
            assert.strictEqual(row.audience, correction.audience)
          }
        }
        const byKey = new Map(rows.map((row) => [key(row), row]))
        for (const adoption of plan.adoptions) {
          const row = byKey.get(key(adoption))!
          assert.isFalse(row.correct)
          assert.strictEqual(adoption.op, row.adoptOp)
          assert.strictEqual(adoption.forward, row.adoptForward)
        }
      }),
      { numRuns: RUNS, seed }
    )
  })

  /** Verifies: R-SYNC-3, R-SRV-3 */
  it("restates exactly what each audience needs: no more, no less, never empty", () => {
    fc.assert(
      fc.property(inputArb, ({ differing, rows }) => {
        const plan = CorrectionPlanner.plan(rows, differing)
        const audiences = plan.corrections.map((c) => c.audience)
        assert.deepStrictEqual(audiences, [...new Set(audiences)].sort(CorrectionPlanner.audienceOrder))
        const correctedAudiences = new Set(rows.filter((r) => r.correct).map((r) => r.audience))
        for (const correction of plan.corrections) {
          assert.isTrue(correction.rows.length > 0 || correction.restates.length > 0)
          assert.deepStrictEqual(correction.restates, [...new Set(correction.restates)].sort())
          const expected = new Set([
            ...correction.rows.flatMap((r) => r.actions),
            ...differing
              .filter((d) => d.audience === correction.audience && (d.hidden || correctedAudiences.has(d.audience)))
              .map((d) => d.id)
          ])
          assert.sameMembers([...correction.restates], [...expected])
        }
        // Every hidden action reaches its audience.
        for (const action of differing.filter((d) => d.hidden)) {
          const correction = plan.corrections.find((c) => c.audience === action.audience)
          assert.isDefined(correction)
          assert.include(correction!.restates, action.id)
        }
        // An audience gets a correction only for a corrected row or a hidden action there.
        for (const audience of audiences) {
          assert.isTrue(
            correctedAudiences.has(audience) || differing.some((d) => d.hidden && d.audience === audience)
          )
        }
      }),
      { numRuns: RUNS, seed: seed + 1 }
    )
  })

  /** Verifies: R-SYNC-10 */
  it("plans the same whatever order its inputs come in", () => {
    fc.assert(
      fc.property(
        inputArb.chain((input) =>
          fc.tuple(fc.constant(input), fc.shuffledSubarray(input.rows, { minLength: input.rows.length }),
            fc.shuffledSubarray(input.differing, { minLength: input.differing.length }))
        ),
        ([input, rows, differing]) => {
          assert.deepStrictEqual(
            CorrectionPlanner.plan(rows, differing),
            CorrectionPlanner.plan(input.rows, input.differing)
          )
        }
      ),
      { numRuns: RUNS, seed: seed + 2 }
    )
  })

  /** Verifies: R-SYNC-3 */
  it("asks for the differing actions only when something is filtered or corrected", () => {
    fc.assert(
      fc.property(inputArb, fc.boolean(), ({ differing, rows }, filtered) => {
        if (CorrectionPlanner.needsDifferingActions(rows, filtered)) return
        // Unfiltered, with nothing corrected, no action is hidden: the plan is the same without them.
        const visible = differing.map((d) => ({ ...d, hidden: false }))
        assert.deepStrictEqual(CorrectionPlanner.plan(rows, []), CorrectionPlanner.plan(rows, visible))
      }),
      { numRuns: RUNS, seed: seed + 3 }
    )
  })

  /** Verifies: R-SYNC-3 */
  it("corrects the public audience first and adopts rows in key order", () => {
    const row = (rowId: string, audience: string | null, correct: boolean, actions: Array<string>): Row => ({
      schema: "public",
      table: "t",
      rowId,
      image: "{}",
      correct,
      op: "UPDATE",
      forward: "{}",
      reverse: "{}",
      adoptOp: "UPDATE",
      adoptForward: "{}",
      actions,
      audience
    })
    const plan = CorrectionPlanner.plan(
      [row("z", "team", true, ["x"]), row("y", null, true, ["w"]), row("b", "team", false, []), row("a", "other", false, [])],
      [{ id: "h", audience: "secret", hidden: true }, { id: "v", audience: "team", hidden: false }]
    )
    assert.deepStrictEqual(plan.corrections.map((c) => [c.audience, c.rows.map((r) => r.rowId), c.restates]), [
      [null, ["y"], ["w"]],
      ["secret", [], ["h"]],
      ["team", ["z"], ["v", "x"]]
    ])
    assert.deepStrictEqual(plan.adoptions.map((a) => a.rowId), ["a", "b"])
  })
})
