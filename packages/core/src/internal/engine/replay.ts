/**
 * Replay: re-runs recorded actions, in order, on the current state, replacing their recorded
 * patches (inside the caller's transaction: a page's, R-SYNC-2). An action's own failure is
 * its outcome in this history (its rules said no): it has no effect while the others go on.
 * Defects (bugs) and interruption abort the whole sync.
 *
 * Unrunnable records (R-SRV-7): a record the server holds (synced) whose tag this replica does
 * not know, or whose input its registered Schema refuses (a newer app version wrote it, or a
 * hostile client), is not run: its effects are taken from the server, each row its author wrote
 * set to the server's image as of the record (`settle_replay`, as for another user's action of
 * "author" authority), captured as its patches so a rollback undoes them, and its replay does
 * not stand (`authoritative` false: the divergence check adopts, never corrects, its rows). This
 * is safe because the server materialized exactly those patches under the author's identity, with
 * RLS in force: the server's rows are what every replica converges to, whichever can run it. A
 * record this replica cannot run that the server does not hold (its own pending action whose tag
 * the app no longer registers) still fails the sync with `UnknownActionTag` or
 * `InvalidActionArgs`: there is no server image to take, and dropping it would lose the user's
 * work silently; an app keeps registering a tag while records of it may be pending.
 *
 * Checkpoints: actions do not each get a savepoint (one costs about as much as a small action).
 * The state is saved in one savepoint per `checkpointEvery` actions and per loaded batch. A
 * failed action's writes are undone from the patches its run captured. Only when its failure
 * left the transaction aborted (an SQL error) does replay roll back to the savepoint, re-run the
 * actions since it (deterministic: they do the same again), and run the failed one alone in a
 * savepoint of its own, which then rolls back.
 *
 * Per action, one parameterless statement (point the capture triggers at the action, with a
 * checkpoint when one is due) goes to the transaction's connection ahead of the action's own
 * statements, in the same exchange as its first one where the driver queues (PGlite); records
 * are loaded, old patches deleted and the actions marked applied in a few statements per batch.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Action from "../../Action.js"
import { InvalidActionArgs } from "../../ActionExecutor.js"
import type { ActionRegistryShape, UnknownActionTag } from "../../ActionRegistry.js"
import * as SqlArray from "../../SqlArray.js"
import type * as SyncPlanner from "../../SyncPlanner.js"
import { ADOPTION_TAG, correction, CORRECTION_TAG } from "../correction.js"
import { runDeterministic } from "../determinism.js"
import { directStatements, literal } from "../sql/literal.js"
import {
  beginReplay,
  clearPatches,
  finishReplay,
  loadForReplay,
  rollbackReplay,
  setAuthority,
  settleReplay,
  undoFailedReplay
} from "../sql/replay.js"
import type { EngineContext } from "./context.js"

/** Records loaded per statement while replaying. */
const replayBatch = 1000
/** Replayed actions between two savepoints at most (what an aborting failure re-runs). */
const checkpointEvery = 200

/** A record as replay loads it (`loadForReplay`, or the page's `takeIn`). @internal */
export const RecordRow = Schema.Struct({
  id: Schema.String,
  tag: Schema.String,
  args: Schema.Struct({ input: Schema.Unknown, timestamp: Schema.Number }),
  authoritative: Schema.Boolean,
  userId: Schema.NullOr(Schema.String),
  kind: Schema.String,
  synced: Schema.Boolean
})
const RecordRows = Schema.Array(RecordRow)

/** A record as replay loads it. @internal */
export type RecordRow = typeof RecordRow.Type

const uuids = (entries: ReadonlyArray<SyncPlanner.Entry>): string => SqlArray.text(entries.map((e) => e.id))

/**
 * Whether this replica's replay of a record stands (is authoritative): the record is a
 * correction (it only restates rows: replicas receive the actions it restates and compute
 * them), or this replica can run it (`definition`, undefined when it cannot) and the record is
 * this user's (from any of its devices), or the action is of "replica" authority, or the server
 * filters nothing (then every replica sees what the author saw). An action of "author"
 * authority stands on its author's devices only (§11 of DESIGN.md); a record this replica
 * cannot run stands nowhere it cannot be run: the server's result does.
 *
 * @internal
 */
