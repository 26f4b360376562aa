/**
 * A recording tracer for the W7 breakdown (`W7_TRACE=1`, bench/network.ts): every span the
 * Effect runtime opens is timed on the machine's wall clock (`performance.timeOrigin +
 * performance.now()`, in ms with sub-ms precision), so spans recorded in the bench process and
 * in the server process line up on one time axis. The server process (bench/networkServer.ts)
 * prints each ended span as a JSON line on stdout; the bench collects them.
 */
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/** One ended span: its name, the process that ran it, and its start and end (epoch ms). */
export interface Recorded {
  readonly span: string
  readonly where: string
  readonly start: number
  readonly end: number
}

/** The wall clock in epoch ms, sub-ms precision, comparable across processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now()

let ids = 0

/** A tracer that hands every ended span to `onEnd`, labelled `where`. */
export const recording = (where: string, onEnd: (span: Recorded) => void): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, _startTime, kind) => {
      const start = now()
      const spanId = `${where}-${++ids}`
      const traceId = Option.match(parent, { onNone: () => spanId, onSome: (p) => p.traceId })
      const attributes = new Map<string, unknown>()
      const span: Tracer.Span & { status: Tracer.SpanStatus } = {
        _tag: "Span",
        name,
        spanId,
        traceId,
        parent,
        context,
        status: { _tag: "Started", startTime: 0n },
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end: (endTime: bigint, exit: Exit.Exit<unknown, unknown>) => {
          span.status = { _tag: "Ended", startTime: 0n, endTime, exit }
          onEnd({ span: name, where, start, end: now() })
        },
        attribute: (key, value) => {
          attributes.set(key, value)
        },
        event: () => undefined,
        addLinks: () => undefined
      }
      return span
    },
    context: (f) => f()
  })

/** Whether a parsed stdout line of the server process is a recorded span. */
export const isRecorded = (u: unknown): u is Recorded =>
  typeof u === "object" && u !== null && "span" in u && "start" in u && "end" in u && "where" in u
