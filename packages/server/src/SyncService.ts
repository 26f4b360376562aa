/**
 * The server's sync service, independent of any transport: validates and stores uploaded
 * actions, assigns their server sequence, materializes the canonical tables from their patches,
 * and serves the log in pages. It never runs app code (R-SRV-1): canonical tables change only
 * by applying the patches the authors' replicas captured.
 *
 * It implements `SyncServer.SyncServerShape`: methods take the caller's user id (the transport
 * authenticates it) and a request the transport has decoded (`SyncCodec`); the service checks
 * what decoding cannot (limits, author = caller, client, clock drift, where patches go). A
 * database failure reaches the caller as `ServerFailure`; its cause goes to the log and span.
 *
 * The server's database needs the app's tables, as the clients create them, each tracked with
 * core's `Tracking.install` (materialization applies patches only to tracked tables): an upload
 * writing to any other table is refused as `UntrackedTable`, naming the table.
 *
 * @example
 * ```ts
 * const ServerLive = SyncService.layer().pipe(Layer.provide(PgClient.layer({ url })))
 * const setup = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql`CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, title text, audience_key text)`
 *   yield* Tracking.install(["notes"])
 * })
 * const program = Effect.gen(function*() {
 *   const sync = yield* SyncService.SyncService
 *   const { accepted, head } = yield* sync.upload(userId, request) // a decoded UploadRequest
 *   const page = yield* sync.fetch(userId, { since: 0, limit: 100 })
 * })
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Hlc, SyncProtocol, SyncServer } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { failed } from "./internal/failure.js"
import * as Page from "./internal/page.js"
import * as Store from "./internal/store.js"
import { checkFetch, misplacedCorrection, validate } from "./internal/validate.js"
import * as SyncCodec from "./SyncCodec.js"
import * as ServerSchema from "./ServerSchema.js"

/** Options of the service. */
export interface Options {
  /**
   * How far an action's HLC wall time may be ahead of the server's `Clock`;
   * `Hlc.DEFAULT_MAX_DRIFT_MS` (5 minutes) by default (R-SYNC-8).
   */
  readonly maxDriftMs?: number
  /**
   * The audience keys a user may see (R-SRV-3). When given, a fetch returns only the actions
   * the caller wrote or that have a patch in one of its audiences (or a public patch, whose
   * audience key is null), each with only those patches; the head gate compares an upload's
   * basis with what the caller can see; and each stored action remembers its author's
   * audiences, so a fetch can tell a caller whether it sees everything the author saw.
   * Without it nothing is filtered: every user sees every action.
   *
   * @example
   * ```ts
   * // `sql`: the server's SqlClient, taken from context when the layer is built
   * const ServerLive = Layer.unwrapEffect(Effect.map(SqlClient.SqlClient, (sql) =>
   *   SyncService.layer({
   *     audiences: (userId) =>
   *       Effect.map(sql<{ key: string }>`SELECT list_key AS key FROM members WHERE user_id = ${userId}`,
   *         (rows) => rows.map((r) => r.key))
   *   })))
   * ```
   */
  readonly audiences?: (userId: string) => Effect.Effect<ReadonlyArray<string>, SqlError>
}

/**
 * The service's shape: the server's side of the protocol (`SyncServer.SyncServerShape`).
 *
 * `upload` validates the request and, in ONE transaction, head-gates it, stores its new actions
 * with consecutive sequences (in request order), stores their patches and materializes them.
 * Actions already stored are not stored again: their sequence is returned (R-SYNC-5). The head
 * gate (R-SYNC-6) compares `basis` with the highest sequence of actions NOT authored by the
 * uploading client that the caller may see: a client need not re-fetch its own actions, nor
 * wait for actions it will never receive. An upload whose actions are all stored already
 * writes nothing, so it is not gated.
 *
 * `fetch` returns actions after `since` that the caller may see, in server order, at most
 * `limit` (R-SYNC-9), with only the patches in the caller's audiences (R-SRV-3, see
 * `Options.audiences`); it runs with `reprise.user_id` set to the caller, for RLS policies.
 */
export type SyncServiceShape = SyncServer.SyncServerShape

