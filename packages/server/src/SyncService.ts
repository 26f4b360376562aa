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
 * Row-level security (R-SRV-3; see `Rls`). Every request runs in one transaction that switches
 * to the service's RLS role (`Options.role`: by default the one `Rls.install` recorded in the
 * database, none when it was never run) and sets, transaction-locally, `reprise.user_id`,
 * Supabase-style `request.jwt.claims` (the caller's claims, `{ "sub": userId }` when the
 * transport gives none) and what the caller may see; the log's policies then filter fetch, the
 * head gate and materialization's reads in the database, as the service's queries do. Each
 * action's patches are materialized under its author's identity, so the app tables' policies
 * (`Rls.audiencePolicies`, or the app's own) decide what it may write: a refused write, or a
 * patch whose audience key is not its row's, rejects the upload as `Forbidden`, naming the
 * table and row, and nothing is written.
 *
 * A fetch (and a subscription's reads, which are fetches) and a head are ONE statement each,
 * which outside a transaction block is its own transaction: a database function sets the
 * caller's identity as above, then reads the head and the page up to it under the log's
 * policies (`internal/sql/read.ts`; a head without a role is read plainly); its plans are
 * cached per connection. An upload is one
 * `CALL` (`internal/sql/upload.ts`). Called inside a caller's transaction, the service runs in a
 * savepoint of it.
 *
 * Secure by default: on a database set up by `Rls.install` (the CLI's `migrate`) the service
 * runs as that role and, unless `Options.audiences` says otherwise, a caller sees its own
 * actions and those of its audiences in `reprise_server.audience_members` (or the app's
 * `reprise_server.caller_audiences()`), and public ones. On a database without it (an app's
 * in-process server on PGlite, tests) there is no role and, unless told, nothing is filtered.
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
import { Hlc, SyncProtocol, SyncServer } from "@reprise/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { failed } from "./internal/failure.js"
import * as Page from "./internal/page.js"
import * as Session from "./internal/session.js"
import * as Store from "./internal/store.js"
import { checkFetch, validate } from "./internal/validate.js"
import * as SyncCodec from "./SyncCodec.js"
import * as ServerSchema from "./ServerSchema.js"

/** Options of the service. */
export interface Options {
  /**
   * The role every request switches to (`SET LOCAL ROLE`), which must not own the tables nor
   * bypass RLS (`Rls.install` creates one): by default the role `Rls.install` recorded in the
   * database, or none when it was never run there; `false`: never switch (the login role's own
   * rights apply, e.g. a superuser bypasses every policy).
   */
  readonly role?: string | false
  /**
   * How far an action's HLC wall time may be ahead of the server's `Clock`;
   * `Hlc.DEFAULT_MAX_DRIFT_MS` (5 minutes) by default (R-SYNC-8).
   */
  readonly maxDriftMs?: number
  /**
   * The audience keys a user may see (R-SRV-3): a function (the app's code computes them; the
   * service gives them to the database as `reprise.audiences`, which the default
   * `reprise_server.caller_audiences()` returns), `"database"` (the database's
   * `reprise_server.caller_audiences()`: `reprise_server.audience_members`, or the app's own
   * function) or `"everyone"` (nothing is filtered: every user sees every action). When
   * filtered, a fetch returns only the actions the caller wrote or that have a patch in one of
   * its audiences (or a public patch, whose audience key is null), each with only those
   * patches; the head gate compares an upload's basis with what the caller can see; a patch
   * labeled with another audience is refused; and each stored action remembers its author's
   * audiences, so a fetch can tell a caller whether it sees everything the author saw, and its
   * patches are materialized under them. Default: `"database"` when the service has an RLS role
   * (see `role`), `"everyone"` when it has none.
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
  readonly audiences?: Session.Visibility
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
 * `Options.audiences`), under the caller's identity; a `since` beyond the head is
 * `FetchRejected` (the log was reset, or the cursor is another server's).
 */
export type SyncServiceShape = SyncServer.SyncServerShape

/** The server's sync service. */
export class SyncService extends Context.Tag("@reprise/server/SyncService")<SyncService, SyncServiceShape>() {}

const decodePage = Schema.decodeUnknown(Schema.Array(Schema.parseJson(SyncProtocol.RemoteAction)))

/**
 * Runs a request's database work to its end even when the request is interrupted (a client
 * that disconnects, a subscription that closes): its result is then dropped.
 *
 * Why: `@effect/sql-pg` stops an interrupted statement with `pg_cancel_backend(pid)`, sent on
 * ANOTHER pooled connection, racing the statement's own end. When the statement wins, its
 * connection goes back to the pool before the cancel lands, and the cancel then ends whatever
 * statement the next request runs there (SQLSTATE 57014): one client's disconnect would fail
 * another's sync. Each statement here is bounded (a page, one upload), so waiting for it costs
 * little, and an upload that was sent is either stored whole or not at all, as it is anyway.
 */
const toTheEnd = Effect.uninterruptible

/** The service and its fetch fast path, built on one set of options. */
const build = Effect.fnUntraced(function*(options: Options) {
  const sql = yield* SqlClient.SqlClient
  yield* ServerSchema.install()
  const maxDriftMs = options.maxDriftMs ?? Hlc.DEFAULT_MAX_DRIFT_MS
  const role = options.role === false
    ? null
    : options.role ?? (yield* Effect.orDie(installedRole(sql)))
  const mode: Session.Mode = { role, visibility: options.audiences ?? (role === null ? "everyone" : "database") }
  const caller = (userId: string, claims: SyncServer.Claims | undefined): Session.Caller => ({ userId, claims })
  const prepare = (userId: string) =>
    toTheEnd(Session.prepare(mode, userId)).pipe(Effect.catchTag("SqlError", failed("resolving the caller's audiences")))

  const upload = Effect.fn("SyncService.upload")(
    function*(callerUserId: string, request: SyncProtocol.UploadRequest, claims?: SyncServer.Claims) {
      const checked = validate(request, { callerUserId, nowMs: yield* Clock.currentTimeMillis, maxDriftMs })
      if (checked instanceof SyncProtocol.UploadRejected) return yield* checked
      const prepared = yield* prepare(callerUserId)
      return yield* toTheEnd(Store.store(sql, {
        callerUserId,
        request,
        args: checked,
        caller: caller(callerUserId, claims),
        mode,
        prepared
      })).pipe(Effect.catchTag("SqlError", failed("storing the upload")))
    }
  )

  /** The stored page of a checked request. */
  const readPage = (callerUserId: string, request: SyncProtocol.FetchRequest, claims: SyncServer.Claims | undefined) =>
    Effect.gen(function*() {
      const rejected = checkFetch(request, callerUserId)
      if (rejected !== undefined) return yield* rejected
      const prepared = yield* prepare(callerUserId)
      return yield* toTheEnd(Page.readPage(sql, { mode, caller: caller(callerUserId, claims), prepared }, request)).pipe(
        Effect.catchTag("SqlError", failed("reading the log"))
      )
    })

  const fetch = Effect.fn("SyncService.fetch")(
    function*(callerUserId: string, request: SyncProtocol.FetchRequest, claims?: SyncServer.Claims) {
      const page = yield* readPage(callerUserId, request, claims)
      return { ...page, actions: yield* Effect.orDie(decodePage(page.actions)) }
    }
  )

  const fetchEncoded = Effect.fn("SyncCodec.EncodedFetch.fetch")(
    function*(callerUserId: string, request: SyncProtocol.FetchRequest, claims?: SyncServer.Claims) {
      return Page.toJson(yield* readPage(callerUserId, request, claims))
    }
  )

  // The head is no one's secret (sequences are dense); with a role it is read as the caller
  // too, so the role's own privileges apply (one statement, `reprise_server.read_head`).
  const head = Effect.fn("SyncService.head")(function*(callerUserId: string, claims?: SyncServer.Claims) {
    const read = role === null
      ? Page.readHead(sql)
      : Page.readHeadAs(sql, { mode, caller: caller(callerUserId, claims) })
    return yield* toTheEnd(read).pipe(Effect.catchTag("SqlError", failed("reading the head")))
  })

  const service: SyncServiceShape = { upload, fetch, head }
  const encodedFetch: SyncCodec.EncodedFetchShape = { fetch: fetchEncoded }
  return { service, encodedFetch }
})

const decodeRole = Schema.decodeUnknown(Schema.Array(Schema.Struct({ role: Schema.String })))

/** The role `Rls.install` recorded in the database, or null. */
const installedRole = (sql: SqlClient.SqlClient) =>
  Effect.map(
    Effect.flatMap(sql`SELECT role FROM reprise_server.rls_settings`, decodeRole),
    (rows) => rows[0]?.role ?? null
  )

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
