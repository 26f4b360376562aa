/**
 * Reading a page of the log as it is stored: each action as the JSON text of its encoded
 * `RemoteAction` (built by the database, patch row images exactly as stored), with the cursor
 * and the head. `SyncService.fetch` decodes it; `SyncCodec.EncodedFetch` sends it as it is.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { SqlArray, SyncProtocol } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Session from "./session.js"
import * as Log from "./sql/log.js"

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
const decodeRows = Schema.decodeUnknown(Schema.Array(Schema.Struct({ action: Schema.String, extra: Schema.Boolean })))
const decodeLastSeq = Schema.decodeUnknown(Schema.parseJson(Schema.Struct({ serverSeq: Schema.Int })))

/** The highest server sequence assigned. @internal */
export const readHead = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError> =>
  Effect.flatMap(Log.head(sql), (rows) => Effect.map(Effect.orDie(decodeHead(rows)), ([row]) => row?.head ?? 0))

/**
 * The page of `request` for `caller`, read in one transaction under the caller's identity
 * (`Session.begin`: the RLS role and settings, whose policies filter the log as the query
 * does). A cursor beyond the head is `FetchRejected`: the log was reset, or the cursor is
 * another server's. @internal
 */
export const readPage = (
  sql: SqlClient.SqlClient,
  session: { readonly mode: Session.Mode; readonly caller: Session.Caller; readonly prepared: Session.Prepared },
  request: SyncProtocol.FetchRequest
): Effect.Effect<StoredPage, SqlError | SyncProtocol.FetchRejected> =>
  sql.withTransaction(Effect.gen(function*() {
    const callerUserId = session.caller.userId
    const audiences = yield* Session.begin(sql, session.mode, session.caller, session.prepared)
    // The head first, then the page up to it: every sequence up to the head is committed
    // (R-SYNC-7), so when the page is the last one the cursor may move to the head, past
    // actions the caller may not see.
    const head = yield* readHead(sql)
    if (request.since > head) {
      return yield* new SyncProtocol.FetchRejected({
        detail: `since is ${request.since}, beyond this server's head ${head}: the cursor is not this server's ` +
          `(its log was reset, or the cursor comes from another server); fetch from 0 to start again`
      })
    }
    const rows = yield* Effect.orDie(decodeRows(
      yield* Log.fetchPage(sql, {
        since: request.since,
        head,
        limit: request.limit + 1,
        userId: callerUserId,
        audiences: audiences === null ? null : SqlArray.text(audiences)
      })
    ))
    // The page proper (limit + 1 read, to know whether there is more), then the actions its
    // corrections restate.
    const main = rows.filter((row) => !row.extra)
    const hasMore = main.length > request.limit
    const page = main.slice(0, request.limit)
    // The cursor: the page's last sequence when there is more, else the head.
    const last = page[page.length - 1]
    const next = hasMore && last !== undefined
      ? (yield* Effect.orDie(decodeLastSeq(last.action))).serverSeq
      : head
    return {
      actions: [...page, ...rows.filter((row) => row.extra)].map((row) => row.action),
      next,
      head,
      hasMore,
      audiences
    }
  }))

/** The page as the JSON text of the encoded `FetchResponse`, the stored actions spliced in as they are. @internal */
export const toJson = (page: StoredPage): string =>
  `{"actions":[${page.actions.join(",")}],"next":${page.next},"head":${page.head},` +
  `"hasMore":${page.hasMore},"audiences":${JSON.stringify(page.audiences)}}`
