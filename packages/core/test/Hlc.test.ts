/**
 * Hybrid logical clock: monotonicity, merge, the total order, the encoding, drift refusal, and
 * the SQL sort of the encoding on PGlite. Properties run 10,000 times each from one printed
 * seed (`REPRISE_SEED=<n>` replays a run).
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import fc from "fast-check"
import * as Hlc from "../src/Hlc.js"
import { seedFor, sqlSortsLikeOrder } from "./suites/hlcSql.js"

const seed = seedFor("Hlc.test")
const runs = { numRuns: 10_000, seed }

const id = (s: string): Hlc.NodeId => Hlc.NodeId.make(s)
const hlc = (wallMs: number, counter: number, nodeId: string): Hlc.Hlc => new Hlc.Hlc({ wallMs, counter, nodeId: id(nodeId) })

// Node ids that are prefixes of each other and mix every character class, where a collation
// that is not bytewise would disagree with `Order`.
const trickyIds = ["a", "a-", "a_", "a0", "aZ", "aB", "ab", "a-b", "a_b", "A", "Z", "z", "-", "_", "0", "9", "--", "__"]
const idChars = [..."abzABZ019_-"]
const nodeIdArb = fc.oneof(
  fc.constantFrom(...trickyIds),
  fc.array(fc.constantFrom(...idChars), { minLength: 1, maxLength: 64 }).map((cs) => cs.join(""))
).map(id)
const counterArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: Hlc.MAX_COUNTER - 3, max: Hlc.MAX_COUNTER }), fc.integer({ min: 0, max: Hlc.MAX_COUNTER }))
const wallArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: Hlc.MAX_WALL_MS }), fc.constant(Hlc.MAX_WALL_MS))
const hlcArb = fc.record({ wallMs: wallArb, counter: counterArb, nodeId: nodeIdArb }).map((f) => new Hlc.Hlc(f))
// A small domain, so that equal walls, equal counters and equal timestamps are frequent.
const tiedArb = fc.record({
  wallMs: fc.integer({ min: 0, max: 2 }),
  counter: fc.integer({ min: 0, max: 2 }),
  nodeId: fc.constantFrom("a", "a-", "a_", "A", "b").map(id)
}).map((f) => new Hlc.Hlc(f))
const anyHlcArb = fc.oneof(tiedArb, hlcArb)

const NOW = 1_732_406_400_000
const clamp = (ms: number) => Math.min(Math.max(ms, 0), Hlc.MAX_WALL_MS)
const sign = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

describe("Hlc clock", () => {
  /** Verifies: R-SYNC-2 */
  it("is strictly monotonic per node under random and backward-jumping physical clocks", () => {
    const jumpArb = fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3_600_000, max: 3_600_000 }), fc.constant(-86_400_000))
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant("send" as const), jump: jumpArb }),
      fc.record({ kind: fc.constant("receive" as const), jump: jumpArb, lead: fc.integer({ min: -600_000, max: 600_000 }), counter: counterArb, nodeId: nodeIdArb })
    )
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 * NOW }), counterArb, nodeIdArb, fc.array(opArb, { maxLength: 30 }), (start, counter, nodeId, ops) => {
        let physical = start
        let clock = new Hlc.Hlc({ wallMs: start, counter, nodeId })
        for (const op of ops) {
          physical += op.jump
          let next = clock
          if (op.kind === "send") {
            next = Hlc.send(clock, physical)
            assert.isAtLeast(next.wallMs, clamp(physical))
          } else {
            const remote = new Hlc.Hlc({ wallMs: clamp(physical + op.lead), counter: op.counter, nodeId: op.nodeId })
            const merged = Hlc.receive(clock, remote, physical)
            assert.strictEqual(Either.isLeft(merged), remote.wallMs - clamp(physical) > Hlc.DEFAULT_MAX_DRIFT_MS)
            if (Either.isLeft(merged)) continue
            next = merged.right
            assert.strictEqual(Hlc.compare(next, remote), 1)
          }
          assert.strictEqual(Hlc.compare(next, clock), 1)
          assert.strictEqual(next.nodeId, clock.nodeId)
          clock = next
        }
      }),
      runs
    )
  })

  /** Verifies: R-SYNC-2 */
  it("receive yields a timestamp greater than both inputs, with the local node id", () => {
    const nowArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: Hlc.MAX_WALL_MS - 1 }))
    const belowCeilingArb = anyHlcArb.filter((h) => h.wallMs < Hlc.MAX_WALL_MS)
    fc.assert(
      fc.property(belowCeilingArb, belowCeilingArb, nowArb, (local, remote, now) => {
        const merged = Either.getOrThrow(Hlc.receive(local, remote, now, { maxDriftMs: Infinity }))
        assert.strictEqual(Hlc.compare(merged, local), 1)
        assert.strictEqual(Hlc.compare(merged, remote), 1)
        assert.isAtLeast(merged.wallMs, now)
        assert.strictEqual(merged.nodeId, local.nodeId)
        assert.deepStrictEqual(Hlc.max(Hlc.max(local, remote), merged), merged)
      }),
      runs
    )
  })

  /** Verifies: R-SYNC-8 */
  it("refuses a remote clock exactly when it is more than maxDrift ahead", () => {
    const driftArb = fc.oneof(fc.constant(undefined), fc.constant(0), fc.integer({ min: 0, max: 10_000_000 }))
    const deltaArb = fc.oneof(fc.integer({ min: -2, max: 2 }), fc.integer({ min: -10_000_000, max: 10_000_000 }))
    fc.assert(
      fc.property(tiedArb, fc.integer({ min: 0, max: 2 * NOW }), driftArb, deltaArb, counterArb, (local, now, maxDriftMs, delta, counter) => {
        const allowed = maxDriftMs ?? Hlc.DEFAULT_MAX_DRIFT_MS
        const remote = hlc(clamp(now + allowed + delta), counter, "remote-1")
        const merged = Hlc.receive(local, remote, now, maxDriftMs === undefined ? undefined : { maxDriftMs })
        const driftMs = remote.wallMs - now
        assert.strictEqual(Either.isLeft(merged), driftMs > allowed)
        if (Either.isLeft(merged)) {
          assert.deepStrictEqual(merged.left, new Hlc.ClockDriftError({ remote, localPhysicalMs: now, maxDriftMs: allowed, driftMs }))
        }
      }),
      runs
    )
  })

  /** Verifies: R-SYNC-8 */
  it.effect("fails receiveNow with a ClockDriftError that names the clocks and round-trips as Schema", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW)
      const local = hlc(NOW, 0, "local")
      const remote = hlc(NOW + Hlc.DEFAULT_MAX_DRIFT_MS + 1, 7, "remote-1")
      const error = yield* Effect.flip(Hlc.receiveNow(local, remote))
      assert.strictEqual(error._tag, "ClockDriftError")
      assert.strictEqual(error.driftMs, Hlc.DEFAULT_MAX_DRIFT_MS + 1)
      assert.include(error.message, `node "remote-1" is 300001 ms ahead`)
      assert.include(error.message, "allowed 300000 ms")
      // The failure carries a tracing span, so it is compared through its wire form.
      const wire = Schema.encodeSync(Hlc.ClockDriftError)(error)
      assert.deepStrictEqual(wire, { _tag: "ClockDriftError", remote: { wallMs: remote.wallMs, counter: 7, nodeId: "remote-1" }, localPhysicalMs: NOW, maxDriftMs: 300_000, driftMs: 300_001 })
      const decoded = Schema.decodeUnknownSync(Hlc.ClockDriftError)(wire)
      assert.deepStrictEqual(Schema.encodeSync(Hlc.ClockDriftError)(decoded), wire)
      assert.strictEqual(decoded.message, error.message)
      // At exactly maxDrift ahead the remote is accepted.
      const accepted = yield* Hlc.receiveNow(local, hlc(NOW + 1000, 7, "remote-1"), { maxDriftMs: 1000 })
      assert.deepStrictEqual(accepted, hlc(NOW + 1000, 8, "local"))
      assert.deepStrictEqual(yield* Hlc.sendNow(Hlc.zero(id("n"))), hlc(NOW, 0, "n"))
    }))

  /** Verifies: R-SYNC-2 */
  it("moves the wall 1 ms forward when the counter overflows, and dies at the ceiling", () => {
    assert.deepStrictEqual(Hlc.send(hlc(5, Hlc.MAX_COUNTER, "n"), 3), hlc(6, 0, "n"))
    assert.deepStrictEqual(Either.getOrThrow(Hlc.receive(hlc(5, 1, "n"), hlc(5, Hlc.MAX_COUNTER, "m"), 0)), hlc(6, 0, "n"))
    assert.deepStrictEqual(Hlc.send(hlc(5, 9, "n"), Number.NaN), hlc(5, 10, "n"))
    assert.deepStrictEqual(Hlc.send(hlc(5, 9, "n"), 7.9), hlc(7, 0, "n"))
    const last = hlc(Hlc.MAX_WALL_MS, Hlc.MAX_COUNTER, "n")
    assert.throws(() => Hlc.send(last, Hlc.MAX_WALL_MS), Hlc.HlcOverflowError)
  })
})

