/**
 * Reading a page of the log as it is stored: each action as the JSON text of its encoded
 * `RemoteAction` (built by the database, patch row images exactly as stored), with the cursor
 * and the head. `SyncService.fetch` decodes it; `SyncCodec.EncodedFetch` sends it as it is.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { SyncProtocol } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Session from "./session.js"
import * as Log from "./sql/log.js"
import * as Read from "./sql/read.js"

/** One page as stored: `actions` holds the JSON text of each encoded `RemoteAction`. @internal */
export interface StoredPage {
  readonly actions: ReadonlyArray<string>
  readonly next: number
  readonly head: number
  readonly hasMore: boolean
  readonly audiences: ReadonlyArray<string> | null
}

const Seq = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())
const decodeHead = Schema.decodeUnknown(Schema.Array(Schema.Struct({ head: Seq })))
const decodePageRows = Schema.decodeUnknown(Schema.Array(Schema.Struct({
  head: Schema.NullOr(Seq),
  audiences: Schema.NullOr(Schema.parseJson(Schema.Array(Schema.String))),
  action: Schema.NullOr(Schema.String),
  extra: Schema.NullOr(Schema.Boolean)
})))
const decodeLastSeq = Schema.decodeUnknown(Schema.parseJson(Schema.Struct({ serverSeq: Schema.Int })))

/** The highest server sequence assigned. @internal */
export const readHead = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError> =>
  Effect.flatMap(Log.head(sql), (rows) => Effect.map(Effect.orDie(decodeHead(rows)), ([row]) => row?.head ?? 0))

/** The caller, as `SyncService` resolved it. @internal */
export interface ReadSession {
  readonly mode: Session.Mode
  readonly caller: Session.Caller
  readonly prepared: Session.Prepared
}

/**
 * The page of `request` for `caller`, read in ONE statement under the caller's identity
 * (`reprise_server.read_page`, `sql/read.ts`: the caller's settings and the RLS role, whose
 * policies filter the log as the query does, then the head, then the page up to it). Outside a
 * transaction block the statement is its own transaction; inside a caller's transaction it runs
 * in a savepoint of it (`inOwnTransaction`). A cursor beyond the head is `FetchRejected`: the
 * log was reset, or the cursor is another server's. @internal
 */
export const readPage = (
  sql: SqlClient.SqlClient,
  session: ReadSession,
  request: SyncProtocol.FetchRequest
): Effect.Effect<StoredPage, SqlError | SyncProtocol.FetchRejected> =>
  inOwnTransaction(
    sql,
    Effect.gen(function*() {
      const rows = yield* Effect.orDie(decodePageRows(
        yield* Read.readPage(sql, Session.readCaller(session.mode, session.caller, session.prepared), {
          since: request.since,
          // One more than asked, to know whether there is more.
          limit: request.limit + 1
        })
      ))
      const header = rows.find((row) => row.extra === null)
      if (header === undefined || header.head === null) return yield* Effect.die({ _tag: "PageHeaderMissing" })
      // The head was read first, then the page up to it: every sequence up to the head is
      // committed (R-SYNC-7), so when the page is the last one the cursor may move to the head,
      // past actions the caller may not see.
      const head = header.head
      if (request.since > head) {
        return yield* new SyncProtocol.FetchRejected({
          detail: `since is ${request.since}, beyond this server's head ${head}: the cursor is not this server's ` +
            `(its log was reset, or the cursor comes from another server); fetch from 0 to start again`
        })
      }
      const audiences = session.prepared !== undefined
        ? session.prepared
        : header.audiences === null
        ? yield* Effect.die({ _tag: "CallerAudiencesMissing" })
        : Session.normalize(header.audiences)
      // The page proper, then the actions its corrections restate (the database's order).
      const main: Array<string> = []
      const extra: Array<string> = []
      for (const row of rows) {
        if (row.action === null) continue
        if (row.extra === true) extra.push(row.action)
        else main.push(row.action)
      }
      const hasMore = main.length > request.limit
      const page = main.slice(0, request.limit)
      // The cursor: the page's last sequence when there is more, else the head.
      const last = page[page.length - 1]
      const next = hasMore && last !== undefined
        ? (yield* Effect.orDie(decodeLastSeq(last))).serverSeq
        : head
      return { actions: [...page, ...extra], next, head, hasMore, audiences }
    })
  )

/**
 * The head as the caller, in one statement (`reprise_server.read_head`: the caller's settings
 * and the RLS role, then the head); see `readPage` for the transaction. @internal
 */
export const readHeadAs = (sql: SqlClient.SqlClient, session: Omit<ReadSession, "prepared">): Effect.Effect<number, SqlError> =>
  inOwnTransaction(
    sql,
    Effect.flatMap(
      Read.readHead(sql, Session.readCaller(session.mode, session.caller, undefined)),
      (rows) => Effect.map(Effect.orDie(decodeHead(rows)), ([row]) => row?.head ?? 0)
    )
  )

/** The page as the JSON text of the encoded `FetchResponse`, the stored actions spliced in as they are. @internal */
export const toJson = (page: StoredPage): string =>
  `{"actions":[${page.actions.join(",")}],"next":${page.next},"head":${page.head},` +
  `"hasMore":${page.hasMore},"audiences":${JSON.stringify(page.audiences)}}`

/**
 * `effect`, one statement, as its own transaction: outside a transaction block the statement
 * is one (its transaction-local settings end with it); inside a caller's transaction
 * (`SqlClient.TransactionConnection`) a savepoint, as `sql.withTransaction` nests, so a
 * failure rolls back only what the read did. The identity it set stays for the rest of the
 * caller's transaction, as it did when the read was several statements in a savepoint.
 */
const inOwnTransaction = <A, E>(sql: SqlClient.SqlClient, effect: Effect.Effect<A, E>): Effect.Effect<A, E | SqlError> =>
  Effect.flatMap(
    Effect.serviceOption(SqlClient.TransactionConnection),
    (outer) => Option.isSome(outer) ? sql.withTransaction(effect) : effect
  )
