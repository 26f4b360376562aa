/**
 * Hybrid logical clocks: the timestamps that put every action of every replica in one total
 * order (wall milliseconds, then counter, then node id).
 *
 * The clock arithmetic is pure: `send` and `receive` take the physical time as an argument, so
 * callers read it from Effect's `Clock` (or use `sendNow` / `receiveNow`) and tests control it.
 * The string encoding sorts bytewise exactly as `Order` compares, so SQL can index and
 * `ORDER BY` it, provided the column uses the "C" collation (see `SQL_TYPE`).
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as order from "effect/Order"
import type { ParseError } from "effect/ParseResult"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * The largest wall time an `Hlc` can carry: fifteen decimal digits of milliseconds (the year
 * 33658). It bounds the fixed-width encoding, so every encoded `Hlc` has the same field widths.
 */
export const MAX_WALL_MS = 999_999_999_999_999

/**
 * The largest counter value. When a tick would exceed it, the clock moves its wall time 1 ms
 * forward and resets the counter to 0, which keeps it strictly monotonic.
 */
export const MAX_COUNTER = 0xffff

/**
 * The drift `receive` tolerates by default: 5 minutes. A remote timestamp further than this
 * ahead of the local physical clock is refused, so one bad clock cannot drag every replica's
 * clock into the future.
 */
export const DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000

/**
 * The SQL column type for encoded HLCs: `text COLLATE "C"`. Other collations (such as
 * `en_US.UTF-8`, the default on many servers) ignore punctuation and case at first, so
 * `ORDER BY` would disagree with `Order`; "C" compares bytes, which is what the encoding needs.
 */
export const SQL_TYPE = `text COLLATE "C"`

/**
 * The identifier of a node (a replica or a server): 1 to 64 ASCII letters, digits, `_` or `-`.
 * The charset is ASCII so that JavaScript's UTF-16 comparison and Postgres' byte comparison
 * agree, and contains no `.`, the encoding's field separator.
 */
export const NodeId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/),
  Schema.brand("@reprise/core/Hlc/NodeId"),
  Schema.annotations({ identifier: "NodeId", description: "1 to 64 of A-Z a-z 0-9 _ -" })
)

/**
 * A validated node id; build one with `NodeId.make("replica-1")` (throws on an invalid literal)
 * or decode one with `Schema.decodeUnknown(NodeId)` at a boundary.
 */
export type NodeId = typeof NodeId.Type

/**
 * A hybrid logical clock timestamp: physical wall time in ms, a logical counter for events
 * within the same millisecond, and the node that issued it. Timestamps are values; the clock
 * of a node is simply its latest `Hlc`, advanced with `send` and `receive`.
 */
export class Hlc extends Schema.Class<Hlc>("Hlc")({
  wallMs: Schema.Int.pipe(Schema.between(0, MAX_WALL_MS)),
  counter: Schema.Int.pipe(Schema.between(0, MAX_COUNTER)),
  nodeId: NodeId
}) {}

/**
 * The defect raised when a clock cannot advance because it already stands at `MAX_WALL_MS` and
 * `MAX_COUNTER`. It signals a broken clock source (a physical time or an accepted remote near
 * the year 33658), never a condition to recover from, hence a defect rather than a typed error.
 */
export class HlcOverflowError extends Data.TaggedError("HlcOverflowError")<{ readonly last: Hlc }> {
  override get message(): string {
    return `HLC cannot advance past ${encode(this.last)}: the wall time reached MAX_WALL_MS`
  }
}

/**
 * A remote timestamp refused by `receive` because it is further ahead of the local physical
 * clock than `maxDriftMs`. It is typed so sync can report it (and skip the remote batch)
 * instead of adopting a clock from the far future.
 */
