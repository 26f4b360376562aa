/**
 * The transport contract suite (issue 16, item 2): one set of cases every transport a client
 * syncs through must pass, run against `Transport.webSocket`, `Transport.http` and the server's
 * in-process transport (the cases about the connection only where there is one). A real
 * server on PGlite listens on loopback; network transports reach it through a TCP proxy the
 * cases cut and restore.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { SyncEngine, SyncTransport } from "@reprise/core"
import { ActionExecutor } from "@reprise/core"
import { Auth, SyncRpcServer, type SyncService } from "@reprise/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestContext from "effect/TestContext"
import { Connection, type ConnectionShape, type ConnectionState, NotConnected, Offline } from "../src/Connection.js"
import { Inspect } from "../src/Inspect.js"
import type { GetToken } from "../src/Transport.js"
import { insert, request, wire } from "../../server/test/suites/helpers.js"
import * as Proxy from "./proxy.js"
import { addNote, noteIds, replicaLayer, secret, serverLayer } from "./syncWorld.js"

/** A transport under test. */
export interface Subject {
  readonly name: string
  /** Whether it provides a `Connection` (the network transports). */
  readonly connection: boolean
  /** Its layer for a user signed in through `getToken`, reaching the server on 127.0.0.1:`port`. */
  readonly layer: (
    port: number,
    getToken: GetToken
  ) => Layer.Layer<SyncTransport.SyncTransport | Connection, never, SyncService.SyncService>
  /** For in-process transports, the user the calls are made as (they take no token). */
  readonly userOf?: (userId: string) => Layer.Layer<SyncTransport.SyncTransport, never, SyncService.SyncService>
}

/** A valid token for `userId`, counting the calls in `count`. */
const counted = (userId: string, count: { n: number }): GetToken => () => {
  count.n += 1
  return Effect.runPromise(Effect.orDie(Auth.issueDevToken({ secret, userId })))
}

/** A token that expired long ago (issued at the epoch). */
const expiredToken = (userId: string) =>
  Effect.runPromise(Auth.issueDevToken({ secret, userId }).pipe(Effect.orDie, Effect.provide(TestContext.TestContext)))

/** Waits (at most 20 s) for the connection in context to reach `state`. */
export const awaitState = (state: ConnectionState) => Effect.flatMap(Connection, (c) => awaitStateOf(c, state))

/** Waits (at most 20 s) for `connection` to reach `state`. */
export const awaitStateOf = (connection: ConnectionShape, state: ConnectionState) =>
    connection.changes.pipe(Stream.filter((s) => s === state), Stream.runHead, Effect.timeoutFail({
      duration: "20 seconds",
      onTimeout: () => new Error(`the connection did not become ${state} within 20 s`)
    }), Effect.orDie)

/** Runs `f` on a replica of `userId` whose transport is `transport`, built and closed around it. */
const onReplica = <A, E>(
  transport: Layer.Layer<SyncTransport.SyncTransport | Connection, never, SyncService.SyncService>,
  userId: string,
  f: Effect.Effect<
    A,
    E,
    SyncTransport.SyncTransport | Connection | SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | Inspect | SqlClient.SqlClient | SyncService.SyncService
  >
) =>
  Effect.flatMap(Effect.context<SyncService.SyncService>(), (server) =>
    Effect.scoped(Effect.flatMap(
      Layer.build(replicaLayer<SyncTransport.SyncTransport | Connection>(userId, transport.pipe(Layer.provide(Layer.succeedContext(server))))),
      (context) => Effect.provide(f, Context.merge(server, context))
    )))

/** Runs `f` on `transport` alone (no replica), built with the server's services and closed around it. */
const onTransport = <A, E, T>(
  transport: Layer.Layer<T, never, SyncService.SyncService>,
  f: Effect.Effect<A, E, T | SyncService.SyncService>
) =>
  Effect.flatMap(Effect.context<SyncService.SyncService>(), (server) =>
    Effect.scoped(Effect.flatMap(
      Layer.build(transport.pipe(Layer.provide(Layer.succeedContext(server)))),
      (context) => Effect.provide(f, Context.merge(server, context))
    )))

