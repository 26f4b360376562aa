/**
 * The entry point of `reprise-server` (`bin/reprise-server.mjs` imports it): runs the command
 * line under Node's runtime, which turns SIGINT/SIGTERM into an interruption, so every
 * finalizer (draining the HTTP server, stopping an embedded PostgreSQL) runs before the process
 * exits with code 0; SIGHUP is treated as SIGTERM. A failure exits with code 1.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { run } from "./app.js"

// A closed terminal (SIGHUP) shuts down as cleanly as SIGTERM: the runtime handles only
// SIGINT and SIGTERM, and dying of SIGHUP would leave an embedded Postgres running.
process.once("SIGHUP", () => process.kill(process.pid, "SIGTERM"))

NodeRuntime.runMain(run(process.argv), { disableErrorReporting: true })