export class ClockDriftError extends Schema.TaggedError<ClockDriftError>()("ClockDriftError", {
  remote: Hlc,
  localPhysicalMs: Schema.Number,
  maxDriftMs: Schema.Number,
  driftMs: Schema.Number
}) {
  override get message(): string {
    return `Remote HLC ${encode(this.remote)} from node "${this.remote.nodeId}" is ${this.driftMs} ms ahead of ` +
      `this node's physical clock (${this.localPhysicalMs} ms), more than the allowed ${this.maxDriftMs} ms. ` +
      `Check the system clock of that node and of this one, or raise maxDriftMs if such skew is expected.`
  }
}

/** Options of `receive`. */
export interface ReceiveOptions {
  /** The largest tolerated lead of a remote wall time over the physical clock; default 5 minutes. */
  readonly maxDriftMs?: number
}

/**
 * The first timestamp of a node: wall time 0, counter 0. Every real event is ordered after it,
 * so it is the starting clock of a fresh replica.
 */
export const zero = (nodeId: NodeId): Hlc => unchecked(0, 0, nodeId)

/**
 * Compares two timestamps by wall time, then counter, then node id (UTF-16 code units, which
 * for the ASCII node ids equals byte order). This is the replay order, and the order of the
 * encoded strings under the "C" collation.
 */
export const compare = (a: Hlc, b: Hlc): -1 | 0 | 1 => {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1
  if (a.nodeId !== b.nodeId) return a.nodeId < b.nodeId ? -1 : 1
  return 0
}

/** The total order of timestamps as an Effect `Order`, for `Array.sort` and friends. */
export const Order: order.Order<Hlc> = compare

/** Whether two timestamps are the same point of the order (same wall, counter and node). */
export const equals = (a: Hlc, b: Hlc): boolean => compare(a, b) === 0

/** The later of two timestamps; useful to fold the newest timestamp seen out of a batch. */
export const max = (a: Hlc, b: Hlc): Hlc => (compare(a, b) >= 0 ? a : b)

/**
 * The timestamp of a new local event: strictly greater than `local`, and no earlier than the
 * physical time, so timestamps track real time while never going backwards when it does.
 * `physicalNowMs` is floored and clamped into `[0, MAX_WALL_MS]` (non-finite counts as 0).
 *
 * @example
 * ```ts
 * let clock = Hlc.zero(Hlc.NodeId.make("replica-1"))
 * clock = Hlc.send(clock, Date.now()) // stamp an action with `clock`
 * ```
 */
export const send = (local: Hlc, physicalNowMs: number): Hlc => {
  const now = physicalMs(physicalNowMs)
  return now > local.wallMs ? unchecked(now, 0, local.nodeId) : tick(local.wallMs, local.counter + 1, local)
}

/**
 * Merges a timestamp received from another node into the local clock. The result keeps the
 * local node id and is strictly greater than both `local` and `remote`, so everything this node
 * does next is ordered after what it has seen. A `remote` whose wall time is more than
 * `maxDriftMs` (default `DEFAULT_MAX_DRIFT_MS`) ahead of the physical time is refused with a
 * `ClockDriftError` and the local clock stays as it was.
 *
 * @example
 * ```ts
 * const merged = Hlc.receive(clock, remoteAction.hlc, Date.now())
 * if (Either.isRight(merged)) clock = merged.right
 * ```
 */
export const receive = (
  local: Hlc,
  remote: Hlc,
  physicalNowMs: number,
  options?: ReceiveOptions
): Either.Either<Hlc, ClockDriftError> => {
  const now = physicalMs(physicalNowMs)
  const maxDriftMs = options?.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS
  const driftMs = remote.wallMs - now
  if (driftMs > maxDriftMs) {
    return Either.left(new ClockDriftError({ remote, localPhysicalMs: now, maxDriftMs, driftMs }))
  }
  const wall = Math.max(local.wallMs, remote.wallMs, now)
  const localNext = wall === local.wallMs ? local.counter + 1 : 0
  const remoteNext = wall === remote.wallMs ? remote.counter + 1 : 0
  return Either.right(tick(wall, Math.max(localNext, remoteNext), local))
}

