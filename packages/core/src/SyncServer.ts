/**
 * The server's side of the sync protocol, as every transport calls it: upload a batch of
 * actions, fetch a page of the log, read the head, each for an authenticated caller. Requests
 * arrive decoded (a transport decodes what it received with `SyncProtocol`'s schemas before it
 * calls the server), so an implementation never sees a malformed request.
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
 * statement failed): nothing was written; the caller may retry later.
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

/** The server's shape. */
export interface SyncServerShape {
  /** Stores the request's new actions for `callerUserId` (R-SRV-1, R-SYNC-5, R-SYNC-6). */
  readonly upload: (
    callerUserId: string,
    request: SyncProtocol.UploadRequest
  ) => Effect.Effect<SyncProtocol.UploadResponse, UploadError>
  /** The page of the log after `request.since` that `callerUserId` may see (R-SYNC-9, R-SRV-3). */
  readonly fetch: (
    callerUserId: string,
    request: SyncProtocol.FetchRequest
  ) => Effect.Effect<SyncProtocol.FetchResponse, ServerFailure>
  /** The highest server sequence assigned. */
  readonly head: (callerUserId: string) => Effect.Effect<number, ServerFailure>
}

/** The server a transport calls in-process (an app's own server, a test, a simulation). */
export class SyncServer extends Context.Tag("@reprise/core/SyncServer")<SyncServer, SyncServerShape>() {}
