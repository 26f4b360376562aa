/**
 * The server process the network benchmarks (bench/network.ts) talk to: `SyncService` on the
 * Postgres database `BENCH_DATABASE_URL` (set up by the bench: app tables, tracking, RLS),
 * served over HTTP and WebSocket by `SyncRpcServer` with realtime push and HS256 auth
 * (`BENCH_SECRET`), on a free loopback port. It prints one line, `{"url": "http://..."}`, when
 * it listens, and stops on SIGTERM. With `BENCH_TRACE=1` it also prints every ended span as a
 * JSON line (`networkTrace.ts`), for W7's breakdown.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Auth, Realtime, SyncRpcServer, SyncService } from "@reprise/server"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { recording } from "./networkTrace.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`bench/networkServer.ts: ${name} is not set`)
  return value
}

const ServerLive = SyncRpcServer.layer({ port: 0, host: "127.0.0.1" }).pipe(
  Layer.provide(Realtime.layer()),
  Layer.provideMerge(SyncService.layer()),
  Layer.provide(Auth.layer({ secret: Redacted.make(env("BENCH_SECRET")) })),
  Layer.provideMerge(PgClient.layer({ url: Redacted.make(env("BENCH_DATABASE_URL")), maxConnections: 20 }))
)

const traced = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  process.env["BENCH_TRACE"] === "1"
    ? Effect.withTracer(effect, recording("server", (span) => process.stdout.write(`${JSON.stringify(span)}\n`)))
    : effect

const main = Effect.gen(function*() {
  const address = yield* SyncRpcServer.Address
  yield* Effect.sync(() => process.stdout.write(`${JSON.stringify({ url: address.url })}\n`))
  return yield* Effect.never
})

NodeRuntime.runMain(traced(Effect.provide(main, ServerLive)), { disableErrorReporting: false })
