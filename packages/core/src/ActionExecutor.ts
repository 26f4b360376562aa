/**
 * Executes actions: each execution is ONE transaction holding the action record, the app's
 * writes and the patches the triggers captured (R-ACT-2), with the action's time, randomness
 * and ids made deterministic (R-ACT-3). In development mode each action runs twice and any
 * difference between the two runs' patches is reported (R-ACT-4).
 *
 * @example
 * ```ts
 * const AppLive = ActionExecutor.layer({ userId: "u1", devMode: true }).pipe(
 *   Layer.provide(ActionRegistry.layer([createNote])),
 *   Layer.provide(PgliteClient.layer({ dataDir: "idb://notes" }))
 * )
 * const id = yield* ActionExecutor.execute(createNote, { title: "Hello" })
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ParseError } from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Action from "./Action.js"
import type { DuplicateActionId } from "./ActionIds.js"
import type { UnknownActionTag } from "./ActionRegistry.js"
import { ActionRegistry } from "./ActionRegistry.js"
import * as Hlc from "./Hlc.js"
import { runDeterministic, RunningAction } from "./internal/determinism.js"
import { diffPatches } from "./internal/patchDiff.js"
import { directStatements, hasNul } from "./internal/sql/literal.js"
import * as RecordSql from "./internal/sql/record.js"
import * as Patch from "./Patch.js"
import * as SqlCapabilities from "./SqlCapabilities.js"
import * as SyncProtocol from "./SyncProtocol.js"
import * as SyncSchema from "./SyncSchema.js"

/** The args given for an action do not match its Schema (or do not encode to JSON). */
export class InvalidActionArgs extends Schema.TaggedError<InvalidActionArgs>()("InvalidActionArgs", {
  tag: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `Invalid args for action ${JSON.stringify(this.tag)}: ${this.issue}`
  }
}

/**
 * Development mode ran an action twice on the same state and the two runs wrote different
 * rows: the action reads something besides its args, the database, `Clock`, `Random` and
 * `ActionIds` (for example `Date.now()` or `Math.random()`), so replay would diverge.
 */
export class NondeterministicAction extends Schema.TaggedError<NondeterministicAction>()("NondeterministicAction", {
  tag: Schema.String,
  table: Schema.String,
  rowId: Schema.String,
  columns: Schema.Array(Schema.String),
  detail: Schema.String
}) {
  override get message() {
    const columns = this.columns.length === 0 ? "" : ` (columns: ${this.columns.join(", ")})`
    return `Action ${JSON.stringify(this.tag)} is not deterministic: ${this.detail} on ${this.table} row ` +
      `${JSON.stringify(this.rowId)}${columns}. Take time from Clock, randomness from Random and new ids ` +
      `from ActionIds, and pass anything else in as args.`
  }
}

/**
 * An action was executed from inside another running action. Replay re-runs the outer action's
 * code, which would execute the inner one again as a new action with a new id; so it is
 * refused, and the outer action fails with nothing written.
 */
export class NestedAction extends Schema.TaggedError<NestedAction>()("NestedAction", {
  tag: Schema.String,
  runningTag: Schema.String,
  runningActionId: Schema.String
}) {
  override get message() {
    return `Action ${JSON.stringify(this.tag)} was executed inside the running action ` +
      `${JSON.stringify(this.runningTag)} (${this.runningActionId}): ` +
      `an action cannot execute another one, because replaying the outer action would record the inner one ` +
      `again. Run the other action's logic inside this one instead (yield* other.run(args)), so its writes are ` +
      `this action's.`
  }
}

/**
 * An action's args, or a row image it wrote, are over the sync protocol's limits
 * (`SyncProtocol.Limits`): the server would refuse every upload of it (`TooLarge`), so it is
 * refused here, in its transaction, with nothing written (R-SRV-7). `what` names the value
 * (`args`, `args depth`, `patches`, `forward row image`, `reverse row image`, `... row image
 * depth`, `row id`, `audience key`); `table` and `rowId` the row, for a patch.
 */
export class ActionTooLarge extends Schema.TaggedError<ActionTooLarge>()("ActionTooLarge", {
  tag: Schema.String,
  what: Schema.String,
  limit: Schema.Number,
  size: Schema.Number,
  table: Schema.NullOr(Schema.String),
  rowId: Schema.NullOr(Schema.String)
}) {
  override get message() {
    const where = this.table === null ? "" : ` (table ${this.table}, row ${JSON.stringify(this.rowId)})`
    const measure = this.what === "patches" ? "" : this.what.endsWith("depth") ? " levels" : " characters"
    return `Action ${JSON.stringify(this.tag)} was not executed: its ${this.what}${where} ` +
      `${this.what.endsWith("depth") ? "nest more than" : "come to"} ${this.size}${measure}, over the sync protocol's limit ` +
      `of ${this.limit} (SyncProtocol.Limits), so the server would refuse it on every upload. Nothing was written. ` +
      `Keep big values out of synced rows and args (store them elsewhere, a blob store, and sync a reference) or ` +
      `split them over several rows.`
  }
}

