/**
 * The open WebSocket connections and the users they serve, for the per-user connection limit.
 *
 * A browser cannot set headers on a WebSocket upgrade, so a connection is anonymous until its
 * first request carries a token; the connection then counts for that user (and for every
 * other user whose token a later request on it carries) until it closes.
 */
import { SyncRpc } from "@reprise/core"
import * as Effect from "effect/Effect"

/** One open connection: the users it counts for. */
interface Connection {
  readonly users: Set<string>
}

/** The registry's shape. */
export interface Connections {
  /** Registers a connection under `id` while `effect` runs (the connection's life). */
  readonly open: <A, E, R>(id: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * Counts connection `id` for `userId`, or fails with `LimitExceeded` when the user already has
   * the maximum of other connections open; an unknown id (a message that did not come through
   * a connection the server opened) is refused the same way.
   */
  readonly admit: (id: string | undefined, userId: string) => Effect.Effect<void, SyncRpc.LimitExceeded>
  /** How many connections count for `userId` now. */
  readonly countOf: (userId: string) => number
}

/** A registry allowing `maxPerUser` connections per user. */
export const make = (maxPerUser: number): Connections => {
  const connections = new Map<string, Connection>()
  const perUser = new Map<string, number>()
  const refused = (detail: string) =>
    new SyncRpc.LimitExceeded({ limit: "maxConnectionsPerUser", max: maxPerUser, detail })

  const release = (connection: Connection) => {
    for (const user of connection.users) {
      const count = (perUser.get(user) ?? 1) - 1
      if (count <= 0) perUser.delete(user)
      else perUser.set(user, count)
    }
    connection.users.clear()
  }

  return {
    open: (id, effect) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          const connection: Connection = { users: new Set() }
          connections.set(id, connection)
          return connection
        }),
        () => effect,
        (connection) =>
          Effect.sync(() => {
            connections.delete(id)
            release(connection)
          })
      ),
    admit: (id, userId) =>
      Effect.suspend(() => {
        const connection = id === undefined ? undefined : connections.get(id)
        if (connection === undefined) {
          return Effect.fail(refused("the request did not arrive on a WebSocket connection this server opened"))
        }
        if (connection.users.has(userId)) return Effect.void
        const count = perUser.get(userId) ?? 0
        if (count >= maxPerUser) {
          return Effect.fail(
            refused(`user ${JSON.stringify(userId)} already has ${count} WebSocket connections open; close one first`)
          )
        }
        connection.users.add(userId)
        perUser.set(userId, count + 1)
        return Effect.void
      }),
    countOf: (userId) => perUser.get(userId) ?? 0
  }
}
