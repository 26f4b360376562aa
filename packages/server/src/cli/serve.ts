/**
 * `reprise-server serve`: the sync server on HTTP and WebSocket. It composes the database (the
 * one `DATABASE_URL` names, or an embedded one in `<data-dir>/postgres`), the schema
 * installation, `SyncService`, `Realtime` (LISTEN/NOTIFY push), `Auth` and `SyncRpcServer`,
 * prints one line when it listens, and runs until SIGINT/SIGTERM, which close everything in
 * reverse order: stop accepting and end subscriptions, close the pool, stop the embedded
 * database last.
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import { databaseUrl, dataDir, dev, jwt, limits, listen, reset } from "./options.js"

const config = { listen, databaseUrl, dataDir, reset, dev, jwt, limits }

/** The parsed options of `serve`. */
export type ServeOptions = Command.Command.ParseConfig<typeof config>

/** The `serve` command. */
export const serve = Command.make(
  "serve",
  config,
  (options) =>
    Effect.flatMap(Effect.promise(() => import("./serveRun.js")), (module) => module.run(options))
).pipe(
  Command.withDescription(
    "Run the sync server: RPC over HTTP (POST /rpc) and WebSocket (GET /rpc/ws), and GET /health. Without " +
      "DATABASE_URL it starts an embedded PostgreSQL in <data-dir>/postgres. Outside --dev it needs " +
      "--jwt-secret or --jwks-url. Every option can also be set by the environment variable its description " +
      "names; --log-level by REPRISE_LOG_LEVEL. SIGINT/SIGTERM shut it down cleanly (exit code 0)."
  )
)