/** The server's sync service. */
export class SyncService extends Context.Tag("@reprise/server/SyncService")<SyncService, SyncServiceShape>() {}

const decodePage = Schema.decodeUnknown(Schema.Array(Schema.parseJson(SyncProtocol.RemoteAction)))

/** The service and its fetch fast path, built on one set of options. */
const build = Effect.fnUntraced(function*(options: Options) {
  const sql = yield* SqlClient.SqlClient
  yield* ServerSchema.install()
  const maxDriftMs = options.maxDriftMs ?? Hlc.DEFAULT_MAX_DRIFT_MS
  const resolveAudiences = options.audiences
  /** The caller's audiences: a sorted, deduplicated list, or null when nothing is filtered. */
  const audiencesOf = (userId: string): Effect.Effect<ReadonlyArray<string> | null, SyncServer.ServerFailure> =>
    resolveAudiences === undefined
      ? Effect.succeed(null)
      : resolveAudiences(userId).pipe(
        Effect.map((keys) => [...new Set(keys)].sort()),
        Effect.catchTag("SqlError", failed("resolving the caller's audiences"))
      )

  const upload = Effect.fn("SyncService.upload")(function*(callerUserId: string, request: SyncProtocol.UploadRequest) {
    const checked = validate(request, { callerUserId, nowMs: yield* Clock.currentTimeMillis, maxDriftMs })
    if (checked instanceof SyncProtocol.UploadRejected) return yield* checked
    const callerAudiences = yield* audiencesOf(callerUserId)
    const misplaced = callerAudiences === null ? undefined : misplacedCorrection(request.actions, callerAudiences)
    if (misplaced !== undefined) return yield* misplaced
    return yield* Store.store(sql, { callerUserId, request, args: checked, callerAudiences }).pipe(
      Effect.catchTag("SqlError", failed("storing the upload"))
    )
  })

  /** The stored page of a checked request. */
  const readPage = (callerUserId: string, request: SyncProtocol.FetchRequest) =>
    Effect.gen(function*() {
      const rejected = checkFetch(request)
      if (rejected !== undefined) return yield* rejected
      const audiences = yield* audiencesOf(callerUserId)
      return yield* Page.readPage(sql, callerUserId, request, audiences).pipe(
        Effect.catchTag("SqlError", failed("reading the log"))
      )
    })

  const fetch = Effect.fn("SyncService.fetch")(function*(callerUserId: string, request: SyncProtocol.FetchRequest) {
    const page = yield* readPage(callerUserId, request)
    return { ...page, actions: yield* Effect.orDie(decodePage(page.actions)) }
  })

  const fetchEncoded = Effect.fn("SyncCodec.EncodedFetch.fetch")(
    function*(callerUserId: string, request: SyncProtocol.FetchRequest) {
      return Page.toJson(yield* readPage(callerUserId, request))
    }
  )

  const head = Effect.fn("SyncService.head")(function*(_callerUserId: string) {
    return yield* Page.readHead(sql).pipe(Effect.catchTag("SqlError", failed("reading the head")))
  })

  const service: SyncServiceShape = { upload, fetch, head }
  const encodedFetch: SyncCodec.EncodedFetchShape = { fetch: fetchEncoded }
  return { service, encodedFetch }
})

/**
 * Builds the service: installs the server schema if needed (`ServerSchema.install`).
 */
export const make = (
  options: Options = {}
): Effect.Effect<SyncServiceShape, ServerSchema.InstallError, SqlClient.SqlClient> =>
  Effect.map(build(options), ({ service }) => service)

/**
 * The service as a layer, under its own tag and as core's `SyncServer`, with the fetch fast
 * path (`SyncCodec.EncodedFetch`) built on the same options; building it installs the server
 * schema if needed.
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SyncService | SyncServer.SyncServer | SyncCodec.EncodedFetch, ServerSchema.InstallError, SqlClient.SqlClient> =>
  Layer.effectContext(Effect.map(build(options), ({ encodedFetch, service }) =>
    Context.make(SyncService, service).pipe(
      Context.add(SyncServer.SyncServer, service),
      Context.add(SyncCodec.EncodedFetch, encodedFetch)
    )))
