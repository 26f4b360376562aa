/**
 * The sync engine's end-to-end scenarios as one suite that any transport runs: client replicas
 * (PGlite, each with its own `SyncEngine`) and a server (`SyncService` on the database the
 * harness builds), connected by the transport under test. The in-process transport runs it in
 * this package's tests; each network transport runs it in its own package's tests, with no
 * change to the scenarios.
 *
 * A harness says how to build the server's database and a replica's transport; the suite
 * installs the app's tables and tracking on every database, runs the server, and checks what
 * replicas and server hold. Each scenario group builds its databases once and every test works
 * on its own rows.
 *
 * @example
 * ```ts
 * import { SyncSuite } from "@reprise/sync-suite"
 * import { InProcessTransport } from "@reprise/server"
 * import { PgliteClient } from "@reprise/sql-pglite"
 *
 * SyncSuite.run({
 *   name: "in-process transport, server on PGlite",
 *   serverDatabase: () => PgliteClient.layer({}),
 *   transport: InProcessTransport.layer
 * })
 * ```
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SyncServer, SyncTransport } from "@reprise/core"
import type { SyncCodec, SyncService } from "@reprise/server"
import type * as Layer from "effect/Layer"
import { engineScenarios } from "./internal/engine.js"
import { pagingScenarios } from "./internal/paging.js"
import { privateDataScenarios } from "./internal/privateData.js"

/**
 * What the server's side offers a transport: the services `SyncService.layer` provides (the
 * server under both its tags, and the fetch fast path).
 */
export type ServerServices = SyncService.SyncService | SyncServer.SyncServer | SyncCodec.EncodedFetch

/** What the suite needs from a transport and a server database. */
export interface Harness {
  /** Names the transport and the server's database in the suite's titles. */
  readonly name: string
  /** A fresh server database; called once per scenario group. */
  readonly serverDatabase: () => Layer.Layer<SqlClient.SqlClient, unknown>
  /**
   * A replica's transport, signed in as `userId`, to the server in context. The suite also
   * uses it to fetch and upload as a user directly, where a scenario checks what the server
   * answers that user.
   */
  readonly transport: (userId: string) => Layer.Layer<SyncTransport.SyncTransport, unknown, ServerServices>
}

/** Which scenario groups to register. */
export interface Options {
  /**
   * Paging's scenarios (R-SYNC-10), true by default. They check the engine's pull (what a
   * replica uploads does not depend on how it paged the log), not the transport, and are the
   * suite's slowest: the network runs leave them to the in-process one.
   */
  readonly paging?: boolean
}

/**
 * Registers every scenario (vitest `describe` blocks) for `harness`: the engine's (two
 * replicas reconciling, correcting, retrying; R-SYNC-1..6, R-ACT-1), paging's (fresh replicas
 * catching up over pages of any size upload nothing; R-SYNC-10; see `Options.paging`) and
 * private data's (four users in overlapping audiences; R-SRV-3 with R-SYNC-3).
 */
export const run = (harness: Harness, options: Options = {}): void => {
  engineScenarios(harness)
  if (options.paging ?? true) pagingScenarios(harness)
  privateDataScenarios(harness)
}
