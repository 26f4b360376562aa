/**
 * Hostile clients on PGlite (R-SRV-7): the hostile-request cases (`hostileCases.ts`), and a
 * hostile client sending seeded garbage while two honest replicas keep acting and syncing.
 */
import { assert, describe, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { ActionExecutor, SyncProtocol } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { hostileCaseTests } from "./hostileCases.js"
import { garbageGenerator, seededRandom, seedOf } from "./hostileGarbage.js"
import {
  bumpAll,
  createNote,
  fetchRaw,
  notesOf,
  renameNote,
  type ReplicaContext,
  replicaNotes,
  run,
  startReplica,
  startServer,
  syncReplica,
  uploadRaw
} from "./hostileWorld.js"

const ROUNDS = 30
const GARBAGE_PER_ROUND = 25

/** How a request was answered, for the tally: the error's tag and reason, or what went wrong. */
const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ACCEPTED"
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") return `DEFECT ${Cause.pretty(exit.cause).slice(0, 200)}`
  const error = failure.value
  if (error instanceof SyncProtocol.UploadRejected) return `UploadRejected/${error.reason}`
  if (error instanceof SyncProtocol.FetchRejected) return "FetchRejected"
  if (error instanceof SyncProtocol.BehindHead) return "BehindHead"
  return typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "untyped"
}

const noteIds = (replica: ReplicaContext) =>
  Effect.provide(
    Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.map(sql<{ id: string }>`SELECT id FROM hostile_notes ORDER BY id`, (rows) => rows.map((r) => r.id))),
    replica
  )

layer(PgliteClient.layer({}), { excludeTestServices: true, timeout: "300 seconds" })("SyncService, hostile clients (PGlite)", (it) => {
  hostileCaseTests(it)

  describe("a hostile client among honest ones (R-SRV-7)", () => {
    /** Verifies: R-SRV-7, R-SYNC-1 (honest replicas converge while garbage is refused) */
    it.effect("seeded garbage is refused with typed errors and never stored; two honest replicas keep converging", () =>
      Effect.scoped(Effect.gen(function*() {
        const seed = seedOf()
        console.log(`[hostile.test] seed ${seed} (replay with REPRISE_SEED=${seed})`)
        const server = yield* startServer({
          audiences: (userId) => Effect.succeed(userId === "mal" ? ["mal-list"] : ["team"])
        })
        const ana = yield* startReplica(server, "ana")
        const ben = yield* startReplica(server, "ben")
        const anaClient = (yield* Effect.provide(ActionExecutor.ActionExecutor, ana)).clientId
        const rand = seededRandom(seed ^ 0x5eed)
        const nextGarbage = garbageGenerator(seed)
        const tally = new Map<string, number>()
        const kinds = new Map<string, number>()
        let honestActions = 0
        let garbage = 0
        const act = (replica: ReplicaContext) =>
          Effect.gen(function*() {
            const roll = rand.int(3)
            const ids = yield* noteIds(replica)
            if (roll === 0 || ids.length === 0) yield* run(replica, createNote, { title: `n${rand.int(1000)}` })
            else if (roll === 1) yield* run(replica, renameNote, { id: rand.pick(ids), title: `r${rand.int(1000)}` })
            else yield* run(replica, bumpAll, {})
            honestActions++
          })
        for (let round = 0; round < ROUNDS; round++) {
          for (const replica of [ana, ben]) {
            if (rand.int(3) > 0) yield* act(replica)
            if (rand.int(2) > 0) yield* syncReplica(replica)
          }
          const [stored] = yield* server.sql<{ id: string }>`
            SELECT id::text AS id FROM reprise_server.actions ORDER BY random() LIMIT 1`
          for (let g = 0; g < GARBAGE_PER_ROUND; g++) {
            const request = nextGarbage({
              hostileUser: "mal",
              hostileClient: "mal-1",
              victimUser: "ana",
              victimClient: anaClient,
              foreignAudience: "team",
              basis: yield* server.sync.head("mal"),
              storedId: stored?.id ?? null,
              nowMs: Date.now()
            })
            const started = performance.now()
            const send: Effect.Effect<unknown, unknown> = request.rpc === "Upload"
              ? uploadRaw(server, "mal", request.body)
              : fetchRaw(server, "mal", request.body)
            const exit = yield* Effect.exit(send)
            const ms = performance.now() - started
            const outcome = outcomeOf(exit)
            garbage++
            tally.set(outcome, (tally.get(outcome) ?? 0) + 1)
            kinds.set(request.kind, (kinds.get(request.kind) ?? 0) + 1)
            assert.isTrue(
              outcome.startsWith("UploadRejected/") || outcome === "FetchRejected",
              `garbage #${garbage} (${request.kind}) was answered ${outcome}`
            )
            assert.isBelow(ms, 2000, `garbage #${garbage} (${request.kind}) took ${ms} ms`)
          }
        }
        for (const replica of [ana, ben, ana, ben]) yield* syncReplica(replica)
        const canonical = yield* notesOf(server.sql)
        assert.deepStrictEqual(yield* replicaNotes(ana), canonical)
        assert.deepStrictEqual(yield* replicaNotes(ben), canonical)
        const [log] = yield* server.sql<{ honest: number; other: number }>`
          SELECT count(*) FILTER (WHERE user_id IN ('ana', 'ben') AND kind = 'action')::int AS honest,
                 count(*) FILTER (WHERE user_id IS NULL OR user_id NOT IN ('ana', 'ben', 'alice', 'bob', 'u1'))::int AS other
          FROM reprise_server.actions`
        assert.strictEqual(log?.other, 0, "nothing of the garbage is in the log")
        // Corrections the honest replicas made (kind 'correction') come on top of their actions.
        assert.strictEqual(log?.honest, honestActions, "every honest action is in the log, once")
        const [garbageRows] = yield* server.sql<{ n: number }>`
          SELECT count(*)::int AS n FROM hostile_notes WHERE id LIKE 'garbage-%'`
        assert.strictEqual(garbageRows?.n, 0, "no garbage row was materialized")
        console.log(`[hostile.test] ${garbage} garbage requests (${kinds.size} kinds), ${honestActions} honest actions; outcomes:`)
        for (const [outcome, n] of [...tally].sort()) console.log(`[hostile.test]   ${outcome}: ${n}`)
      })), 300_000)
  })
})