describe("Hlc order and encoding", () => {
  /** Verifies: R-SYNC-2 */
  it("is a total, antisymmetric and transitive order", () => {
    fc.assert(
      fc.property(anyHlcArb, anyHlcArb, anyHlcArb, (a, b, c) => {
        assert.strictEqual(Hlc.compare(a, a), 0)
        assert.strictEqual(Hlc.compare(a, b), -Hlc.compare(b, a) || 0)
        if (Hlc.compare(a, b) <= 0 && Hlc.compare(b, a) <= 0) {
          assert.deepStrictEqual(a, b)
          assert.isTrue(Hlc.equals(a, b) && Equal.equals(a, b))
        }
        if (Hlc.compare(a, b) <= 0 && Hlc.compare(b, c) <= 0) assert.isAtMost(Hlc.compare(a, c), 0)
        if (Hlc.compare(a, b) < 0 && Hlc.compare(b, c) < 0) assert.strictEqual(Hlc.compare(a, c), -1)
      }),
      runs
    )
  })

  /** Verifies: R-SYNC-2 */
  it("decodes what it encodes, and the encoding sorts (as strings and as bytes) like Order", () => {
    fc.assert(
      fc.property(anyHlcArb, anyHlcArb, (a, b) => {
        const ea = Hlc.encode(a)
        const eb = Hlc.encode(b)
        assert.deepStrictEqual(Hlc.decode(ea), Either.right(a))
        assert.strictEqual(Schema.encodeSync(Hlc.HlcFromString)(a), ea)
        assert.strictEqual(sign(ea, eb), Hlc.compare(a, b))
        // What Postgres' "C" collation does: memcmp over the UTF-8 bytes.
        assert.strictEqual(Math.sign(Buffer.compare(Buffer.from(ea, "utf8"), Buffer.from(eb, "utf8"))), Hlc.compare(a, b))
      }),
      runs
    )
  })

  /** Verifies: R-SYNC-2 */
  it("decodes only canonical encodings, so each timestamp has exactly one string", () => {
    const mutated = fc.tuple(anyHlcArb, fc.nat(), fc.string({ maxLength: 3 })).map(([h, at, insert]) => {
      const s = Hlc.encode(h)
      const i = at % (s.length + 1)
      return s.slice(0, i) + insert + s.slice(i + (at % 2))
    })
    fc.assert(
      fc.property(fc.oneof(fc.string(), mutated), (s) => {
        const decoded = Hlc.decode(s)
        if (Either.isRight(decoded)) assert.strictEqual(Hlc.encode(decoded.right), s)
      }),
      runs
    )
    for (const bad of ["", "1.2.a", "000000000000001.65536.a", "000000000000001.00000.", "000000000000001.00000.é", "000000000000001.00000.a.b", `000000000000001.00000.${"a".repeat(65)}`, "00000000000001a.00000.a"]) {
      assert.isTrue(Either.isLeft(Hlc.decode(bad)), bad)
    }
    assert.strictEqual(Hlc.encode(hlc(1_732_406_400_000, 3, "replica-1")), "001732406400000.00003.replica-1")
  })
})

