/**
 * Helpers for the realtime tests: a sync service with a tracked table on the database in
 * context, real uploads through it, and collecting the pages a subscription sends.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type SyncProtocol, type SyncServer, Tracking } from "@reprise/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { SyncService } from "../src/index.js"
import { insert, request, uniqueName, wire } from "./suites/helpers.js"

/** `[0, n)`. */
export const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

/** The server sequences of the pages' actions, in the order received. */
export const seqs = (pages: ReadonlyArray<SyncProtocol.FetchResponse>): ReadonlyArray<number> =>
  pages.flatMap((p) => p.actions.map((a) => a.serverSeq))

/** One row to insert: its id and the audience it belongs to (null: public). */
export interface Row {
  readonly id: string
  readonly audience: string | null
}

/** A sync service over a tracked table, and a way to upload to it. */
export interface World {
  readonly sql: SqlClient.SqlClient
  readonly sync: SyncServer.SyncServerShape
  readonly table: string
  /**
   * Uploads one action per row (each inserting it, its patch labelled with the row's audience)
   * as `userId` from `clientId`, at the head it reads first, again at the new head when another
   * upload got in first.
   */
  readonly put: (
    userId: string,
    clientId: string,
    rows: ReadonlyArray<Row>
  ) => Effect.Effect<SyncProtocol.UploadResponse, SyncServer.UploadError>
}

// Wall times in the recent past, strictly increasing over the whole run.
const base = Date.now() - 200_000
let tick = 0

/**
 * A sync service (`SyncService.make`) on the database in context, and a tracked table
 * `(id, title, audience_key)`: a fresh one, or `table` when given (created by another world on
 * the same database).
 */
export const makeWorld = (options: SyncService.Options = {}, table?: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const sync = yield* SyncService.make(options)
    const name = table ?? uniqueName("rt_notes")
    if (table === undefined) {
      yield* sql`CREATE TABLE ${sql(name)} (id text PRIMARY KEY, title text, audience_key text)`
      yield* Tracking.install([name])
    }
    const put: World["put"] = (userId, clientId, rows) =>
      Effect.suspend(() => {
        const actions = rows.map((row) => {
          const action = wire({
            clientId,
            userId,
            wallMs: base + ++tick,
            patches: [insert(name, { id: row.id, title: row.id, audience_key: row.audience })]
          })
          return { ...action, patches: action.patches.map((p) => ({ ...p, audienceKey: row.audience })) }
        })
        return Effect.flatMap(sync.head(userId), (basis) => sync.upload(userId, request(clientId, basis, actions)))
      }).pipe(Effect.retry({ while: (e) => e._tag === "BehindHead" }))
    const world: World = { sql, sync, table: name, put }
    return world
  })

/**
 * Takes pages from `queue` until `done` holds for the pages taken so far; dies when `timeout`
 * passes first (the test fails, saying what it had).
 */
export const collectUntil = (
  queue: Queue.Dequeue<SyncProtocol.FetchResponse>,
  done: (pages: ReadonlyArray<SyncProtocol.FetchResponse>) => boolean,
  timeout: Duration.DurationInput
): Effect.Effect<ReadonlyArray<SyncProtocol.FetchResponse>> => {
  const got: Array<SyncProtocol.FetchResponse> = []
  return Effect.gen(function*() {
    while (!done(got)) got.push(yield* Queue.take(queue))
    return got as ReadonlyArray<SyncProtocol.FetchResponse>
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => `no page came within ${Duration.format(timeout)}; had ${got.length} page(s) with sequences ${JSON.stringify(seqs(got))}`
    }),
    Effect.orDie
  )
}
