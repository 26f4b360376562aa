/**
 * The network server's own cases, for any server database: requests over real loopback HTTP
 * and WebSocket, through `RpcTransport` (the client the engine uses) and as raw messages (what
 * a hostile client can send). Each case says which requirement it verifies.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Socket from "@effect/platform/Socket"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { RpcTransport, SyncProtocol, SyncRpc, type SyncServer, type SyncTransport, Tracking } from "@reprise/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { SyncRpcServer, SyncService } from "../src/index.js"
import { request, wire } from "./suites/helpers.js"
import { type Kind, serverLayer, tokenFor, transport } from "./networkWorld.js"

/** Small limits, so that the cases can reach them. */
export const limits = { maxBodyBytes: 64 * 1024, maxMessageBytes: 64 * 1024, maxConnectionsPerUser: 2 }

/** The server under test on `database`, with a tracked table `notes`. */
export const server = <R>(
  database: Layer.Layer<SqlClient.SqlClient | R, unknown>
): Layer.Layer<SyncRpcServer.Address | SyncService.SyncService | SyncServer.SyncServer | SqlClient.SqlClient | R, unknown> =>
  serverLayer(limits).pipe(
    Layer.provideMerge(Layer.effectDiscard(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, title text, audience_key text)`
      yield* Tracking.install(["notes"])
    }))),
    Layer.provideMerge(SyncService.layer()),
    Layer.provideMerge(database)
  )

let clientCounter = 0
/** An upload of one action by `userId` inserting note `id`, from a fresh client. */
const uploadOf = (userId: string, id: string, basis = 0) => {
  const clientId = `net-client-${process.pid}-${++clientCounter}`
  return request(clientId, basis, [
    wire({ clientId, userId, wallMs: Date.now(), patches: [{ op: "INSERT", table: "notes", rowId: id, forward: { id, title: id }, reverse: null }] })
  ])
}

/** How many actions the server has stored. */
const storedActions = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM reprise_server.actions`, ([row]) => row!.n))

/** Runs `f` on a transport of `kind` signed in as `userId`, built and closed around it. */
const withTransport = <A, E>(
  kind: Kind,
  userId: string,
  f: (transport: RpcTransport.RpcTransportShape) => Effect.Effect<A, E>
) =>
  Effect.flatMap(SyncRpcServer.Address, (address) =>
    Effect.scoped(Effect.flatMap(
      Layer.build(transport(kind, address, userId)),
      (context) => f(context.unsafeMap.get(RpcTransport.RpcTransport.key) as RpcTransport.RpcTransportShape)
    )))

/** The typed server error a transport failure stands for. */
const causeOf = (error: SyncTransport.TransportError) => Option.getOrThrow(RpcTransport.cause(error))

/** A raw RPC request over HTTP: the body as given, the response's status and JSON. */
const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })
    const text = await response.text()
    return { status: response.status, json: JSON.parse(text) as unknown }
  })

/** A request message of the protocol, encoded, with `payload` as given. */
const message = (tag: string, payload: unknown, token?: string) =>
  JSON.stringify({ _tag: "Request", id: "1", tag, payload, headers: token === undefined ? [] : [["authorization", `Bearer ${token}`]] })

const Failure = Schema.Struct({
  _tag: Schema.Literal("Exit"),
  requestId: Schema.String,
  exit: Schema.Struct({
    _tag: Schema.Literal("Failure"),
    cause: Schema.Struct({ _tag: Schema.Literal("Fail"), error: Schema.Struct({ _tag: Schema.String }, { key: Schema.String, value: Schema.Unknown }) })
  })
})

/** The typed error of a one-request HTTP answer (fails the test on anything else, a defect included). */
const typedErrorOf = (json: unknown) => {
  const [response] = Schema.decodeUnknownSync(Schema.Tuple(Failure))(json)
  return response.exit.cause.error
}

/** A raw WebSocket to `url`: sends `data`, returns the close code and reason. */
const closeAfterSending = (url: string, data: string) =>
  Effect.gen(function*() {
    const make = yield* Socket.WebSocketConstructor
    const closed = yield* Deferred.make<{ code: number; reason: string }>()
    const ws = make(url)
    ws.addEventListener("close", (event) => Deferred.unsafeDone(closed, Exit.succeed({ code: event.code, reason: event.reason })))
    ws.addEventListener("open", () => ws.send(data))
    return yield* Deferred.await(closed).pipe(Effect.timeout("10 seconds"))
  }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))