export const stands = (
  userId: string | null,
  record: { readonly userId: string | null; readonly kind: string },
  definition: Action.Any | undefined,
  filtered: boolean
): boolean =>
  record.kind !== "action" ||
  (definition !== undefined &&
    (!filtered || (record.userId !== null && record.userId === userId) || definition.authority === "replica"))

/** What a record runs: its action and decoded args. */
interface Runnable {
  readonly action: Action.Any
  readonly args: unknown
}

/**
 * The action a record runs and its decoded args; undefined when this replica cannot run a
 * record the server holds (an unrunnable remote record, see the module's JSDoc). A correction,
 * or a record the server does not hold, it cannot run fails as before.
 */
const resolve = (
  registry: ActionRegistryShape,
  record: RecordRow
): Effect.Effect<Runnable | undefined, UnknownActionTag | InvalidActionArgs> => {
  const found: Effect.Effect<Action.Any, UnknownActionTag> = record.tag === CORRECTION_TAG
    ? Effect.succeed(correction)
    : registry.get(record.tag)
  const runnable = Effect.flatMap(found, (action) =>
    Effect.map(
      Effect.mapError(
        Schema.decodeUnknown(action.args)(record.args.input),
        (error) => new InvalidActionArgs({ tag: record.tag, issue: error.message })
      ),
      (args): Runnable | undefined => ({ action, args })
    ))
  return record.synced && record.kind === "action" ? Effect.orElseSucceed(runnable, () => undefined) : runnable
}

/** What a replay did besides replaying. @internal */
export interface Replayed {
  /** The ids of the records this replica could not run (their effects were the server's). */
  readonly unrunnable: ReadonlyArray<string>
  /**
   * Whether no synced replayed action (but the unrunnable ones) wrote anything else than its
   * known patches (`finishReplay`'s probe), so the divergence check has nothing to look at for
   * them; undefined when not asked (`mark`: the check runs in a later transaction) or the
   * driver's answer had an unexpected shape (the check then looks, as without the probe).
   */
  readonly agreed: boolean | undefined
}

const nothingReplayed: Replayed = { unrunnable: [], agreed: true }

const Agreed = Schema.Array(Schema.Struct({ agreed: Schema.Boolean }))

/**
 * The probe's answer in what a driver gives for a group of statements: the last statement's
 * rows (one array of rows per statement, as `pg` and PGlite give them; or the rows alone).
 */
const agreedIn = (result: unknown): boolean | undefined => {
  const rows = Array.isArray(result) && result.length > 0 && result.every(Array.isArray) ? result[result.length - 1] : result
  const decoded = Schema.decodeUnknownOption(Agreed)(rows)
  return decoded._tag === "Some" && decoded.value.length === 1 ? decoded.value[0]!.agreed : undefined
}

/**
 * Replays `entries` in the given (global) order, inside the caller's transaction. `filtered`:
 * whether the server filters the log by audience (then every replayed action's rows are settled
 * for private data, see `settleReplay`). `mark`: leave the replayed actions marked for a later
 * divergence check (when the check does not run in this transaction). `preloaded`: records
 * already read in this transaction (the page's unapplied ones, `takeIn`); a batch made of them
 * only is not loaded again, its old patches deleted by a queued statement instead (riding with
 * the first action's).
 *
 * @internal
 */
