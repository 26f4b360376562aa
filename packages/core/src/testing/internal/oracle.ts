/**
 * The oracle: a fresh replica that replays the server's whole log in canonical order, on the
 * oracle's database, fetching straight from the server (no faults), as one user. What it
 * computes is what the log means; the server's tables must equal it. Replaying the log a second
 * time on the same state must write the same patches (determinism).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as ActionExecutor from "../../ActionExecutor.js"
import * as ActionRegistry from "../../ActionRegistry.js"
import * as SyncEngine from "../../SyncEngine.js"
import * as SyncTransport from "../../SyncTransport.js"
import { OracleUploaded } from "./errors.js"
import * as Sql from "./sql.js"
import { makeVirtualClock } from "./virtualClock.js"
import type { World } from "./world.js"

/** The oracle's client id. @internal */
export const CLIENT_ID = "sim-oracle"

/** The user the oracle replays as when the server filters nothing (it then sees every action). @internal */
export const ANYONE = "sim-oracle"

/** An oracle's running engine. @internal */
export interface Oracle {
  /** Fetches and applies everything new (all of the log, the first time). */
  readonly pull: Effect.Effect<SyncEngine.SyncReport, SyncEngine.SyncError>
  /** Rolls back every applied action and replays the whole log again (`SyncEngine.replayAll`). */
  readonly replayAll: Effect.Effect<SyncEngine.SyncReport, SyncEngine.SyncError>
  /** Closes the engine (the database stays). */
  readonly close: Effect.Effect<void>
}

/**
 * Empties the oracle's database and builds an engine on it for `userId`, fetching from the
 * server as that user. Its clock reads past every replica's (the largest skew, plus one), so
 * no fetched timestamp is ahead of it. @internal
 */
export const make = (world: World, db: Context.Context<SqlClient.SqlClient>, userId: string) =>
  Effect.gen(function*() {
    yield* Effect.provide(Sql.reset(world.tables, true), db)
    const scope = yield* Scope.make()
    const direct: SyncTransport.SyncTransportShape = {
      upload: () => Effect.die(new OracleUploaded({ userId })),
      fetch: (request) =>
        world.server.current.fetch(userId, request).pipe(
          Effect.mapError((e) => new SyncTransport.TransportError({ detail: e.message }))
        )
    }
    const layer = SyncEngine.layer({}).pipe(
      Layer.provideMerge(ActionExecutor.layer({ userId, clientId: CLIENT_ID })),
      Layer.provideMerge(ActionRegistry.layer(world.config.actions)),
      Layer.provideMerge(Layer.succeed(SyncTransport.SyncTransport, direct)),
      Layer.provideMerge(Layer.succeedContext(db))
    )
    const services = yield* Layer.buildWithScope(layer, scope)
    const clock = makeVirtualClock(() => world.now + world.faults.maxSkewMs + 1, () => Effect.void)
    const oracle: Oracle = {
      pull: Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.pull).pipe(Effect.provide(services), Effect.withClock(clock)),
      replayAll: Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.replayAll).pipe(
        Effect.provide(services),
        Effect.withClock(clock)
      ),
      close: Scope.close(scope, Exit.void)
    }
    return oracle
  })

/**
 * Replays the oracle's whole log a second time on the state the first replay left, and counts
 * the actions whose second replay wrote other patches than the first (0 when the app's actions
 * are deterministic). @internal
 */
export const replayTwice = (oracle: Oracle, db: Context.Context<SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    yield* Effect.provide(Sql.keepFirstReplay, db)
    yield* oracle.replayAll
    return yield* Effect.provide(Sql.changedSinceFirstReplay, db)
  })
