/**
 * The faulty network between the replicas and the server. A replica's transport encodes its
 * request to JSON, as a network would carry it, puts it in flight and waits; the scheduler
 * delivers messages in any order (reordering), and may drop or duplicate one, lose everything a
 * partitioned replica sends or receives, or time a request out. Delivering a request decodes
 * it, as a server's transport would, calls the server's service with the decoded request
 * (`SyncServer.SyncServerShape`) and puts its encoded answer in flight back.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { ParseError } from "effect/ParseResult"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as SyncProtocol from "../../SyncProtocol.js"
import type * as SyncServer from "../../SyncServer.js"
import * as SyncTransport from "../../SyncTransport.js"
import { makeVirtualClock } from "./virtualClock.js"
import type { Call, Outcome, Replica, Request, RequestWait, World } from "./world.js"

/** A request with no answer after this long (virtual) may time out. @internal */
export const REQUEST_TIMEOUT_MS = 10_000

/**
 * A replica's transport: each call puts its JSON-encoded request in flight, tells the
 * scheduler the replica waits on it, and decodes the JSON answer the scheduler hands back.
 * @internal
 */
export const transport = (world: World, replica: Replica): SyncTransport.SyncTransportShape => {
  const call = <Req, ReqI, A, I>(
    name: Call,
    request: Req,
    requestSchema: Schema.Schema<Req, ReqI>,
    responseSchema: Schema.Schema<A, I>
  ) =>
    Effect.gen(function*() {
      const body: unknown = JSON.parse(JSON.stringify(yield* Effect.orDie(Schema.encode(requestSchema)(request))))
      const reply = yield* Deferred.make<Outcome>()
      const op = replica.currentOp
      world.network.push({ direction: "request", id: world.nextMessage++, replica: replica.index, op, call: name, body, reply })
      yield* Queue.offer(world.signals, {
        _tag: "Waiting",
        replica: replica.index,
        op,
        waiting: { kind: "request", call: name, sentAt: world.now, reply, delivered: false }
      })
      const text = yield* Effect.flatten(Deferred.await(reply))
      return yield* Effect.mapError(
        Schema.decodeUnknown(Schema.parseJson(responseSchema))(text),
        (error) => new SyncTransport.TransportError({ detail: error.message })
      )
    })
  return {
    upload: (request) => call("upload", request, SyncProtocol.UploadRequest, SyncProtocol.UploadResponse),
    fetch: (request) =>
      Effect.catchTags(
        call("fetch", request, SyncProtocol.FetchRequest, SyncProtocol.FetchResponse),
        { BehindHead: (e) => Effect.die(e), UploadRejected: (e) => Effect.die(e) }
      )
  }
}

/**
 * Delivers the message at `index` in flight. With `withFaults`, it may be duplicated (kept for
 * a second delivery) or dropped; a partitioned replica's messages are always lost. Returns the
 * replica whose waiting operation received an answer (the scheduler resumes it), if any.
 * @internal
 */
export const deliver = (world: World, index: number, withFaults: boolean): Effect.Effect<Replica | undefined> =>
  Effect.gen(function*() {
    const message = world.network[index]
    const replica = message === undefined ? undefined : world.replicas[message.replica]
    if (message === undefined || replica === undefined) return undefined
    const { faults, rng } = world
    if (withFaults && faults.duplicate > 0 && rng.chance(faults.duplicate)) {
      world.counts.duplicates++
    } else {
      world.network.splice(index, 1)
    }
    if (replica.partitioned || (withFaults && faults.drop > 0 && rng.chance(faults.drop))) {
      world.counts.drops++
      return undefined
    }
    if (message.direction === "request") {
      const outcome = yield* serve(world, replica.userId, message)
      const busy = replica.busy
      if (busy?.op === message.op && busy.waiting?.kind === "request") busy.waiting.delivered = true
      const { call, op, reply } = message
      world.network.push({ direction: "response", id: world.nextMessage++, replica: replica.index, op, call, outcome, reply })
      return undefined
    }
    const busy = replica.busy
    if (busy === undefined || busy.op !== message.op || busy.waiting?.kind !== "request" || busy.waiting.reply !== message.reply) {
      return undefined // its caller crashed, timed out or already has an answer
    }
    busy.waiting = undefined
    yield* Deferred.succeed(message.reply, message.outcome)
    return replica
  })

/** Times out the request a replica waits on: its caller receives a `TransportError`. @internal */
export const timeout = (world: World, replica: Replica, waiting: RequestWait): Effect.Effect<void> =>
  Effect.gen(function*() {
    world.now = Math.max(world.now, waiting.sentAt + REQUEST_TIMEOUT_MS)
    world.counts.timeouts++
    if (replica.busy !== undefined) replica.busy.waiting = undefined
    yield* Deferred.succeed(
      waiting.reply,
      Exit.fail(new SyncTransport.TransportError({ detail: `no answer to ${waiting.call} within ${REQUEST_TIMEOUT_MS} ms` }))
    )
  })

/**
 * The server's side of a request: decoded as a server's transport decodes what it received
 * (an upload that does not decode is rejected as malformed), handled at the simulation's time,
 * and answered as JSON. A failure of the server that is not the protocol's reaches the replica
 * as a `TransportError`; a defect is also a problem of the schedule.
 */
const serve = (world: World, userId: string, request: Request): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const server = world.server.current
    const before = performance.now()
    const exit = yield* Effect.exit(Effect.withClock(handle(server, userId, request), makeVirtualClock(() => world.now, () => Effect.void)))
    world.stopwatch.serverMs += performance.now() - before
    if (Exit.isSuccess(exit)) return Exit.succeed(exit.value)
    const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
    if (
      failure instanceof SyncProtocol.BehindHead || failure instanceof SyncProtocol.UploadRejected ||
      failure instanceof SyncTransport.TransportError
    ) {
      return Exit.fail(failure)
    }
    if (failure !== undefined && failure._tag !== "ParseError") {
      return Exit.fail(new SyncTransport.TransportError({ detail: failure.message }))
    }
    world.problems.push(`server: ${request.call} failed with a defect: ${Cause.pretty(exit.cause)}`)
    return Exit.fail(new SyncTransport.TransportError({ detail: "server defect" }))
  })

/** Decodes the request, calls the server and encodes its answer to JSON text. */
const handle = (
  server: SyncServer.SyncServerShape,
  userId: string,
  request: Request
): Effect.Effect<string, SyncServer.UploadError | SyncServer.FetchError | SyncTransport.TransportError | ParseError> =>
  request.call === "upload"
    ? Schema.decodeUnknown(SyncProtocol.UploadRequest)(request.body).pipe(
      Effect.mapError((error) => new SyncProtocol.UploadRejected({ reason: "Malformed", actionId: null, detail: error.message })),
      Effect.flatMap((decoded) => server.upload(userId, decoded)),
      Effect.flatMap(Schema.encode(SyncProtocol.UploadResponse)),
      Effect.map((encoded) => JSON.stringify(encoded))
    )
    : Schema.decodeUnknown(SyncProtocol.FetchRequest)(request.body).pipe(
      Effect.mapError((error) => new SyncTransport.TransportError({ detail: `malformed fetch request: ${error.message}` })),
      Effect.flatMap((decoded) => server.fetch(userId, decoded)),
      Effect.flatMap(Schema.encode(SyncProtocol.FetchResponse)),
      Effect.map((encoded) => JSON.stringify(encoded))
    )
