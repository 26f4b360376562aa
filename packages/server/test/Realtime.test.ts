/**
 * Realtime on PGlite: subscriptions over a real `SyncService` (real uploads, PGlite's LISTEN),
 * with the safety re-check and the pings set far beyond each test's timeouts, so every page a
 * test waits for is delivered by a commit's NOTIFY.
 */
import { assert, layer } from "@effect/vitest"
import { type SyncProtocol, type SyncRpc, SyncServer } from "@reprise/core"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Realtime } from "../src/index.js"
import { failureOf } from "./suites/helpers.js"
import { collectUntil, makeWorld, range, seqs } from "./RealtimeWorld.js"

const caller = (userId: string): SyncRpc.CallerShape => ({ userId, claims: { sub: userId }, expiresAtMs: null })

/** Far beyond every wait of these tests: pages arrive through NOTIFY or not at all. */
const quiet: Realtime.Options = { recheckInterval: "10 minutes", pingInterval: "10 minutes" }

/** A realtime service on PGlite's LISTEN, serving `server`, running until the scope closes. */
const realtimeOn = (server: SyncServer.SyncServerShape, options: Realtime.Options = quiet) =>
  Effect.gen(function*() {
    const client = yield* PgliteClient.PgliteClient
    return yield* Realtime.make(client.listen, options).pipe(Effect.provideService(SyncServer.SyncServer, server))
  })

