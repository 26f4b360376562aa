/**
 * The invariants checked after quiescence, each recording what broke in the world's problems:
 * every replica equals the server in its user's audiences and holds nothing outside them;
 * the server equals a fresh replay of its log (the oracle, once per user with audiences); no
 * committed action is lost; nothing stays pending; replaying the log twice writes the same
 * patches; and the app's own invariants hold on every database.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { Report } from "../Simulation.js"
import * as Oracle from "./oracle.js"
import * as Sql from "./sql.js"
import type { Replica, World } from "./world.js"

/** What the checks found: the report's counts besides the scheduler's. @internal */
export type Findings = Pick<
  Report,
  | "divergences"
  | "lost"
  | "doubleApplies"
  | "residualPending"
  | "nondeterministic"
  | "violations"
  | "scopeLeaks"
  | "corrections"
  | "competingCorrections"
>

/** Runs every check on the quiescent world. @internal */
export const run = (world: World, oracleDb: Context.Context<SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    const replicas = world.replicas
    const views = serverViews(world)
    const converged = yield* convergence(world, replicas, views)
    const oracle = yield* oracles(world, oracleDb, views)
    const lost = yield* lostOrPending(world, replicas, oracle.logIds)
    const nondeterministic = yield* Oracle.replayTwice(oracle.last, oracleDb)
    const counted = yield* Effect.provide(Sql.correctionCounts, oracleDb)
    if (nondeterministic > 0) world.problems.push(`${nondeterministic} actions wrote other patches when replayed again on the same state`)
    yield* oracle.last.close
    const app = yield* appInvariants(world, replicas, oracleDb)
    const findings: Findings = {
      divergences: converged.divergences + oracle.divergences,
      scopeLeaks: converged.scopeLeaks + oracle.scopeLeaks,
      lost: lost.lost,
      residualPending: lost.residualPending,
      nondeterministic,
      corrections: counted.corrections,
      competingCorrections: counted.competing,
      doubleApplies: app.doubleApplies,
      violations: app.violations
    }
    return findings
  })

/** The audience keys a user may see; null when the server filters nothing. */
const audiencesOf = (world: World, userId: string): ReadonlyArray<string> | null => world.config.audiences?.[userId] ?? null

/** Each user's view of the server (its tables hashed in the user's audiences), read once per distinct scope. */
const serverViews = (world: World) => {
  const known = new Map<string, ReadonlyMap<string, string>>()
  return (userId: string) =>
    Effect.gen(function*() {
      const key = JSON.stringify(audiencesOf(world, userId))
      const cached = known.get(key)
      if (cached !== undefined) return cached
      const view = (yield* Effect.provide(Sql.scopedHashes(world.tables, audiencesOf(world, userId)), world.server.db)).hashes
      known.set(key, view)
      return view
    })
}

type ServerView = ReturnType<typeof serverViews>

/**
 * Compares a database with the server in `userId`'s scope: a divergence per table that
 * differs (described by `differs`, with the first differing rows), and the rows outside the scope.
 */
const compare = (
  world: World,
  view: ServerView,
  db: Context.Context<SqlClient.SqlClient>,
  userId: string,
  differs: (table: string, mine: string | undefined, theirs: string) => string
) =>
  Effect.gen(function*() {
    const scope = audiencesOf(world, userId)
    const { hashes, leaks } = yield* Effect.provide(Sql.scopedHashes(world.tables, scope), db)
    let divergences = 0
    for (const [table, h] of yield* view(userId)) {
      if (hashes.get(table) === h) continue
      divergences++
      const tracked = world.tables.find((t) => t.q === table)
      const mine = tracked === undefined ? new Map<string, string>() : yield* Effect.provide(Sql.scopedRows(tracked, scope), db)
      const theirs = tracked === undefined ? new Map<string, string>() : yield* Effect.provide(Sql.scopedRows(tracked, scope), world.server.db)
      world.problems.push(differs(table, hashes.get(table), h) + rowDifferences(mine, theirs))
    }
    return { divergences, leaks }
  })

/** Every replica equals the server in its user's audiences, and holds no row outside them. */
const convergence = (world: World, replicas: ReadonlyArray<Replica>, view: ServerView) =>
  Effect.gen(function*() {
    let divergences = 0
    let scopeLeaks = 0
    for (const replica of replicas) {
      const found = yield* compare(
        world,
        view,
        replica.db,
        replica.userId,
        (table, mine, theirs) => `replica ${replica.index}: table ${table} differs from the server's (${mine} vs ${theirs})`
      )
      divergences += found.divergences
      scopeLeaks += found.leaks
      if (found.leaks > 0) world.problems.push(`replica ${replica.index}: ${found.leaks} rows outside ${replica.userId}'s audiences`)
    }
    return { divergences, scopeLeaks }
  })