export const replay = (
  ctx: EngineContext,
  entries: ReadonlyArray<SyncPlanner.Entry>,
  filtered: boolean,
  mark: boolean,
  preloaded?: ReadonlyMap<string, RecordRow>
) =>
  Effect.gen(function*() {
    if (entries.length === 0) return nothingReplayed
    const { executor, registry, sql } = ctx
    // Always inside the page's transaction; its connection skips the statement machinery.
    // Pointing the capture at each action is queued: it rides ahead of the action's first
    // statement where the driver can queue it (one exchange fewer per replayed action).
    const { exec, queue } = yield* directStatements(sql)
    let open = false
    // A set: the actions since a checkpoint are gone through again after a rollback to it.
    const unrunnable = new Set<string>()
    for (let start = 0; start < entries.length; start += replayBatch) {
      const batch = entries.slice(start, start + replayBatch)
      const known = preloaded !== undefined && batch.every((e) => preloaded.has(e.id))
      if (known) yield* queue(clearPatches(literal(uuids(batch))))
      const records = known ? preloaded : new Map((yield* Effect.flatMap(
        loadForReplay(sql, uuids(batch)),
        Schema.decodeUnknown(RecordRows)
      )).map((record) => [record.id, record]))
      // The savepoint holds the state before batch[checkpoint] (taken after the load above,
      // so rolling back to it keeps the old patches deleted). `due`: take one before the next.
      let checkpoint = 0
      let due = true
      // Actions whose failure aborted the transaction: run alone in a savepoint of their own.
      const isolated = new Set<number>()
      for (let i = 0; i < batch.length; i++) {
        const id = batch[i]!.id
        const record = records.get(id)
        if (record === undefined) return yield* Effect.die(new MissingRecord({ actionId: id }))
        // An adoption is not replayed: `finishReplay` drops it, and the check after this
        // replay adopts again from the new state.
        if (record.tag === ADOPTION_TAG) continue
        const runnable = yield* resolve(registry, record)
        const authoritative = stands(executor.userId, record, runnable?.action, filtered)
        const alone = isolated.has(i)
        if (due || alone || i - checkpoint >= checkpointEvery) {
          yield* queue(beginReplay(literal(id), open ? "renew" : "open"))
          open = true
          checkpoint = i
          due = false
        } else {
          yield* queue(beginReplay(literal(id), "none"))
        }
        // Whether the replay stands is decided here, where the action is known for sure: the
        // divergence check reads it. It changes when this replica cannot run a record (it was
        // ingested as runnable, its args refused), or can run one it could not (a newer app
        // version that learned the tag replays it normally from then on).
        if (authoritative !== record.authoritative) yield* queue(setAuthority(literal(id), authoritative))
        if (runnable === undefined) {
          // Not run: the rows its author wrote are set to the server's images as of it.
          unrunnable.add(id)
          yield* exec(settleReplay(literal(id), true, false))
          continue
        }
        const { action, args } = runnable
        // A registered action needs nothing beyond what its run is provided (`Action.Any` erases it).
        const ran = yield* runDeterministic<unknown, unknown, Action.Provided>(sql, action, args, id, record.args.timestamp).pipe(
          Effect.as(true),
          Effect.catchAll(() => Effect.succeed(false))
        )
        let resume = false
        if (!ran && alone) {
          // Everything it did, its capture settings included, goes.
          yield* exec(rollbackReplay)
          resume = true
          due = true
        } else if (!ran) {
          const undone = yield* Effect.as(exec(undoFailedReplay(literal(id))), true).pipe(
            Effect.catchAll(() => Effect.succeed(false))
          )
          if (!undone) {
            // The transaction is aborted: back to the checkpoint; the actions since it run
            // again, then this one alone.
            yield* exec(rollbackReplay)
            isolated.add(i)
            i = checkpoint - 1
            continue
          }
        }
        // Private data (R-SYNC-3 with R-SRV-3): where the author's result stands (it saw rows
        // this replica cannot), its rows are set to the server's; rows written outside this
        // replica's audiences are removed.
        if (!authoritative || filtered) yield* exec(settleReplay(literal(id), !authoritative, resume))
      }
    }
    // Unrunnable records are not left for the divergence check: this replica computed nothing.
    const skipped = unrunnable.size === 0 ? undefined : literal(SqlArray.text([...unrunnable]))
    // The check follows in this transaction unless `mark`: ask its first question here.
    const finished = yield* exec(finishReplay(literal(uuids(entries)), open, mark, skipped, !mark))
    const replayed: Replayed = { unrunnable: [...unrunnable], agreed: mark ? undefined : agreedIn(finished) }
    return replayed
  }).pipe(Effect.withSpan("SyncEngine.replay", {
    attributes: { "reprise.sync.actions": entries.length },
    captureStackTrace: false
  }))

/** A replayed action's record was not found right after it was loaded: a broken invariant. @internal */
export class MissingRecord extends Schema.TaggedError<MissingRecord>()("MissingRecord", {
  actionId: Schema.String
}) {
  override get message() {
    return `SyncEngine: no record for action ${this.actionId}, which the replay plan names`
  }
}