/** `onReplica` for a transport that may have no connection. */
const onAnyReplica = <A, E>(
  transport: Layer.Layer<SyncTransport.SyncTransport, never, SyncService.SyncService>,
  userId: string,
  f: Effect.Effect<A, E, SyncTransport.SyncTransport | SyncEngine.SyncEngine | ActionExecutor.ActionExecutor | Inspect | SqlClient.SqlClient>
) =>
  Effect.flatMap(Effect.context<SyncService.SyncService>(), (server) =>
    Effect.scoped(Effect.flatMap(
      Layer.build(replicaLayer(userId, transport.pipe(Layer.provide(Layer.succeedContext(server))))),
      (context) => Effect.provide(f, context)
    )))

let noteCounter = 0
const nextNote = (prefix: string) => `${prefix}-${process.pid}-${++noteCounter}`

/** The cause a transport failure carries. */
const causeOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  return failure !== null && typeof failure === "object" && "cause" in failure ? failure.cause : undefined
}

/** Registers the contract's cases for `subject`. */
export const transportContract = (subject: Subject) =>
  layer(serverLayer, { excludeTestServices: true, timeout: "120 seconds" })(`transport contract: ${subject.name}`, (it) => {
    /** A transport of `subject` for `userId` through `proxy` (direct for in-process transports). */
    const transportFor = (
      port: number,
      userId: string,
      count: { n: number } = { n: 0 }
    ): Layer.Layer<SyncTransport.SyncTransport | Connection, never, SyncService.SyncService> =>
      subject.layer(port, counted(userId, count))
    /** The transport of the case that runs on every subject. */
    const anyTransportFor = (port: number, userId: string): Layer.Layer<SyncTransport.SyncTransport, never, SyncService.SyncService> =>
      subject.userOf !== undefined ? subject.userOf(userId) : transportFor(port, userId)

    const withProxy = <A, E, R>(f: (proxy: Proxy.Proxy) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(Effect.serviceOption(SyncRpcServer.Address), (address) =>
        Effect.acquireUseRelease(
          Effect.promise(() => Proxy.start(Option.match(address, { onNone: () => 1, onSome: (a) => a.port }))),
          f,
          (proxy) => Effect.promise(() => proxy.close())
        ))

    const onlineIfNetwork = Effect.flatMap(Effect.serviceOption(Connection), (c) =>
      Option.isSome(c) ? Effect.asVoid(awaitStateOf(c.value, "online")) : Effect.void)

    /** Verifies: R-CLI-4 (a transport carries a replica's actions to the server and back to another replica) */
    it.effect("carries an action from one replica through the server to another", () =>
      withProxy((proxy) => Effect.gen(function*() {
        const id = nextNote("roundtrip")
        yield* onAnyReplica(anyTransportFor(proxy.port, "alice"), "alice", Effect.gen(function*() {
          yield* onlineIfNetwork
          yield* ActionExecutor.execute(addNote, { id, body: "from alice" })
          const report = yield* Effect.flatMap(SyncEngine.SyncEngine, (e) => e.sync)
          assert.strictEqual(report.uploaded, 1)
          assert.strictEqual((yield* Effect.flatMap(Inspect, (i) => i.counts)).pending, 0)
        }))
        // Another user reads it back through the same kind of transport.
        const page = yield* onTransport(anyTransportFor(proxy.port, "bob"), Effect.gen(function*() {
          yield* onlineIfNetwork
          return yield* Effect.flatMap(SyncTransport.SyncTransport, (t) => t.fetch({ since: 0, limit: 1000 }))
        }))
        assert.isTrue(page.actions.some((a) => a.tag === addNote.tag && a.patches.some((p) => p.rowId === id)))
      })))

    if (!subject.connection) return

    /** Verifies: R-CLI-4 (the app's offline switch fails calls fast with a typed Offline, loses nothing, and reconnects) */
    it.effect("switched off: calls fail at once with Offline, actions stay pending; switched on: they upload", () =>
      withProxy((proxy) => onReplica(transportFor(proxy.port, "carol"), "carol", Effect.gen(function*() {
        const connection = yield* Connection
        const engine = yield* SyncEngine.SyncEngine
        yield* awaitState("online")
        yield* connection.setEnabled(false)
        yield* awaitState("offline")
        const id = nextNote("switched-off")
        yield* ActionExecutor.execute(addNote, { id, body: "written offline" })
        const failed = yield* Effect.exit(engine.sync)
        assert.instanceOf(causeOf(failed), Offline)
        assert.strictEqual((yield* Effect.flatMap(Inspect, (i) => i.counts)).pending, 1)
        yield* connection.setEnabled(true)
        yield* awaitState("online")
        const report = yield* engine.sync
        assert.strictEqual(report.uploaded, 1)
        assert.strictEqual((yield* Effect.flatMap(Inspect, (i) => i.counts)).pending, 0)
      }))))

    /** Verifies: R-CLI-4 (a dropped network is noticed, and the transport reconnects by itself with a fresh token) */
    it.effect("reconnects by itself after the network is cut, asking for a token again", () =>
      withProxy((proxy) => {
        const tokens = { n: 0 }
        return onReplica(transportFor(proxy.port, "dave", tokens), "dave", Effect.gen(function*() {
          const engine = yield* SyncEngine.SyncEngine
          yield* awaitState("online")
          yield* engine.sync
          const before = tokens.n
          proxy.cut()
          // The socket's loss is noticed by the subscription (WebSocket) or the next call (HTTP).
          const failed = yield* Effect.exit(engine.sync)
          assert.isTrue(Exit.isFailure(failed))
          yield* awaitState("offline")
          const whileDown = yield* Effect.exit(engine.sync)
          assert.instanceOf(causeOf(whileDown), NotConnected)
          proxy.restore()
          yield* awaitState("online")
          assert.isAbove(tokens.n, before)
          const id = nextNote("after-cut")
          yield* ActionExecutor.execute(addNote, { id, body: "after the cut" })
          const report = yield* engine.sync
          assert.strictEqual(report.uploaded, 1)
        }))
      }))

    /** Verifies: R-CLI-4 (a token the server refuses as expired is replaced through getToken and the request retried) */
    it.effect("asks getToken again when the server answers Unauthorized, and retries with the new token", () =>
      withProxy((proxy) => {
        let calls = 0
        const getToken: GetToken = () => {
          calls += 1
          // The first token handed out has expired: the server refuses the connection's probe.
          return calls === 1 ? expiredToken("erin") : Effect.runPromise(Effect.orDie(Auth.issueDevToken({ secret, userId: "erin" })))
        }
        return onReplica(subject.layer(proxy.port, getToken), "erin", Effect.gen(function*() {
          yield* awaitState("online")
          assert.isAtLeast(calls, 2)
          const engine = yield* SyncEngine.SyncEngine
          yield* ActionExecutor.execute(addNote, { id: nextNote("token"), body: "with a refreshed token" })
          const report = yield* engine.sync
          assert.strictEqual(report.uploaded, 1)
        }))
      }))

    /** Verifies: R-CLI-4, R-SRV-5 (pages are pushed from the applied cursor, and applying them catches the replica up) */
    it.effect("pushes pages from the cursor the replica applied", () =>
      withProxy((proxy) => Effect.gen(function*() {
        const id = nextNote("pushed")
        yield* onReplica(transportFor(proxy.port, "frank"), "frank", Effect.gen(function*() {
          const connection = yield* Connection
          const engine = yield* SyncEngine.SyncEngine
          yield* awaitState("online")
          yield* engine.sync
          const cursor = yield* Effect.flatMap(Inspect, (i) => i.cursor)
          yield* connection.setCursor(cursor)
          // Another user uploads a note (as its replica would send it).
          yield* onTransport(transportFor(proxy.port, "grace"), Effect.gen(function*() {
            yield* onlineIfNetwork
            const transport = yield* SyncTransport.SyncTransport
            const { next } = yield* transport.fetch({ since: 0, limit: 1000 })
            const clientId = `grace-${process.pid}-${id}`
            yield* transport.upload(request(clientId, next, [
              wire({
                clientId,
                userId: "grace",
                wallMs: Date.now(),
                tag: addNote.tag,
                input: { id, body: "from grace" },
                patches: [insert("notes", { id, body: "from grace", audience_key: null })]
              })
            ]))
          }))
          const push = yield* connection.pushes.pipe(
            Stream.filter((p) => p.page.actions.length > 0),
            Stream.runHead,
            Effect.timeout("20 seconds"),
            Effect.map(Option.getOrThrow)
          )
          assert.isAtLeast(push.since, cursor)
          yield* engine.applyPushed(push.since, push.page)
          assert.include(yield* noteIds, id)
        }))
      })))
  })
