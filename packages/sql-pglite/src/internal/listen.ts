import type { PGliteInterface } from "@electric-sql/pglite"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { toSqlError } from "./errors.js"

const quoteIdentifier = (name: string) => `"${name.replace(/"/g, "\"\"")}"`

/**
 * LISTEN/NOTIFY over PGlite's single connection. PGlite's own `listen` keys channels by a
 * folded name that does not round-trip every identifier (embedded quotes), so this keeps an
 * exact-name subscriber count per channel: the first subscriber issues `LISTEN`, the last one
 * to leave issues `UNLISTEN`, and every notification is matched on its exact channel name.
 *
 * @internal
 */
export const makeListener = (pglite: PGliteInterface) => {
  const subscribers = new Map<string, Set<(payload: string) => void>>()
  let detach: (() => void) | undefined

  const dispatch = (channel: string, payload: string) => {
    const set = subscribers.get(channel)
    if (set !== undefined) for (const emit of set) emit(payload)
  }

  const subscribe = (channel: string, emit: (payload: string) => void) =>
    Effect.tryPromise({
      try: async () => {
        let set = subscribers.get(channel)
        if (set === undefined) {
          set = new Set()
          subscribers.set(channel, set)
          detach ??= pglite.onNotification(dispatch)
          try {
            await pglite.exec(`LISTEN ${quoteIdentifier(channel)}`)
          } catch (cause) {
            subscribers.delete(channel)
            throw cause
          }
        }
        set.add(emit)
      },
      catch: (cause) => toSqlError(cause, `Failed to listen on channel ${JSON.stringify(channel)}`)
    })

  const unsubscribe = (channel: string, emit: (payload: string) => void) =>
    Effect.promise(async () => {
      const set = subscribers.get(channel)
      if (set === undefined) return
      set.delete(emit)
      if (set.size > 0) return
      subscribers.delete(channel)
      if (subscribers.size === 0 && detach !== undefined) {
        detach()
        detach = undefined
      }
      if (!pglite.closed) await pglite.exec(`UNLISTEN ${quoteIdentifier(channel)}`).catch(() => undefined)
    })

  return (channel: string): Stream.Stream<string, SqlError> =>
    Stream.asyncPush<string, SqlError>((emitter) => {
      const emit = (payload: string) => {
        emitter.single(payload)
      }
      return Effect.acquireRelease(subscribe(channel, emit), () => unsubscribe(channel, emit))
    })
}
