/**
 * A request's identity in the database: every request of `SyncService` runs in one
 * transaction that starts by setting, transaction-locally, the caller's user id, its token
 * claims (Supabase-style `request.jwt.claims`) and what it may see (see `sql/rls.ts`), then
 * switching to the service's RLS role (`SET LOCAL ROLE`, when it has one); the log's and the
 * app tables' policies read them. Reads (fetch, head) do it inside the database, in the one
 * statement that is their transaction (`readCaller`, `sql/read.ts`); an upload outside a
 * transaction in its one `CALL` (`sql/upload.ts`), and inside a caller's transaction with
 * `beginUpload`.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { SqlArray, type SyncServer } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Read from "./sql/read.js"

/**
 * Who sees what: `"everyone"` (nothing filtered), `"database"` (the caller's audiences from
 * `reprise_server.caller_audiences()`), or the caller's audiences computed by the app's code.
 * @internal
 */
export type Visibility =
  | "everyone"
  | "database"
  | ((userId: string) => Effect.Effect<ReadonlyArray<string>, SqlError>)

/** How the service meets the database: its RLS role (null: none) and the visibility. @internal */
export interface Mode {
  readonly role: string | null
  readonly visibility: Visibility
}

/** The authenticated caller. @internal */
export interface Caller {
  readonly userId: string
  readonly claims: SyncServer.Claims | undefined
}

/**
 * What can be known before the transaction: the in-code audiences (sorted, deduplicated),
 * null for `"everyone"`, undefined for `"database"` (read inside the transaction). @internal
 */
export type Prepared = ReadonlyArray<string> | null | undefined

/** Audience keys as the service hands them out: deduplicated, sorted. @internal */
export const normalize = (keys: ReadonlyArray<string>): ReadonlyArray<string> => [...new Set(keys)].sort()

/** Resolves the in-code audiences, outside any transaction. @internal */
export const prepare = (mode: Mode, userId: string): Effect.Effect<Prepared, SqlError> => {
  const visibility = mode.visibility
  if (visibility === "everyone") return Effect.succeed(null)
  if (visibility === "database") return Effect.succeed(undefined)
  return Effect.map(visibility(userId), normalize)
}

/**
 * The caller as the database's read functions take it (`sql/read.ts`), which set what `enter`
 * sets, in the same order, inside their one statement. @internal
 */
export const readCaller = (mode: Mode, caller: Caller, prepared: Prepared): Read.ReadCaller => ({
  userId: caller.userId,
  claims: claimsOf(caller),
  visibility: prepared === null ? "everyone" : prepared === undefined ? "database" : "given",
  given: prepared === null || prepared === undefined ? null : SqlArray.text(prepared),
  role: mode.role
})

/**
 * Sets the role and the caller's settings inside the transaction; `prepared` says what it may
 * see (see `Prepared`; undefined leaves it to `reprise_server.caller_audiences()`). @internal
 */
export const enter = (
  sql: SqlClient.SqlClient,
  mode: Mode,
  caller: Caller,
  prepared: Prepared
): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const claims = claimsOf(caller)
    const audiences = prepared === null || prepared === undefined ? "" : SqlArray.text(prepared)
    const seeAll = prepared === null ? "on" : ""
    // One round trip: the role is set last, and the statement reads no table.
    const role = mode.role === null ? sql`` : sql`, set_config('role', ${mode.role}, true)`
    yield* sql`SELECT set_config('reprise.user_id', ${caller.userId}, true),
      set_config('request.jwt.claims', ${claims}, true),
      set_config('reprise.audiences', ${audiences}, true),
      set_config('reprise.see_all', ${seeAll}, true),
      set_config('reprise_server.scope', '', true)${role}`
  })

const decodeUploadStart = Schema.decodeUnknown(Schema.Array(Schema.Struct({
  bound: Schema.Boolean,
  keys: Schema.NullOr(Schema.parseJson(Schema.Array(Schema.String)))
})))

/**
 * `begin` for an upload from `clientId`, in one round trip after the settings: also binds the
 * client id to the caller when no user has it (`reprise_server.bind_client`); `bound` false
 * when it is another user's. @internal
 */
export const beginUpload = (
  sql: SqlClient.SqlClient,
  mode: Mode,
  caller: Caller,
  prepared: Prepared,
  clientId: string
): Effect.Effect<{ readonly audiences: ReadonlyArray<string> | null; readonly bound: boolean }, SqlError> =>
  Effect.gen(function*() {
    yield* enter(sql, mode, caller, prepared)
    const keys = prepared === undefined ? sql`array_to_json(reprise_server.caller_audiences())::text` : sql`NULL::text`
    const rows = yield* sql`SELECT reprise_server.bind_client(${clientId}, ${caller.userId}) AS bound, ${keys} AS keys`
    const [row] = yield* Effect.orDie(decodeUploadStart(rows))
    const audiences = prepared !== undefined ? prepared : normalize(row?.keys ?? [])
    return { audiences, bound: row?.bound === true }
  })

/** The caller's claims as `request.jwt.claims` holds them: its token's, else `{ "sub": userId }`. */
const claimsOf = (caller: Caller): string => JSON.stringify(caller.claims ?? { sub: caller.userId })
