/**
 * The server's side of the sync protocol, as every transport calls it: upload a batch of
 * actions, fetch a page of the log, read the head, each for an authenticated caller.
 *
 * Requests arrive decoded: a transport decodes what it received with `SyncProtocol`'s schemas
 * (mapping a body that does not decode to `UploadRejected` or `FetchRejected`) before it calls
 * the server, so an implementation never parses a wire message. It still trusts nothing its
 * caller could choose within the decoded types: size limits, authorship, the client, clock
 * drift and ranges are the server's to check, and their failures are the same typed rejections.
 *
 * `@reprise/server`'s `SyncService` implements it; the in-process transport, the simulation kit
 * and the network transports call it through this one shape.
 *
 * @example
 * ```ts
 * const server: SyncServer.SyncServerShape = yield* SyncService.SyncService
 * const page = yield* server.fetch(userId, { since: 0, limit: 100 })
 * ```
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SyncProtocol from "./SyncProtocol.js"

/**
 * The server failed for a reason that is not the caller's (its database is unreachable, a
 * statement failed): nothing was written; the caller may retry later. `detail` says what the
 * server was doing; the database's own error stays in the server's logs and traces.
 */
export class ServerFailure extends Schema.TaggedError<ServerFailure>()("ServerFailure", {
  detail: Schema.String
}) {
  override get message() {
    return `The sync server failed: ${this.detail}. Nothing was written; retry later.`
  }
}

/** Why an upload fails. */
export type UploadError = SyncProtocol.UploadRejected | SyncProtocol.BehindHead | ServerFailure

/** Why a fetch fails. */
export type FetchError = SyncProtocol.FetchRejected | ServerFailure

/**
 * The caller's verified token claims (a JWT's payload, as the transport's auth accepted it), for
 * the server's database: `@reprise/server` sets them transaction-locally as Supabase-style
 * `request.jwt.claims` (JSON), so row-level security policies can read them. In-process callers
 * that authenticate nobody pass none.
 */
export type Claims = Readonly<Record<string, unknown>>

/**
 * The server's shape. Every method takes the authenticated caller's user id first and, last and
 * optional, the claims its credentials carried (`Claims`).
 */
export interface SyncServerShape {
  /**
   * Stores the request's new actions for `callerUserId` (R-SRV-1, R-SYNC-5, R-SYNC-6), or
   * refuses the whole request with `UploadRejected` (limits, author = caller, client, clock
   * drift, content) or `BehindHead`; nothing is written on any failure.
   */
  readonly upload: (
    callerUserId: string,
    request: SyncProtocol.UploadRequest,
    claims?: Claims
  ) => Effect.Effect<SyncProtocol.UploadResponse, UploadError>
  /**
   * The page of the log after `request.since` that `callerUserId` may see (R-SYNC-9, R-SRV-3);
   * `FetchRejected` when the request is out of the protocol's range, or its cursor is beyond the
   * server's head (the log was reset, or the cursor is another server's).
   */
  readonly fetch: (
    callerUserId: string,
    request: SyncProtocol.FetchRequest,
    claims?: Claims
  ) => Effect.Effect<SyncProtocol.FetchResponse, FetchError>
  /** The highest server sequence assigned. */
  readonly head: (callerUserId: string, claims?: Claims) => Effect.Effect<number, ServerFailure>
}

/**
 * The server a transport calls in-process (an app's own server, a test, a simulation).
 * `@reprise/server`'s `SyncService.layer` provides it beside its own `SyncService` tag.
 */
export class SyncServer extends Context.Tag("@reprise/core/SyncServer")<SyncServer, SyncServerShape>() {}