/** Errors any execution can fail with, besides the action's own. */
export type ExecutionError =
  | InvalidActionArgs
  | NondeterministicAction
  | NestedAction
  | DuplicateActionId
  | ActionTooLarge
  | SqlError

/** Options of the executor. */
export interface Options {
  /** The signed-in user recorded as the author of actions; null when anonymous. */
  readonly userId?: string | null
  /** Run every action twice and compare (R-ACT-4). Costs a second run; use it in development and tests. */
  readonly devMode?: boolean
  /** The client id to use if the database has none yet (a random UUID otherwise). */
  readonly clientId?: string
  /** How far ahead of this replica's clock a received HLC may be; 5 minutes by default (R-SYNC-8). */
  readonly maxDriftMs?: number
  /**
   * Where new action ids come from: `crypto.randomUUID()` by default. A simulation passes a
   * seeded source so that a seed replays exactly (action ids seed the actions' `Random`).
   * Ids must be UUIDs, unique across every replica.
   */
  readonly newActionId?: Effect.Effect<string>
}

/** The executor's shape. */
export interface ActionExecutorShape {
  /** This replica's client id (also its HLC node id). */
  readonly clientId: string
  /** The user this replica's actions are recorded for (null when none was given). */
  readonly userId: string | null
  /** Runs a defined action with typed args and returns its result. */
  readonly execute: <A, I, Out, E, R>(
    action: Action.Action<string, A, I, Out, E, R>,
    args: A
  ) => Effect.Effect<Out, E | ExecutionError, Exclude<R, Action.Provided>>
  /** Runs the registered action `tag` with encoded (JSON) args, as a UI or a facade sends them. */
  readonly executeTag: (tag: string, args: unknown) => Effect.Effect<unknown, unknown>
  /** The latest HLC this replica issued or received. */
  readonly clock: Effect.Effect<Hlc.Hlc>
  /**
   * Merges a received timestamp into this replica's clock (`Hlc.receive`), so everything it
   * does next is ordered after what it has seen; refuses one too far in the future (R-SYNC-8).
   */
  readonly observe: (remote: Hlc.Hlc) => Effect.Effect<void, Hlc.ClockDriftError>
}

/** Executes actions on this replica. */
export class ActionExecutor extends Context.Tag("@reprise/core/ActionExecutor")<ActionExecutor, ActionExecutorShape>() {}

class FirstRun extends Data.TaggedError("FirstRun")<{ readonly patches: ReadonlyArray<Patch.Patch> }> {}

const ClientStateRow = Schema.Struct({ client_id: Schema.String, last_hlc: Schema.NullOr(Hlc.HlcFromString) })

/**
 * Builds the executor: installs the sync schema if needed and restores this replica's clock.
 */