/** A raw WebSocket to `url`: sends `data`, returns the first message the server answers with (parsed). */
const firstAnswer = (url: string, data: string) =>
  Effect.gen(function*() {
    const make = yield* Socket.WebSocketConstructor
    const answered = yield* Deferred.make<unknown>()
    const ws = make(url)
    ws.addEventListener("message", (event) => Deferred.unsafeDone(answered, Exit.succeed(JSON.parse(String(event.data)))))
    ws.addEventListener("open", () => ws.send(data))
    return yield* Deferred.await(answered).pipe(Effect.timeout("10 seconds"), Effect.ensuring(Effect.sync(() => ws.close())))
  }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))

/** Registers the cases for the server on `database` (`name` in the titles). */
export const networkCases = (name: string, database: () => Layer.Layer<SqlClient.SqlClient, unknown>) =>
  layer(server(database()), { excludeTestServices: true, timeout: "120 seconds" })(`SyncRpcServer (${name})`, (it) => {
    for (const kind of ["http", "websocket"] as const) {
      describe(kind, () => {
        /** Verifies: R-SRV-3 (upload, fetch, head over the network) */
        it.effect("uploads, fetches and reads the head through RpcTransport", () =>
          Effect.gen(function*() {
            const id = `note-${kind}-roundtrip`
            const answer = yield* withTransport(kind, "alice", (t) =>
              Effect.flatMap(t.head(), (basis) => t.upload(uploadOf("alice", id, basis))))
            assert.strictEqual(answer.accepted.length, 1)
            const page = yield* withTransport(kind, "bob", (t) => t.fetch({ since: 0, limit: 1000 }))
            assert.isTrue(page.actions.some((a) => a.patches.some((p) => p.rowId === id)))
            const head = yield* withTransport(kind, "bob", (t) => t.head())
            assert.strictEqual(head, answer.head)
          }))

        /** Verifies: R-SRV-4 (every auth failure is typed and writes nothing) */
        it.effect("refuses a missing or invalid token with Unauthorized and writes nothing", () =>
          Effect.gen(function*() {
            const before = yield* storedActions
            const address = yield* SyncRpcServer.Address
            const attempt = (token: string) => {
              const make: Effect.Effect<
                RpcTransport.RpcTransportShape,
                never,
                Scope.Scope | HttpClient.HttpClient | Socket.WebSocketConstructor
              > = kind === "http"
                ? RpcTransport.makeHttp({ url: address.rpcUrl, token: () => Effect.succeed(token) })
                : RpcTransport.makeWebSocket({ url: address.webSocketUrl, token: () => Effect.succeed(token) })
              return make.pipe(
                Effect.flatMap((t) => Effect.flip(t.upload(uploadOf("alice", `note-${kind}-forged`)))),
                Effect.scoped,
                Effect.provide(Layer.merge(NodeSocket.layerWebSocketConstructor, FetchHttpClient.layer))
              )
            }
            const missing = yield* attempt("")
            const forged = yield* attempt(`${yield* tokenFor("alice")}x`)
            const garbage = yield* attempt("not-a-jwt")
            for (const [error, reason] of [[missing, "MissingToken"], [forged, "BadSignature"], [garbage, "MalformedToken"]] as const) {
              assert.strictEqual(error._tag, "TransportError")
              if (error._tag !== "TransportError") continue
              const server = causeOf(error)
              assert.strictEqual(server._tag, "Unauthorized")
              if (server._tag === "Unauthorized") assert.strictEqual(server.reason, reason)
            }
            assert.strictEqual(yield* storedActions, before)
          }))
      })
    }

    /** Verifies: R-SRV-7 (a payload that does not decode gets the procedure's typed rejection) */
    it.effect("answers an invalid payload of each procedure with its typed rejection, writing nothing", () =>
      Effect.gen(function*() {
        const { rpcUrl, webSocketUrl } = yield* SyncRpcServer.Address
        const token = yield* tokenFor("mallory")
        const before = yield* storedActions
        const upload = yield* post(rpcUrl, message("Upload", { clientId: 5, actions: "nope" }, token))
        assert.strictEqual(upload.status, 200)
        const uploadError = typedErrorOf(upload.json)
        assert.strictEqual(uploadError._tag, "UploadRejected")
        assert.strictEqual(uploadError["reason"], "Malformed")
        const fetched = yield* post(rpcUrl, message("Fetch", { since: -1, limit: "all" }, token))
        assert.strictEqual(fetched.status, 200)
        assert.strictEqual(typedErrorOf(fetched.json)._tag, "FetchRejected")
        // Subscribe streams: over WebSocket only.
        const subscribed = yield* firstAnswer(webSocketUrl, message("Subscribe", { since: -1, limit: "all" }, token))
        assert.strictEqual(typedErrorOf([subscribed])._tag, "FetchRejected")
        const overHttp = yield* post(rpcUrl, message("Subscribe", { since: 0, limit: 10 }, token))
        assert.strictEqual(overHttp.status, 400)
        // Head takes no payload: whatever is sent, it answers the head.
        const head = yield* post(rpcUrl, message("Head", { anything: [1, 2, 3] }, token))
        assert.strictEqual(head.status, 200)
        const [exit] = Schema.decodeUnknownSync(Schema.Tuple(Schema.Struct({
          exit: Schema.Struct({ _tag: Schema.Literal("Success"), value: Schema.Number })
        })))(head.json)
        assert.isAtLeast(exit.exit.value, 0)
        assert.strictEqual(yield* storedActions, before)
      }))

    /** Verifies: R-SRV-7 (an upload over the protocol's counts is TooLarge, named with its limit) */
    it.effect("answers an upload over the actions-per-upload or a string-length limit with TooLarge, before decoding it, writing nothing", () =>
      Effect.gen(function*() {
        const { rpcUrl } = yield* SyncRpcServer.Address
        const token = yield* tokenFor("mallory")
        const before = yield* storedActions
        const count = SyncProtocol.Limits.maxActionsPerUpload + 1
        const upload = yield* post(rpcUrl, message("Upload", { clientId: "c", basis: 0, actions: Array.from({ length: count }, () => ({})) }, token))
        assert.strictEqual(upload.status, 200)
        const error = typedErrorOf(upload.json)
        assert.strictEqual(error._tag, "UploadRejected")
        assert.strictEqual(error["reason"], "TooLarge")
        assert.include(String(error["detail"]), String(SyncProtocol.Limits.maxActionsPerUpload))
        // A string over its limit (a user id of 1,000 characters) is TooLarge too, naming the limit.
        const huge = yield* post(rpcUrl, message("Upload", { clientId: "c", basis: 0, actions: [{ userId: "u".repeat(1000) }] }, token))
        const hugeError = typedErrorOf(huge.json)
        assert.strictEqual(hugeError["reason"], "TooLarge")
        assert.include(String(hugeError["detail"]), "maxUserIdChars")
        assert.strictEqual(yield* storedActions, before)
      }))

    /** Verifies: R-SRV-7 (limits on the wire: body size) */
    it.effect("refuses an HTTP body over maxBodyBytes with 413 and LimitExceeded, before reading it, writing nothing", () =>
      Effect.gen(function*() {
        const { rpcUrl } = yield* SyncRpcServer.Address
        const token = yield* tokenFor("alice")
        const before = yield* storedActions
        const big = message("Upload", { padding: "x".repeat(limits.maxBodyBytes) }, token)
        const raw = yield* post(rpcUrl, big)
        assert.strictEqual(raw.status, 413)
        const refused = Schema.decodeUnknownSync(SyncRpc.LimitExceeded)(raw.json)
        assert.strictEqual(refused.limit, "maxBodyBytes")
        assert.strictEqual(refused.max, limits.maxBodyBytes)
        // A body that declares no length (chunked) is cut off at the limit: the server refuses it
        // (413, or it closes the connection mid-body) and keeps serving.
        const chunked = yield* Effect.promise(async () => {
          const chunk = new TextEncoder().encode("x".repeat(16 * 1024))
          let sent = 0
          const body = new ReadableStream<Uint8Array>({
            pull: (controller) => {
              if (sent > limits.maxBodyBytes * 2) return controller.close()
              sent += chunk.length
              controller.enqueue(chunk)
            }
          })
          const init = { method: "POST", body, duplex: "half", headers: { authorization: `Bearer ${token}` } }
          try {
            return (await fetch(rpcUrl, init as RequestInit)).status
          } catch {
            return "connection closed"
          }
        })
        console.log(`[network] a chunked body over maxBodyBytes: ${chunked}`)
        assert.include([413, "connection closed"], chunked)
        assert.isAtLeast(yield* withTransport("http", "alice", (t) => t.head()), 0)
        // The engine's transport sees it as a TransportError standing for the LimitExceeded.
        const upload = uploadOf("alice", "note-too-big")
        const action = upload.actions[0]!
        const oversized = { ...upload, actions: [{ ...action, args: { input: { text: "y".repeat(limits.maxBodyBytes) }, timestamp: 1 } }] }
        const error = yield* withTransport("http", "alice", (t) => Effect.flip(t.upload(oversized)))
        assert.strictEqual(error._tag, "TransportError")
        if (error._tag === "TransportError") assert.strictEqual(causeOf(error)._tag, "LimitExceeded")
        assert.strictEqual(yield* storedActions, before)
      }))

    /** Verifies: R-SRV-7 (a message that is not the protocol's is a typed 400, never a 500 or a defect) */
    it.effect("answers HTTP bodies that are not messages of the protocol with 400 MalformedRequest", () =>
      Effect.gen(function*() {
        const { rpcUrl, webSocketUrl } = yield* SyncRpcServer.Address
        const token = yield* tokenFor("alice")
        const bodies = [
          "not json",
          "null",
          "[]",
          JSON.stringify({ _tag: "Request", id: "1", tag: "Drop", payload: {}, headers: [] }),
          JSON.stringify({ _tag: "Request", id: "one", tag: "Head", payload: {}, headers: [] }),
          JSON.stringify({ _tag: "Request", id: "1", tag: "Head", payload: {}, headers: 5 }),
          JSON.stringify({ _tag: "Request", id: "1", tag: "Head", payload: {}, headers: [["authorization", 7]] }),
          JSON.stringify({ _tag: "Ack", requestId: "1" }),
          JSON.stringify({ _tag: "Request", id: "1".repeat(30), tag: "Head", payload: {}, headers: [] })
        ]
        for (const body of bodies) {
          const answer = yield* post(rpcUrl, body, { authorization: `Bearer ${token}` })
          assert.strictEqual(answer.status, 400, body)
          assert.strictEqual(Schema.decodeUnknownSync(SyncRpcServer.MalformedRequest)(answer.json)._tag, "MalformedRequest")
        }
        const plainGet = yield* Effect.promise(() => fetch(webSocketUrl.replace("ws://", "http://")))
        assert.strictEqual(plainGet.status, 426)
      }))

    /** Verifies: R-SRV-7 (limits on the wire: WebSocket message size, shape) */
    it.effect("closes a WebSocket that sends a message over maxMessageBytes (1009) or not of the protocol (1007)", () =>
      Effect.gen(function*() {
        const { webSocketUrl } = yield* SyncRpcServer.Address
        const before = yield* storedActions
        const token = yield* tokenFor("alice")
        const tooBig = yield* closeAfterSending(webSocketUrl, message("Upload", { padding: "x".repeat(limits.maxMessageBytes) }, token))
        assert.strictEqual(tooBig.code, 1009)
        assert.match(tooBig.reason, /^LimitExceeded: maxMessageBytes/)
        const garbage = yield* closeAfterSending(webSocketUrl, "{\"_tag\":\"Request\",\"id\":\"x\"}")
        assert.strictEqual(garbage.code, 1007)
        assert.match(garbage.reason, /^Malformed: /)
        const spoofed = yield* closeAfterSending(
          webSocketUrl,
          JSON.stringify({ _tag: "Request", id: "1", tag: "Head", payload: {}, headers: [["x-reprise-connection", "0"]] })
        )
        assert.strictEqual(spoofed.code, 1007)
        assert.strictEqual(yield* storedActions, before)
      }))

    /** Verifies: R-SRV-7 (connections per user) */
    it.effect("refuses a user's WebSocket connections beyond maxConnectionsPerUser with LimitExceeded", () =>
      Effect.gen(function*() {
        const address = yield* SyncRpcServer.Address
        const open = () => Effect.map(Layer.build(transport("websocket", address, "dave")), (context) =>
          context.unsafeMap.get(RpcTransport.RpcTransport.key) as RpcTransport.RpcTransportShape)
        const first = yield* Scope.make()
        const held = [yield* Scope.extend(open(), first), yield* open()]
        for (const t of held) yield* t.head()
        const extra = yield* open()
        const refused = yield* Effect.flip(extra.head())
        assert.strictEqual(causeOf(refused)._tag, "LimitExceeded")
        // Another user is not affected, and closing one of dave's connections frees a slot.
        yield* withTransport("websocket", "erin", (t) => t.head())
        yield* Scope.close(first, Exit.void)
        yield* Effect.sleep("100 millis")
        yield* extra.head()
      }).pipe(Effect.scoped))

    /** Verifies: R-SRV-5 (push over WebSocket), R-SRV-4 (an expired token ends the stream with a typed reason) */
    it.effect("streams new pages to a WebSocket subscriber and ends the stream with TokenExpired", () =>
      Effect.gen(function*() {
        const address = yield* SyncRpcServer.Address
        const since = yield* withTransport("websocket", "frank", (t) => t.head())
        const pages = yield* Queue.unbounded<SyncProtocol.FetchResponse>()
        const subscriber = yield* Effect.map(
          Layer.build(RpcTransport.layerWebSocket({ url: address.webSocketUrl, token: () => tokenFor("frank", 2) }).pipe(
            Layer.provide(NodeSocket.layerWebSocketConstructor)
          )),
          (context) => context.unsafeMap.get(RpcTransport.RpcTransport.key) as RpcTransport.RpcTransportShape
        )
        const started = Date.now()
        const ended = yield* Effect.fork(Effect.either(
          Stream.runForEach(subscriber.subscribe({ since, limit: 100 }), (page) => Queue.offer(pages, page))
        ))
        const first = yield* Queue.take(pages)
        assert.strictEqual(first.next, since)
        const id = "note-pushed"
        yield* withTransport("websocket", "grace", (t) => Effect.flatMap(t.head(), (basis) => t.upload(uploadOf("grace", id, basis))))
        const pushed = yield* Queue.take(pages).pipe(Effect.timeout("10 seconds"))
        assert.isTrue(pushed.actions.some((a) => a.patches.some((p) => p.rowId === id)))
        const result = yield* Fiber.join(ended).pipe(Effect.timeout("10 seconds"))
        assert.isTrue(Either.isLeft(result))
        if (Either.isLeft(result)) {
          const reason = causeOf(result.left)
          assert.strictEqual(reason._tag, "Unauthorized")
          if (reason._tag === "Unauthorized") assert.strictEqual(reason.reason, "TokenExpired")
        }
        console.log(`[network] the subscription ended ${Date.now() - started} ms after it opened with a 2 s token`)
      }).pipe(Effect.scoped))

    /** Verifies: R-SRV-3 (the health endpoint checks the database) */
    it.effect("answers GET /health with 200 ok while the database answers", () =>
      Effect.gen(function*() {
        const { healthUrl } = yield* SyncRpcServer.Address
        const response = yield* Effect.promise(() => fetch(healthUrl))
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(yield* Effect.promise(() => response.json()), { status: "ok" })
      }))
  })