// Timestamps that sort differently under a linguistic collation: mixed case, `-` and `_`.
const sqlSetArb = fc.array(fc.oneof(tiedArb, fc.record({ wallMs: fc.integer({ min: 0, max: 5 }), counter: fc.integer({ min: 0, max: 3 }), nodeId: nodeIdArb }).map((f) => new Hlc.Hlc(f)), hlcArb), { minLength: 200, maxLength: 500 })


layer(PgliteClient.layer({}), { excludeTestServices: true, timeout: "60 seconds" })("Hlc in SQL (PGlite)", (it) => {
  /** Verifies: R-SYNC-2 */
  it.effect("ORDER BY on a text COLLATE \"C\" column equals the TypeScript sort, on random sets", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE hlc_sort (encoded ${sql.literal(Hlc.SQL_TYPE)} NOT NULL)`
      const runtime = yield* Effect.runtime<SqlClient.SqlClient>()
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(sqlSetArb, (hlcs) => Runtime.runPromise(runtime)(sqlSortsLikeOrder(hlcs))), { numRuns: 20, seed })
      )
    }))

  /** Verifies: R-SYNC-2 */
  it.effect("a linguistic collation would not sort like Order, which is why the column is C", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const hlcs = ["a", "A", "a-b", "ab", "a_b", "aB", "-", "_"].map((n) => Hlc.encode(hlc(NOW, 0, n)))
      const values = sql.csv(hlcs.map((h) => sql`(${h})`))
      const sorted = (collation: string) =>
        sql<{ encoded: string }>`SELECT encoded FROM (VALUES ${values}) AS t(encoded) ORDER BY encoded COLLATE ${sql(collation)}`.pipe(
          Effect.map((rows) => rows.map((r) => r.encoded))
        )
      assert.deepStrictEqual(yield* sorted("C"), [...hlcs].sort())
      assert.notDeepEqual(yield* sorted("und-x-icu"), [...hlcs].sort())
    }))
})
