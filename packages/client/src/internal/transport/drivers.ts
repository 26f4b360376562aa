/**
 * The two drivers of the supervisor: WebSocket (one socket per connection; a subscription on it
 * pushes pages as the server commits them) and HTTP (pages are polled with `Fetch` every
 * `pollInterval`).
 *
 * @internal
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Socket from "@effect/platform/Socket"
import { RpcTransport } from "@reprise/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Driver } from "./supervisor.js"
import { transportError } from "./supervisor.js"

/** A subscription on the connection's socket, from the cursor on; it never ends quietly. @internal */
export const webSocket = (url: string, pageSize: number, constructor: (url: string, protocols?: string | Array<string>) => globalThis.WebSocket): Driver => ({
  open: (token) =>
    RpcTransport.makeWebSocket({ url, token: () => token }).pipe(
      Effect.provideService(Socket.WebSocketConstructor, constructor)
    ),
  session: (transport, from, push) =>
    Effect.flatMap(from, (since) => {
      let at = since
      return transport.subscribe({ since, limit: pageSize }).pipe(
        Stream.runForEach((page) =>
          Effect.suspend(() => {
            const pushed = { since: at, page }
            at = page.next
            return push(pushed)
          })
        ),
        Effect.zipRight(Effect.fail(transportError("the server ended the subscription", undefined)))
      )
    })
})

/**
 * Polls `Fetch` from the cursor: a page is pushed when it says something (new actions, or a
 * cursor further on); the next poll follows at once while the server has more, else after
 * `pollInterval`. @internal
 */
export const http = (url: string, pageSize: number, pollInterval: Duration.Duration): Driver => ({
  open: (token) =>
    RpcTransport.makeHttp({ url, token: () => token }).pipe(Effect.provide(FetchHttpClient.layer)),
  session: (transport, from, push) =>
    Effect.gen(function*() {
      let pushedUpTo = 0
      for (;;) {
        const since = Math.max(yield* from, pushedUpTo)
        const page = yield* transport.fetch({ since, limit: pageSize })
        if (page.actions.length > 0 || page.next > since) {
          yield* push({ since, page })
          pushedUpTo = page.next
        }
        if (!page.hasMore) yield* Effect.sleep(pollInterval)
      }
    })
})