export const make = (
  options: Options = {}
): Effect.Effect<ActionExecutorShape, SqlError | SyncSchema.SchemaVersionTooNew | SyncSchema.InvalidClientId | ParseError, SqlClient.SqlClient | ActionRegistry> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const registry = yield* ActionRegistry
    yield* SyncSchema.install(options.clientId === undefined ? {} : { clientId: options.clientId })
    const [stateRow] = yield* RecordSql.clientState(sql)
    const state = yield* Schema.decodeUnknown(ClientStateRow)(stateRow)
    const nodeId = yield* Schema.decodeUnknown(Hlc.NodeId)(state.client_id)
    // Resume after the newest timestamp this replica has issued or received.
    const clock = yield* Ref.make(
      state.last_hlc === null
        ? Hlc.zero(nodeId)
        : new Hlc.Hlc({ wallMs: state.last_hlc.wallMs, counter: state.last_hlc.counter, nodeId })
    )
    const userId = options.userId ?? null
    const devMode = options.devMode ?? false
    const newActionId = options.newActionId
    // Read once, here, where the driver's layer provides them (however the app's layers hide
    // them later). On a single-session client (PGlite) the record statement is prepared once,
    // so each action skips planning it (see recordInsert); a pool's connections may not have it.
    const capabilities = yield* SqlCapabilities.current
    const prepared = capabilities.singleSession ? yield* Ref.make(yield* prepareRecord(sql)) : undefined

    const runRecorded = <Out, E, R>(
      action: Action.Action<string, unknown, unknown, Out, E, R>,
      encodedArgs: unknown
    ): Effect.Effect<Out, E | ExecutionError, Exclude<R, Action.Provided>> =>
      Effect.gen(function*() {
        const running = yield* Effect.serviceOption(RunningAction)
        if (Option.isSome(running)) {
          return yield* new NestedAction({
            tag: action.tag,
            runningTag: running.value.tag,
            runningActionId: running.value.actionId
          })
        }
        // The record keeps the args as JSON, and a replay decodes them from it: so does this run,
        // so that an encoded form JSON cannot hold (a Date, a bigint) fails here and now.
        const input = yield* Effect.try({
          try: () => JSON.stringify(encodedArgs) as string | undefined,
          catch: (error) =>
            new InvalidActionArgs({
              tag: action.tag,
              issue: `they do not encode to JSON (${error instanceof Error ? error.message : String(error)}); ` +
                `give the action an args Schema whose encoded form is plain JSON`
            })
        })
        const parsed: unknown = input === undefined ? undefined : JSON.parse(input)
        const args = yield* Effect.mapError(
          Schema.decodeUnknown(action.args)(parsed),
          (error) => new InvalidActionArgs({ tag: action.tag, issue: argsIssue(action, encodedArgs, error.message) })
        )
        const actionId = newActionId === undefined ? crypto.randomUUID() : yield* newActionId
        const timestamp = yield* Clock.currentTimeMillis
        const hlc = Hlc.encode(yield* Ref.updateAndGet(clock, (last) => Hlc.send(last, timestamp)))
        // As JSON.stringify({ input, timestamp }) writes it.
        const time = JSON.stringify(timestamp)
        const recordArgs = input === undefined ? `{"timestamp":${time}}` : `{"input":${input},"timestamp":${time}}`
        const argsTooLarge = argsOverLimits(action.tag, recordArgs, input, parsed)
        if (argsTooLarge !== undefined) return yield* argsTooLarge
        const nested = Option.isSome(yield* Effect.serviceOption(SqlClient.TransactionConnection))
        const values: RecordSql.RecordValues = [actionId, action.tag, recordArgs, state.client_id, userId, hlc]
        yield* Effect.annotateCurrentSpan({ "reprise.action.id": actionId, "reprise.action.hlc": hlc })
        const run = (usePrepared: boolean) =>
          sql.withTransaction(Effect.gen(function*() {
            // The transaction's own connection runs Reprise's fixed statements directly, without
            // the statement machinery (compile, span, scope) an app statement goes through.
            const { exec, queue } = yield* directStatements(sql, capabilities)
            // The record rides ahead of the action's first statement (or its COMMIT) where the
            // driver can queue it, saving the action an exchange with the database.
            yield* recordInsert(sql, queue, values, usePrepared)
            const out = devMode
              ? yield* runTwice(action, args, actionId, timestamp)
              : yield* runDeterministic(sql, action, args, actionId, timestamp)
            // Inside a caller's transaction, later writes must not be taken for this action's.
            if (nested) yield* exec(RecordSql.clearAction)
            return out
          }))
        // The patches it captures are checked against the protocol's limits as the capture
        // trigger writes them (only an app action's: the record statement points the check at
        // it, see internal/sql/capture.ts), failing the action's statement: an action error,
        // or, where the action swallowed that error, its failed COMMIT (`withTransaction` dies
        // then). The transaction rolled back either way: the action is refused with nothing
        // written.
        const tooLarge = <A, R2>(effect: Effect.Effect<A, E | ExecutionError, R2>): Effect.Effect<A, E | ExecutionError, R2> =>
          effect.pipe(
            Effect.catchIf(
              (error) => patchesOverLimits(action.tag, error) !== undefined,
              (error) => Effect.fail(patchesOverLimits(action.tag, error)!)
            ),
            Effect.catchSomeDefect((defect) => Option.map(Option.fromNullable(patchesOverLimits(action.tag, defect)), Effect.fail))
          )
        if (prepared === undefined || !(yield* Ref.get(prepared))) return yield* tooLarge(run(false))
        // The session lost the prepared statement (DEALLOCATE, DISCARD, another PGlite behind a
        // worker): the record failed, failing the action's first statement (which it went ahead
        // of) or the commit, so nothing was written. Prepare it again and run the action once
        // more; in a caller's transaction, whose state that failure aborted, the error stands.
        return yield* Effect.catchIf(run(true), (error) => !nested && isMissingRecordStatement(error), () =>
          Effect.flatMap(
            Effect.flatMap(prepareRecord(sql), (ok) => Ref.set(prepared, ok)),
            () => run(false)
          )).pipe(tooLarge)
      }).pipe(Effect.withSpan("ActionExecutor.execute", {
        attributes: { "reprise.action.tag": action.tag },
        captureStackTrace: false
      }))

    const runTwice = <Out, E, R>(
      action: Action.Action<string, unknown, unknown, Out, E, R>,
      args: unknown,
      actionId: string,
      timestamp: number
    ) =>
      Effect.gen(function*() {
        const first = yield* sql.withTransaction(
          runDeterministic(sql, action, args, actionId, timestamp).pipe(
            Effect.zipRight(Effect.provideService(Patch.forActions([actionId]), SqlClient.SqlClient, sql)),
            Effect.flatMap((patches) => Effect.fail(new FirstRun({ patches })))
          )
        ).pipe(Effect.catchIf((e): e is FirstRun => e instanceof FirstRun, (e) => Effect.succeed(e.patches)))
        yield* sql.unsafe(RecordSql.restartPatchSequence)
        const out = yield* runDeterministic(sql, action, args, actionId, timestamp)
        const second = yield* Effect.provideService(Patch.forActions([actionId]), SqlClient.SqlClient, sql)
        const difference = diffPatches(first, second)
        if (difference !== undefined) {
          return yield* new NondeterministicAction({ tag: action.tag, ...difference })
        }
        return out
      })

    const execute = <A, I, Out, E, R>(action: Action.Action<string, A, I, Out, E, R>, args: A) =>
      Effect.flatMap(
        Effect.mapError(
          Schema.encode(action.args)(args),
          (error) => new InvalidActionArgs({ tag: action.tag, issue: error.message })
        ),
        (encoded) => runRecorded(action as Action.Action<string, unknown, unknown, Out, E, R>, encoded)
      )

    // Registered actions are run by tag (facades, replay), where no extra services can be
    // supplied: they must need nothing beyond what the executor provides.
    const executeTag = (tag: string, args: unknown): Effect.Effect<unknown, unknown> =>
      Effect.flatMap(
        registry.get(tag),
        (action: Action.Any): Effect.Effect<unknown, unknown> => runRecorded(action, args) as Effect.Effect<unknown, unknown>
      )

    const observe = (remote: Hlc.Hlc): Effect.Effect<void, Hlc.ClockDriftError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatten(Ref.modify(clock, (last): readonly [Effect.Effect<void, Hlc.ClockDriftError>, Hlc.Hlc] => {
          const merged = Hlc.receive(last, remote, now, options.maxDriftMs === undefined ? {} : { maxDriftMs: options.maxDriftMs })
          return merged._tag === "Right" ? [Effect.void, merged.right] : [Effect.fail(merged.left), last]
        })))

    return { clientId: state.client_id, userId, execute, executeTag, clock: Ref.get(clock), observe }
  })