/**
 * Registers the health case that takes the database away: `kill` makes the server's database
 * unreachable (run last: the server is useless afterwards).
 */
export const healthWhenDatabaseGone = <R>(
  name: string,
  database: () => Layer.Layer<SqlClient.SqlClient | R, unknown>,
  kill: Effect.Effect<void, unknown, R | SqlClient.SqlClient>
) =>
  layer(server(database()), { excludeTestServices: true, timeout: "120 seconds" })(`SyncRpcServer health (${name})`, (it) => {
    /** Verifies: R-SRV-3 (the health endpoint checks the database) */
    it.effect("answers GET /health with 503 and a one-line reason once the database is gone", () =>
      Effect.gen(function*() {
        const { healthUrl } = yield* SyncRpcServer.Address
        const ok = yield* Effect.promise(() => fetch(healthUrl))
        assert.strictEqual(ok.status, 200)
        yield* kill
        const gone = yield* Effect.promise(async () => {
          const response = await fetch(healthUrl)
          return { status: response.status, body: await response.json() as { status: string; reason: string } }
        })
        assert.strictEqual(gone.status, 503)
        assert.strictEqual(gone.body.status, "unavailable")
        assert.match(gone.body.reason, /^database unavailable: /)
        assert.notInclude(gone.body.reason, "\n")
        console.log(`[network] /health with the database gone: 503 ${gone.body.reason}`)
      }))
  })