/**
 * The oracle: a fresh replica replaying the server's whole log in canonical order; with
 * audiences, once per user, as that user, over what that user may fetch. Returns the last
 * oracle still running (the determinism check replays on it) and the log's action ids as the
 * oracles fetched them (each user sees at least its own actions).
 */
const oracles = (world: World, oracleDb: Context.Context<SqlClient.SqlClient>, view: ServerView) =>
  Effect.gen(function*() {
    const users = world.config.audiences === undefined ? [Oracle.ANYONE] : [...new Set(world.config.users)]
    const logIds = new Set<string>()
    let divergences = 0
    let scopeLeaks = 0
    let last: Oracle.Oracle | undefined
    for (const userId of users) {
      if (last !== undefined) yield* last.close
      last = yield* Oracle.make(world, oracleDb, userId)
      yield* last.pull
      for (const row of yield* Effect.provide(Sql.actionIds(undefined), oracleDb)) logIds.add(row.id)
      const of = world.config.audiences === undefined ? "" : ` of ${userId}`
      const found = yield* compare(
        world,
        view,
        oracleDb,
        userId,
        (table) => `server: table ${table} differs from a fresh replay of its log (the oracle${of})`
      )
      divergences += found.divergences
      scopeLeaks += found.leaks
      if (found.leaks > 0) world.problems.push(`the oracle of ${userId}: ${found.leaks} rows outside its audiences`)
    }
    if (last === undefined) return yield* Effect.dieMessage("the simulation has no oracle user")
    return { last, logIds, divergences, scopeLeaks }
  })

/** Every action a replica committed is on the replica and in the log; nothing stays pending. */
const lostOrPending = (world: World, replicas: ReadonlyArray<Replica>, logIds: ReadonlySet<string>) =>
  Effect.gen(function*() {
    let lost = 0
    let residualPending = 0
    for (const replica of replicas) {
      const own = yield* Effect.provide(Sql.actionIds(replica.clientId), replica.db)
      const ownActions = own.filter((r) => r.kind === "action").length
      if (ownActions !== replica.committed) {
        lost += Math.abs(replica.committed - ownActions)
        world.problems.push(`replica ${replica.index}: committed ${replica.committed} actions but holds ${ownActions} of its own`)
      }
      for (const row of own) {
        // Adoptions are local: never uploaded.
        if (row.kind !== "adoption" && !logIds.has(row.id)) {
          lost++
          world.problems.push(`replica ${replica.index}: its ${row.kind} ${row.id} is not in the server's log`)
        }
      }
      const pending = yield* Effect.provide(Sql.pendingCount, replica.db)
      residualPending += pending
      if (pending > 0) world.problems.push(`replica ${replica.index}: ${pending} actions still pending`)
    }
    return { lost, residualPending }
  })

/** The app's own invariants on every database: the server, the oracle, each replica. */
const appInvariants = (world: World, replicas: ReadonlyArray<Replica>, oracleDb: Context.Context<SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    let doubleApplies = 0
    let violations = 0
    const invariants = world.config.invariants
    if (invariants === undefined) return { doubleApplies, violations }
    const databases: ReadonlyArray<readonly [string, Context.Context<SqlClient.SqlClient>]> = [
      ["server", world.server.db],
      ["oracle", oracleDb],
      ...replicas.map((r): readonly [string, Context.Context<SqlClient.SqlClient>] => [`replica ${r.index}`, r.db])
    ]
    for (const [name, db] of databases) {
      for (const violation of yield* Effect.provide(invariants(name), db)) {
        if (violation.kind === "double-apply") doubleApplies++
        else violations++
        world.problems.push(`${name}: ${violation.kind}: ${violation.detail}`)
      }
    }
    return { doubleApplies, violations }
  })

/** The first few rows that differ between two row maps, in words. */
const rowDifferences = (mine: ReadonlyMap<string, string>, theirs: ReadonlyMap<string, string>): string => {
  const ids = [...new Set([...mine.keys(), ...theirs.keys()])].filter((id) => mine.get(id) !== theirs.get(id)).sort()
  return ids.slice(0, 3).map((id) => `; row ${id}: ${mine.get(id) ?? "absent"} vs ${theirs.get(id) ?? "absent"}`).join("") +
    (ids.length > 3 ? `; and ${ids.length - 3} more` : "")
}