/** The executor as a layer (needs `SqlClient` and `ActionRegistry`). */
export const layer = (
  options: Options = {}
): Layer.Layer<ActionExecutor, SqlError | SyncSchema.SchemaVersionTooNew | SyncSchema.InvalidClientId | ParseError, SqlClient.SqlClient | ActionRegistry> =>
  Layer.effect(ActionExecutor, make(options))

/** Executes `action` with `args` through the executor in context. */
export const execute = <A, I, Out, E, R>(
  action: Action.Action<string, A, I, Out, E, R>,
  args: A
): Effect.Effect<Out, E | ExecutionError, Exclude<R, Action.Provided> | ActionExecutor> =>
  Effect.flatMap(ActionExecutor, (executor) => executor.execute(action, args))

/** Executes the registered action `tag` with encoded args through the executor in context. */
export const executeTag = (
  tag: string,
  args: unknown
): Effect.Effect<unknown, unknown, ActionExecutor> => Effect.flatMap(ActionExecutor, (executor) => executor.executeTag(tag, args))

/**
 * Why args failed to decode from their JSON form; when they decode as given but not from JSON,
 * the Schema's encoded form is what is wrong, and the message says so.
 */
const argsIssue = (action: Action.Any, encodedArgs: unknown, message: string): string =>
  Either.isRight(Schema.decodeUnknownEither(action.args)(encodedArgs))
    ? `${message}\n(the args are decoded from their JSON form, as a replay will decode them, and this Schema's ` +
      `encoded form does not survive JSON: use one whose encoded form is plain JSON, such as Schema.Date rather ` +
      `than Schema.DateFromSelf)`
    : message

const L = SyncProtocol.Limits

/** The SQLSTATE the capture trigger's size check raises. */
const TOO_LARGE_STATE = "RP413"

