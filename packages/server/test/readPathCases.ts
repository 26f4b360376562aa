/**
 * The server's read path, on any database (PGlite and real Postgres): a fetch and a head are
 * each ONE statement (`reprise_server.read_page` / `read_head`), with no transaction block
 * around them, and inside a caller's transaction they read what that transaction wrote, in a
 * savepoint of it.
 */
import { assert, layer } from "@effect/vitest"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { SyncProtocol } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { failureOf, request, setupServer, wire } from "./suites/helpers.js"

/** A span the database client opened: its name and, for a statement, its SQL. */
export interface Opened {
  readonly name: string
  readonly query: string | undefined
}

/** Runs `effect` with a tracer that records every span opened under it. */
export const recordSpans = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const opened: Array<{ readonly name: string; readonly attributes: Map<string, unknown> }> = []
    let ids = 0
    const tracer = Tracer.make({
      span: (name, parent, context, links, startTime, kind) => {
        const attributes = new Map<string, unknown>()
        opened.push({ name, attributes })
        const spanId = `read-path-${++ids}`
        const span: Tracer.Span = {
          _tag: "Span",
          name,
          spanId,
          traceId: Option.match(parent, { onNone: () => spanId, onSome: (p) => p.traceId }),
          parent,
          context,
          status: { _tag: "Started", startTime },
          attributes,
          links: [...links],
          sampled: true,
          kind,
          end: () => undefined,
          attribute: (key, value) => {
            attributes.set(key, value)
          },
          event: () => undefined,
          addLinks: () => undefined
        }
        return span
      },
      context: (f) => f()
    })
    const value = yield* Effect.withTracer(effect, tracer)
    const spans: ReadonlyArray<Opened> = opened.map((s) => {
      const query = s.attributes.get("db.query.text")
      return { name: s.name, query: typeof query === "string" ? query : undefined }
    })
    return { value, spans }
  })

/** The statements and transactions among `spans`. */
export const databaseWork = (spans: ReadonlyArray<Opened>) => ({
  statements: spans.filter((s) => s.name === "sql.execute").map((s) => s.query ?? ""),
  transactions: spans.filter((s) => s.name === "sql.transaction").length
})

class Abandon extends Data.TaggedError("Abandon") {}

/** The cases, on the database `database` provides (a fresh one per suite). */
export const readPathSuite = (name: string, database: Layer.Layer<SqlClient.SqlClient, SqlError>) =>
  layer(database, { timeout: "120 seconds", excludeTestServices: true })(`SyncService: the read path (${name})`, (it) => {
    /** Verifies: R-SYNC-9 */
    it.effect("a fetch and a head are each one statement, with no transaction block around it", () =>
      Effect.gen(function*() {
        const { sync, table } = yield* setupServer()
        const now = yield* Clock.currentTimeMillis
        const basis = yield* sync.head("alice")
        const stored = wire({ clientId: "rp-a", userId: "alice", wallMs: now, patches: [{ op: "INSERT", table, rowId: "one", forward: { id: "one" }, reverse: null }] })
        yield* sync.upload("alice", request("rp-a", basis, [stored]))

        const fetched = yield* recordSpans(sync.fetch("bob", { since: basis, limit: 10 }))
        assert.deepStrictEqual(fetched.value.actions.map((a) => a.id), [stored.id])
        assert.strictEqual(fetched.value.next, basis + 1)
        const fetchWork = databaseWork(fetched.spans)
        assert.strictEqual(fetchWork.transactions, 0)
        assert.strictEqual(fetchWork.statements.length, 1, fetchWork.statements.join("\n---\n"))
        assert.include(fetchWork.statements[0], "reprise_server.read_page(")

        const head = yield* recordSpans(sync.head("bob"))
        assert.strictEqual(head.value, basis + 1)
        const headWork = databaseWork(head.spans)
        assert.strictEqual(headWork.transactions, 0)
        assert.strictEqual(headWork.statements.length, 1, headWork.statements.join("\n---\n"))
      }))

    /** Verifies: R-SYNC-9, R-SYNC-7 */
    it.effect("inside a caller's transaction a fetch reads what it wrote, a rejected cursor leaves it usable, and its rollback takes everything back", () =>
      Effect.gen(function*() {
        const { sql, sync, table } = yield* setupServer()
        const now = yield* Clock.currentTimeMillis
        const basis = yield* sync.head("alice")
        const inside = (id: string, wallMs: number) =>
          wire({ clientId: "rp-tx", userId: "alice", wallMs, patches: [{ op: "INSERT", table, rowId: id, forward: { id }, reverse: null }] })

        // Rolled back: the caller's transaction fails after the service's reads.
        const abandoned = inside("abandoned", now)
        const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* sync.upload("alice", request("rp-tx", basis, [abandoned]))
          const page = yield* sync.fetch("bob", { since: basis, limit: 10 })
          assert.deepStrictEqual(page.actions.map((a) => a.id), [abandoned.id])
          assert.strictEqual(page.head, basis + 1)
          return yield* new Abandon()
        })))
        assert.instanceOf(failureOf(exit), Abandon)
        assert.strictEqual(yield* sync.head("bob"), basis)
        assert.deepStrictEqual((yield* sync.fetch("bob", { since: basis, limit: 10 })).actions, [])

        // Committed: a rejected cursor inside is the caller's to handle; the transaction goes on.
        const kept = inside("kept", now + 1)
        const inTransaction = yield* recordSpans(sql.withTransaction(Effect.gen(function*() {
          yield* sync.upload("alice", request("rp-tx", basis, [kept]))
          const rejected = yield* Effect.exit(sync.fetch("bob", { since: basis + 5, limit: 10 }))
          assert.instanceOf(failureOf(rejected), SyncProtocol.FetchRejected)
          const page = yield* sync.fetch("bob", { since: basis, limit: 10 })
          const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`
          return { page, rows: row?.n, head: yield* sync.head("bob") }
        })))
        const { page, rows, head } = inTransaction.value
        assert.deepStrictEqual(page.actions.map((a) => a.id), [kept.id])
        assert.strictEqual(page.next, basis + 1)
        assert.isFalse(page.hasMore)
        assert.strictEqual(rows, 1)
        assert.strictEqual(head, basis + 1)
        assert.isTrue(
          databaseWork(inTransaction.spans).statements.some((q) => q.includes("reprise_server.read_page(")),
          "the fetch inside the transaction ran read_page"
        )
        const after = yield* sync.fetch("carol", { since: basis, limit: 10 })
        assert.deepStrictEqual(after.actions.map((a) => a.id), [kept.id])
        assert.strictEqual(yield* sync.head("carol"), basis + 1)
      }))
  })