/**
 * `send` at the current time of Effect's `Clock`, so code under test controls the physical
 * time with `TestClock`.
 */
export const sendNow: (local: Hlc) => Effect.Effect<Hlc> = Effect.fn("Hlc.sendNow")(function*(local: Hlc) {
  return send(local, yield* Clock.currentTimeMillis)
})

/**
 * `receive` at the current time of Effect's `Clock`, failing with `ClockDriftError` when the
 * remote timestamp is too far in the future.
 */
export const receiveNow: (
  local: Hlc,
  remote: Hlc,
  options?: ReceiveOptions
) => Effect.Effect<Hlc, ClockDriftError> = Effect.fn("Hlc.receiveNow")(
  function*(local: Hlc, remote: Hlc, options?: ReceiveOptions) {
    return yield* receive(local, remote, yield* Clock.currentTimeMillis, options)
  }
)

const WALL_DIGITS = 15
const COUNTER_DIGITS = 5
const ENCODED = /^(\d{15})\.(\d{5})\.([A-Za-z0-9_-]{1,64})$/

/**
 * Encodes a timestamp as `WWWWWWWWWWWWWWW.CCCCC.nodeId`: the wall ms as 15 zero-padded decimal
 * digits, the counter as 5, then the node id. Fixed widths make bytewise string order equal
 * `Order`, which is what lets SQL sort and index HLCs (in a `SQL_TYPE` column).
 *
 * @example
 * ```ts
 * Hlc.encode(clock) // "001732406400000.00003.replica-1"
 * ```
 */
export const encode = (hlc: Hlc): string => format(hlc.wallMs, hlc.counter, hlc.nodeId)

/**
 * The schema from the encoded string (see `encode`) to an `Hlc`, for database columns and
 * wire fields that carry HLCs as sortable text.
 */
export const HlcFromString: Schema.Schema<Hlc, string> = Schema.transformOrFail(Schema.String, Hlc, {
  strict: true,
  decode: (s, _, ast) => {
    const match = ENCODED.exec(s)
    return match === null || match[1] === undefined || match[2] === undefined || match[3] === undefined
      ? ParseResult.fail(
        new ParseResult.Type(ast, s, `Expected an encoded HLC "<15 digits>.<5 digits>.<node id>", got ${JSON.stringify(s)}`)
      )
      : ParseResult.succeed({ wallMs: Number(match[1]), counter: Number(match[2]), nodeId: match[3] })
  },
  encode: (fields) => ParseResult.succeed(format(fields.wallMs, fields.counter, fields.nodeId))
}).annotations({ identifier: "HlcFromString" })

/**
 * Decodes an encoded timestamp, failing with a `ParseError` on anything `encode` cannot
 * produce (wrong widths, a counter above `MAX_COUNTER`, a bad node id).
 */
export const decode: (s: string) => Either.Either<Hlc, ParseError> = Schema.decodeEither(HlcFromString)

const format = (wallMs: number, counter: number, nodeId: string): string =>
  `${String(wallMs).padStart(WALL_DIGITS, "0")}.${String(counter).padStart(COUNTER_DIGITS, "0")}.${nodeId}`

// Internal constructors: the arithmetic keeps every field in range, so re-validating each
// timestamp would only cost time in replay loops.
const unchecked = (wallMs: number, counter: number, nodeId: NodeId): Hlc =>
  new Hlc({ wallMs, counter, nodeId }, { disableValidation: true })

const tick = (wallMs: number, counter: number, last: Hlc): Hlc => {
  if (counter <= MAX_COUNTER) return unchecked(wallMs, counter, last.nodeId)
  if (wallMs >= MAX_WALL_MS) throw new HlcOverflowError({ last })
  return unchecked(wallMs + 1, 0, last.nodeId)
}

const physicalMs = (ms: number): number => (Number.isFinite(ms) ? Math.min(Math.max(Math.floor(ms), 0), MAX_WALL_MS) : 0)
