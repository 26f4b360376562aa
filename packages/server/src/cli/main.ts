/**
 * The entry point of `reprise-server` (`bin/reprise-server.mjs` imports it): runs the command
 * line under Node's runtime, which turns SIGINT/SIGTERM into an interruption, so every
 * finalizer (draining the HTTP server, stopping an embedded PostgreSQL) runs before the process
 * exits with code 0. A failure exits with code 1.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { run } from "./app.js"

NodeRuntime.runMain(run(process.argv), { disableErrorReporting: true })