layer(PgliteClient.layer({}), { excludeTestServices: true, timeout: "120 seconds" })("Realtime: PGlite", (it) => {
  /** Verifies: R-SRV-5 (catch-up, then live pages without polling), R-SYNC-9 (pages of at most `limit`) */
  it.scoped("pages what was committed before subscribing, then each new commit as it lands", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      const realtime = yield* realtimeOn(world.sync)
      yield* realtime.awaitListening
      const start = yield* world.sync.head("reader")
      yield* world.put("writer", "w1", range(5).map((i) => ({ id: `before-${i}`, audience: null })))
      const pages = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
      yield* Effect.forkScoped(
        Stream.runForEach(realtime.subscribe(caller("reader"), { since: start, limit: 2 }), (page) => Queue.offer(pages, page))
      )
      const catchUp = yield* collectUntil(pages, (got) => seqs(got).length === 5, "5 seconds")
      assert.deepStrictEqual(catchUp.map((p) => p.actions.length), [2, 2, 1])
      assert.deepStrictEqual(catchUp.map((p) => p.hasMore), [true, true, false])
      assert.deepStrictEqual(seqs(catchUp), range(5).map((i) => start + i + 1))

      const before = Date.now()
      yield* world.put("writer", "w1", [{ id: "live-1", audience: null }])
      const acknowledged = Date.now()
      const [live] = yield* collectUntil(pages, (got) => seqs(got).length === 1, "5 seconds")
      console.log(
        `[Realtime.test] a live commit reached the subscriber ${Date.now() - before} ms after the upload began, ` +
          `${Date.now() - acknowledged} ms after its answer`
      )
      assert.deepStrictEqual(seqs([live!]), [start + 6])
      assert.strictEqual(live!.next, start + 6)
      assert.strictEqual(live!.head, start + 6)
    }))

  /** Verifies: R-SRV-5 (no gap, no repeat: every sequence once, in order, under concurrent commits) */
  it.scoped("under 6 concurrent uploaders, two subscribers each see every sequence exactly once, in order", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      const realtime = yield* realtimeOn(world.sync)
      yield* realtime.awaitListening
      const start = yield* world.sync.head("reader")
      const fibers = 6
      const uploads = 8
      const perUpload = 2
      const total = fibers * uploads * perUpload
      const subscriber = (userId: string, limit: number, pause: Duration.DurationInput) =>
        Effect.gen(function*() {
          const pages = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
          yield* Effect.forkScoped(Stream.runForEach(
            realtime.subscribe(caller(userId), { since: start, limit }),
            (page) => Effect.zipRight(Queue.offer(pages, page), Effect.sleep(pause))
          ))
          return pages
        })
      const fast = yield* subscriber("reader-fast", 3, "0 millis")
      const slow = yield* subscriber("reader-slow", 5, "15 millis")
      yield* Effect.all(
        range(fibers).map((f) =>
          Effect.forEach(range(uploads), (u) =>
            world.put(`user-${f}`, `client-${f}`, range(perUpload).map((k) => ({ id: `c-${f}-${u}-${k}`, audience: null }))), {
            discard: true
          })
        ),
        { concurrency: "unbounded", discard: true }
      )
      const expected = range(total).map((i) => start + i + 1)
      for (const [name, pages] of [["fast", fast], ["slow", slow]] as const) {
        const got = yield* collectUntil(pages, (all) => seqs(all).length >= total, "20 seconds")
        console.log(`[Realtime.test] ${name} subscriber: ${total} actions in ${got.length} pages`)
        assert.deepStrictEqual(seqs(got), expected, `${name}: every sequence exactly once, in order`)
      }
    }))

  /** Verifies: R-SRV-3 (a subscription shows what fetch shows the caller, nothing outside its audiences) */
  it.scoped("a subscriber receives only the actions of its audiences, and learns the head past the ones it cannot see", () =>
    Effect.gen(function*() {
      const members: Record<string, ReadonlyArray<string>> = { alice: ["team-a"], bob: ["team-b"], carol: ["team-a", "team-b"] }
      const world = yield* makeWorld({ audiences: (userId) => Effect.succeed(members[userId] ?? []) })
      const realtime = yield* realtimeOn(world.sync)
      yield* realtime.awaitListening
      const start = yield* world.sync.head("alice")
      const pages = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
      yield* Effect.forkScoped(
        Stream.runForEach(realtime.subscribe(caller("alice"), { since: start, limit: 50 }), (page) => Queue.offer(pages, page))
      )
      const [first] = yield* collectUntil(pages, (got) => got.length === 1, "5 seconds")
      assert.deepStrictEqual(first!.actions, [], "the first page is sent even when it is empty")
      const plan = [
        { id: "a-1", audience: "team-a" },
        { id: "b-1", audience: "team-b" },
        { id: "p-1", audience: null },
        { id: "b-2", audience: "team-b" }
      ]
      for (const row of plan) yield* world.put("carol", "carol-1", [row])
      const end = start + plan.length
      const got = yield* collectUntil(pages, (all) => all.some((p) => p.next === end), "5 seconds")
      const received = got.flatMap((p) => p.actions)
      const audiencesSeen = received.flatMap((a) => a.patches.map((p) => p.audienceKey))
      assert.notInclude(audiencesSeen, "team-b", "alice never receives a patch of team-b")
      assert.deepStrictEqual(received.map((a) => a.serverSeq), [start + 1, start + 3])
      const last = got[got.length - 1]!
      assert.strictEqual(last.head, end, "the head reaches past the action alice cannot see")
      const fetched = yield* world.sync.fetch("alice", { since: start, limit: 50 })
      assert.deepStrictEqual(received, fetched.actions, "the subscription delivered exactly what fetch returns")
    }))

  /** Verifies: R-SRV-5 (a slow consumer is paged, not buffered: nothing is read ahead of it) */
  it.scoped("a slow consumer gets full pages as it takes them; nothing is read while it holds a page", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      let reads = 0
      const claimsSeen = new Set<string>()
      const counting: SyncServer.SyncServerShape = {
        ...world.sync,
        fetch: (userId, request, claims) =>
          Effect.zipRight(
            Effect.sync(() => {
              reads++
              claimsSeen.add(JSON.stringify(claims))
            }),
            world.sync.fetch(userId, request, claims)
          )
      }
      const realtime = yield* realtimeOn(counting)
      yield* realtime.awaitListening
      const start = yield* world.sync.head("reader")
      const limit = 4
      yield* world.put("writer", "w1", range(12).map((i) => ({ id: `old-${i}`, audience: null })))
      const landed = yield* Deferred.make<void>()
      const received: Array<SyncProtocol.FetchResponse> = []
      let maxAhead = 0
      yield* Effect.forkScoped(
        Stream.runForEach(realtime.subscribe(caller("reader"), { since: start, limit }), (page) =>
          Effect.gen(function*() {
            received.push(page)
            maxAhead = Math.max(maxAhead, reads - received.length)
            // It holds its first page until 20 more commits have landed, then takes 20 ms a page.
            if (received.length === 1) yield* Deferred.await(landed)
            else yield* Effect.sleep("20 millis")
          }))
      )
      while (received.length === 0) yield* Effect.sleep("5 millis")
      const readsBefore = reads
      for (const i of range(20)) yield* world.put("writer", "w1", [{ id: `new-${i}`, audience: null }])
      // Time for the 20 NOTIFYs to arrive and wake whatever would read on them.
      yield* Effect.sleep("300 millis")
      const readsWhileHeld = reads - readsBefore
      yield* Deferred.succeed(landed, undefined)
      while (seqs(received).length < 32) yield* Effect.sleep("10 millis")
      console.log(
        `[Realtime.test] slow consumer: 32 actions in ${received.length} pages of ${received.map((p) => p.actions.length)}, ` +
          `${reads} reads, at most ${maxAhead} page(s) read ahead, ${readsWhileHeld} read(s) while it held a page`
      )
      assert.strictEqual(readsWhileHeld, 0, "20 commits while the consumer held a page caused no read")
      assert.isAtMost(maxAhead, 1, "at most one page read ahead of the consumer")
      assert.deepStrictEqual(seqs(received), range(32).map((i) => start + i + 1))
      assert.deepStrictEqual(received.map((p) => p.actions.length), range(8).map(() => limit), "full pages")
      assert.deepStrictEqual([...claimsSeen], [JSON.stringify({ sub: "reader" })], "every read carries the caller's claims")
    }))

  /** Verifies: R-SRV-5 (a NOTIFY's payload is only a hint: a forged one neither loops the subscriber nor blocks later commits) */
  it.scoped("forged notifications on the head channel cost at most one read each, and later commits still arrive", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      let reads = 0
      const counting: SyncServer.SyncServerShape = {
        ...world.sync,
        fetch: (userId, request, claims) =>
          Effect.zipRight(Effect.sync(() => reads++), world.sync.fetch(userId, request, claims))
      }
      const realtime = yield* realtimeOn(counting)
      yield* realtime.awaitListening
      const since = yield* world.sync.head("reader")
      const pages = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
      yield* Effect.forkScoped(
        Stream.runForEach(realtime.subscribe(caller("reader"), { since, limit: 10 }), (page) => Queue.offer(pages, page))
      )
      yield* collectUntil(pages, (got) => got.length === 1, "5 seconds")
      const before = reads
      // Any role may NOTIFY any channel: a head far ahead, garbage, another process's ping.
      for (const payload of ["999999999999", "not a head", "ping:someone:1", String(since)]) {
        yield* world.sql`SELECT pg_notify('reprise_server_head', ${payload})`
      }
      yield* Effect.sleep("300 millis")
      assert.isAtMost(reads - before, 1, "one read for the forged head, none for the rest")
      assert.strictEqual(yield* Queue.size(pages), 0, "nothing new was sent")
      const { head } = yield* world.put("writer", "w1", [{ id: "after-forgery", audience: null }])
      const got = yield* collectUntil(pages, (all) => all.length === 1, "5 seconds")
      assert.deepStrictEqual(seqs(got), [head])
    }))

  /** Verifies: R-SRV-5 (the safety re-check: with a LISTEN that hears nothing, commits still arrive, at its pace) */
  it.scoped("when the LISTEN hears nothing (as behind a transaction pooler), the re-check still delivers and it reports not listening", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      const client = yield* PgliteClient.PgliteClient
      // A real LISTEN, on a channel nothing is sent to: no ping comes back, no commit is heard.
      const deaf: Realtime.Listen = (channel) => client.listen(`${channel}_deaf`)
      const realtime = yield* Realtime.make(deaf, { recheckInterval: "400 millis", pingTimeout: "200 millis" }).pipe(
        Effect.provideService(SyncServer.SyncServer, world.sync)
      )
      const since = yield* world.sync.head("reader")
      const pages = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
      yield* Effect.forkScoped(
        Stream.runForEach(realtime.subscribe(caller("reader"), { since, limit: 10 }), (page) => Queue.offer(pages, page))
      )
      yield* collectUntil(pages, (got) => got.length === 1, "5 seconds")
      const { head } = yield* world.put("writer", "w1", [{ id: "heard-by-recheck", audience: null }])
      const got = yield* collectUntil(pages, (all) => seqs(all).length === 1, "5 seconds")
      assert.deepStrictEqual(seqs(got), [head])
      assert.isFalse(yield* realtime.isListening, "it says it is not listening")
    }))

  /** Verifies: R-SRV-7 (subscriptions per user are limited; a closed stream frees its slot) */
  it.scoped("a user holds at most maxSubscriptionsPerUser subscriptions; closing one frees its slot", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      const realtime = yield* realtimeOn(world.sync, { ...quiet, maxSubscriptionsPerUser: 2 })
      const since = yield* world.sync.head("limited")
      const open = (userId: string) =>
        Effect.gen(function*() {
          const first = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
          const fiber = yield* Effect.forkScoped(
            Stream.runForEach(realtime.subscribe(caller(userId), { since, limit: 10 }), (p) => Queue.offer(first, p))
          )
          yield* Queue.take(first)
          return fiber
        })
      const one = yield* open("limited")
      yield* open("limited")
      const third = yield* Effect.exit(Stream.runHead(realtime.subscribe(caller("limited"), { since, limit: 10 })))
      const refused = failureOf(third)
      assert.strictEqual(refused._tag, "LimitExceeded")
      assert.deepStrictEqual(refused._tag === "LimitExceeded" ? [refused.limit, refused.max] : [], ["subscriptionsPerUser", 2])
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(open("someone-else"))), "other users are not affected")
      yield* Fiber.interrupt(one)
      yield* open("limited")
      // A stream that ended (here after its first page) frees its slot too; so does a rejected request.
      const rejected = yield* Effect.exit(Stream.runHead(realtime.subscribe(caller("other"), { since: -1, limit: 10 })))
      assert.strictEqual(failureOf(rejected)._tag, "FetchRejected")
      for (const _ of range(3)) {
        const page = yield* Stream.runHead(realtime.subscribe(caller("other"), { since, limit: 10 }))
        assert.isTrue(page._tag === "Some")
      }
    }))

  /** Verifies: R-SRV-5 (shutdown ends every subscription stream) */
  it.scoped("closing the service's scope ends every subscription stream", () =>
    Effect.gen(function*() {
      const world = yield* makeWorld()
      const scope = yield* Scope.make()
      const realtime = yield* realtimeOn(world.sync).pipe(Scope.extend(scope))
      const since = yield* world.sync.head("a")
      const started = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
      const streams = yield* Effect.forEach(["a", "b", "a"], (userId) =>
        Effect.fork(Stream.runCollect(Stream.tap(realtime.subscribe(caller(userId), { since, limit: 10 }), (p) => Queue.offer(started, p)))))
      for (const _ of streams) yield* Queue.take(started)
      yield* Scope.close(scope, Exit.void)
      for (const fiber of streams) {
        const exit = yield* Fiber.await(fiber).pipe(Effect.timeout("5 seconds"))
        assert.isTrue(Exit.isSuccess(exit), "the stream ended normally")
        if (Exit.isSuccess(exit)) assert.strictEqual(Chunk.size(exit.value), 1)
      }
    }))
})