const TooLargeDetail = Schema.parseJson(Schema.Struct({
  what: Schema.String,
  limit: Schema.Number,
  size: Schema.Number,
  table: Schema.String,
  rowId: Schema.String
}))

/** The `ActionTooLarge` a failure of the capture trigger's size check stands for, if it is one. */
const patchesOverLimits = (tag: string, error: unknown): ActionTooLarge | undefined => {
  if (!(error instanceof SqlError)) return undefined
  const cause = error.cause
  if (!Predicate.hasProperty(cause, "code") || cause.code !== TOO_LARGE_STATE) return undefined
  if (!Predicate.hasProperty(cause, "detail") || typeof cause.detail !== "string") return undefined
  const detail = Schema.decodeUnknownOption(TooLargeDetail)(cause.detail)
  return Option.isNone(detail) ? undefined : new ActionTooLarge({ tag, ...detail.value })
}

/**
 * Why an action's args are over the protocol's limits, if they are: the record's args
 * (`{ input, timestamp }`) longer than `maxArgsChars`, or the input nested deeper than
 * `maxJsonDepth` (only looked at when its JSON text is long enough to be that deep).
 */
const argsOverLimits = (
  tag: string,
  recordArgs: string,
  input: string | undefined,
  parsed: unknown
): ActionTooLarge | undefined => {
  if (recordArgs.length > L.maxArgsChars) {
    return new ActionTooLarge({ tag, what: "args", limit: L.maxArgsChars, size: recordArgs.length, table: null, rowId: null })
  }
  if (input === undefined || input.length <= 2 * L.maxJsonDepth) return undefined
  const depth = depthOf(parsed, L.maxJsonDepth + 1)
  return depth > L.maxJsonDepth
    ? new ActionTooLarge({ tag, what: "args depth", limit: L.maxJsonDepth, size: depth, table: null, rowId: null })
    : undefined
}

/**
 * How deeply containers nest in a parsed JSON value (a scalar: 0, `{}` or `[]`: 1), counted up to
 * `stop` at most; with an explicit stack, so no input overflows the call stack.
 */
const depthOf = (value: unknown, stop: number): number => {
  let deepest = 0
  const stack: Array<readonly [unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!
    if (typeof item !== "object" || item === null) continue
    if (depth > deepest) deepest = depth
    if (deepest >= stop) return deepest
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1])
  }
  return deepest
}

/** Re-exported so callers can match on it next to the executor's own errors. */
export type { UnknownActionTag }

/**
 * Prepares the record statement in the session unless it is already there (another executor
 * on the same database did). Succeeds with whether it is usable; a database that refuses
 * (`PREPARE` not allowed) leaves the executor on the unprepared form.
 */
const prepareRecord = (sql: SqlClient.SqlClient): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const [present] = yield* RecordSql.recordPrepared(sql)
    if (present?.current === true) return true
    if (present !== undefined) yield* RecordSql.deallocateRecord(sql)
    yield* RecordSql.prepareRecord(sql)
    return true
  }).pipe(Effect.catchAll(() => Effect.succeed(false)))

/** The failure of an `EXECUTE` of the record statement that the session no longer has. */
const isMissingRecordStatement = (error: unknown): boolean => {
  if (!(error instanceof SqlError)) return false
  const cause = error.cause
  return Predicate.hasProperty(cause, "code") && cause.code === "26000" &&
    Predicate.hasProperty(cause, "message") && typeof cause.message === "string" &&
    cause.message.includes(RecordSql.RECORD_STATEMENT)
}

/**
 * One statement that points the capture triggers at the action, resets its patch sequence and
 * inserts its record.
 *
 * It is sent without parameters, its values inlined as escaped literals: a parameterless
 * statement goes over Postgres' simple query protocol, one exchange instead of the extended
 * protocol's parse/describe/bind/execute, which on PGlite is the biggest part of its cost.
 * With `usePrepared` it is an `EXECUTE` of the session's prepared form, which also skips
 * planning (about a fifth of an insert action's database time on PGlite). A value with a NUL
 * character (which no literal can hold, and Postgres refuses anyway) keeps the parameterized
 * form, so its error is unchanged.
 */
const recordInsert = (
  sql: SqlClient.SqlClient,
  exec: (statement: string) => Effect.Effect<unknown, SqlError>,
  values: RecordSql.RecordValues,
  usePrepared: boolean
): Effect.Effect<unknown, SqlError> =>
  values.some((value) => value !== null && hasNul(value))
    ? RecordSql.recordWithParameters(sql, values)
    : exec(RecordSql.recordLiteral(values, usePrepared))
