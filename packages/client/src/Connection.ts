/**
 * The client's connection to the server, as the sync loop, the status and the app see it: its
 * state (online, connecting, offline), the pages the server pushes, and the app's offline
 * switch. `Transport.webSocket` and `Transport.http` provide it beside core's `SyncTransport`;
 * the sync loop consumes `pushes` and tells the connection the applied cursor (`setCursor`),
 * from which a subscription resumes after a reconnect.
 *
 * @example
 * ```ts
 * const connection = yield* Connection.Connection
 * yield* connection.setEnabled(false) // the app's "work offline" toggle: nothing is lost
 * yield* Stream.runForEach(connection.changes, (state) => Effect.log(`sync: ${state}`))
 * ```
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { SyncProtocol } from "@reprise/core"

/**
 * `online`: connected, the last exchange with the server succeeded. `connecting`: a connection
 * attempt is under way. `offline`: not connected (switched off by the app, or waiting before
 * the next attempt after a failure).
 */
export type ConnectionState = "online" | "connecting" | "offline"

/** A page the server pushed, read from `since`: apply it with `SyncEngine.applyPushed(since, page)`. */
export interface Push {
  readonly since: number
  readonly page: SyncProtocol.FetchResponse
}

/** The connection's shape. */
export interface ConnectionShape {
  /** The current state. */
  readonly state: Effect.Effect<ConnectionState>
  /** The current state, then every change. */
  readonly changes: Stream.Stream<ConnectionState>
  /**
   * Pages the server pushed (the WebSocket subscription, or the HTTP transport's polls), in
   * order; one consumer (the sync loop) takes them, and the server is read no further ahead
   * than a few unconsumed pages.
   */
  readonly pushes: Stream.Stream<Push>
  /**
   * The cursor (server sequence) this replica has applied: pushes resume from it after a
   * reconnect. No page is pushed before it is first set.
   */
  readonly setCursor: (cursor: number) => Effect.Effect<void>
  /**
   * The app's offline switch: `false` closes the connection and keeps it closed (calls fail at
   * once with a `TransportError` whose `cause` is `Offline`; local actions stay pending),
   * `true` connects again.
   */
  readonly setEnabled: (enabled: boolean) => Effect.Effect<void>
  /** Whether the app's switch is on. */
  readonly enabled: Effect.Effect<boolean>
}

/** The connection to the server. */
export class Connection extends Context.Tag("@reprise/client/Connection")<Connection, ConnectionShape>() {}

/**
 * The `cause` of a `TransportError` for a call made while the app has switched the connection
 * off (`setEnabled(false)`): nothing was sent; the sync loop syncs when it is switched on again.
 */
export class Offline extends Schema.TaggedError<Offline>()("Offline", {}) {
  override get message() {
    return "The client is offline (Connection.setEnabled(false)): nothing was sent. Local actions stay pending " +
      "and are uploaded when the connection is switched on again."
  }
}

/**
 * The `cause` of a `TransportError` for a call made while the client is not connected (it is
 * connecting, or waiting to reconnect after a failure): nothing was sent; it syncs by itself
 * once connected.
 */
export class NotConnected extends Schema.TaggedError<NotConnected>()("NotConnected", {
  state: Schema.Literal("connecting", "offline")
}) {
  override get message() {
    return `The client is not connected to the server (${this.state}): nothing was sent. It reconnects by itself ` +
      "and syncs once connected."
  }
}

/** The app's `getToken` failed (threw, rejected or failed): the connection attempt is retried later. */
export class TokenUnavailable extends Schema.TaggedError<TokenUnavailable>()("TokenUnavailable", {
  detail: Schema.String
}) {
  override get message() {
    return `getToken failed: ${this.detail}. The transport calls it again at its next connection attempt.`
  }
}
