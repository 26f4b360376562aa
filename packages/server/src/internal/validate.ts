/**
 * Request validation that needs no database and that Schema decoding does not do: size limits,
 * authorship, client, clock drift, the shape of every patch, where a correction may go, and a
 * fetch's range. Pure functions returning the first problem found, so the service can refuse a
 * request before opening a transaction. The service runs them on every decoded request (a
 * caller can build any value of the decoded types); the transports' decoding (`SyncCodec`)
 * runs `checkCounts` on the raw body too, before decoding it.
 *
 * @internal
 */
import { Hlc, SyncProtocol } from "@reprise/core"

type Rejection = SyncProtocol.UploadRejected

const reject = (reason: Rejection["reason"], actionId: string | null, detail: string): Rejection =>
  new SyncProtocol.UploadRejected({ reason, actionId, detail })

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The counts of an upload, raw or decoded: checked before decoding, an oversized batch is
 * reported as `TooLarge` (with the limit) rather than as a schema failure, and is never walked
 * in full.
 */
export const checkCounts = (request: unknown): Rejection | undefined => {
  if (!isRecord(request) || !Array.isArray(request["actions"])) return undefined
  const actions: ReadonlyArray<unknown> = request["actions"]
  if (actions.length > SyncProtocol.Limits.maxActionsPerUpload) {
    return reject(
      "TooLarge",
      null,
      `${actions.length} actions in one upload; the limit is ${SyncProtocol.Limits.maxActionsPerUpload}. Upload in batches.`
    )
  }
  for (const action of actions) {
    if (!isRecord(action) || !Array.isArray(action["patches"])) continue
    const count = action["patches"].length
    if (count > SyncProtocol.Limits.maxPatchesPerAction) {
      const id = typeof action["id"] === "string" ? action["id"] : null
      return reject(
        "TooLarge",
        id,
        `the action carries ${count} patches; the limit is ${SyncProtocol.Limits.maxPatchesPerAction}`
      )
    }
  }
  return undefined
}

/**
 * A correction names the audience it is for, and the server shows it (with the actions it
 * restates) there: a user may only send one to an audience of theirs, or to everyone (null).
 */
export const misplacedCorrection = (
  actions: ReadonlyArray<SyncProtocol.ActionWire>,
  audiences: ReadonlyArray<string>
): Rejection | undefined => {
  for (const action of actions) {
    if (action.kind !== "correction") continue
    const input = isRecord(action.args) ? action.args["input"] : undefined
    if (!isRecord(input) || !("audience" in input)) continue
    const audience = input["audience"]
    if (audience === null || (typeof audience === "string" && audiences.includes(audience))) continue
    return reject(
      "Malformed",
      action.id,
      `the correction is for audience ${JSON.stringify(audience)}, which is not one of the uploader's ` +
        `(${audiences.map((a) => JSON.stringify(a)).join(", ") || "none"}); a correction is for one of them, or null ` +
        `for public rows`
    )
  }
  return undefined
}

/** The problem of a fetch request whose values are outside the protocol's range, if any. */
export const checkFetch = (request: SyncProtocol.FetchRequest): SyncProtocol.FetchRejected | undefined => {
  const { limit, since } = request
  if (!Number.isSafeInteger(since) || since < 0) {
    return new SyncProtocol.FetchRejected({ detail: `since is ${since}; it is a server sequence, an integer ≥ 0` })
  }
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > SyncProtocol.Limits.maxFetchLimit) {
    return new SyncProtocol.FetchRejected({
      detail: `limit is ${limit}; it is an integer from 1 to ${SyncProtocol.Limits.maxFetchLimit}`
    })
  }
  return undefined
}

/** What `validate` checks against. */
export interface Context {
  readonly callerUserId: string
  readonly nowMs: number
  readonly maxDriftMs: number
}

/**
 * The first problem of a decoded upload, or the encoded args of each action (JSON text, in
 * request order) when there is none.
 */
export const validate = (
  request: SyncProtocol.UploadRequest,
  context: Context
): Rejection | ReadonlyArray<string> => {
  const tooLarge = checkCounts(request)
  if (tooLarge !== undefined) return tooLarge
  if (request.actions.length === 0) return reject("Malformed", null, "the upload carries no actions")
  if (!Number.isSafeInteger(request.basis) || request.basis < 0) {
    return reject("Malformed", null, `basis is ${request.basis}; it is a server sequence, an integer ≥ 0`)
  }
  const seen = new Set<string>()
  const args: Array<string> = []
  for (const action of request.actions) {
    const id = action.id
    if (seen.has(id.toLowerCase())) return reject("Malformed", id, "the action appears twice in the upload")
    seen.add(id.toLowerCase())
    if (action.userId !== context.callerUserId) {
      return reject(
        "WrongAuthor",
        id,
        `the action is authored by ${JSON.stringify(action.userId)}, but the upload comes from user ` +
          `${JSON.stringify(context.callerUserId)}; a user can only upload their own actions`
      )
    }
    if (action.clientId !== request.clientId) {
      return reject(
        "WrongClient",
        id,
        `the action comes from client ${JSON.stringify(action.clientId)}, but the upload is from client ` +
          `${JSON.stringify(request.clientId)}; each client uploads only its own actions`
      )
    }
    const driftMs = action.hlc.wallMs - context.nowMs
    if (driftMs > context.maxDriftMs) {
      return reject(
        "ClockDrift",
        id,
        `the action's clock (${Hlc.encode(action.hlc)}) is ${driftMs} ms ahead of the server's, more than the ` +
          `allowed ${context.maxDriftMs} ms; check the client's system clock`
      )
    }
    const encoded = encodeArgs(action.args)
    if (encoded === undefined) return reject("Malformed", id, "the action's args are not JSON")
    if (encoded.length > SyncProtocol.Limits.maxArgsChars) {
      return reject(
        "TooLarge",
        id,
        `the action's args are ${encoded.length} characters of JSON; the limit is ${SyncProtocol.Limits.maxArgsChars}`
      )
    }
    args.push(encoded)
    const problem = checkPatches(action.patches)
    if (problem !== undefined) return reject("Malformed", id, problem)
  }
  return args
}

const encodeArgs = (args: unknown): string | undefined => {
  try {
    const text: unknown = JSON.stringify(args)
    return typeof text === "string" ? text : undefined
  } catch {
    return undefined
  }
}

/** Which row images each operation carries (the capture format, see DESIGN.md §4). */
const IMAGES = {
  INSERT: { forward: true, reverse: false },
  UPDATE: { forward: true, reverse: true },
  DELETE: { forward: false, reverse: true }
} as const

const checkPatches = (patches: ReadonlyArray<SyncProtocol.PatchWire>): string | undefined => {
  const seqs = new Set<number>()
  for (const patch of patches) {
    const where = `patch ${patch.seq} (${patch.op} on ${JSON.stringify(`${patch.schema}.${patch.table}`)} row ${JSON.stringify(patch.rowId)})`
    if (seqs.has(patch.seq)) return `patch sequence ${patch.seq} appears twice`
    seqs.add(patch.seq)
    const expected = IMAGES[patch.op]
    for (const side of ["forward", "reverse"] as const) {
      const json = patch[side]
      if ((json !== null) !== expected[side]) {
        return `${where}: ${side} must be ${expected[side] ? "a JSON object of column values" : "null"}`
      }
      if (json !== null && !isJsonObject(json)) return `${where}: ${side} is not a JSON object`
    }
  }
  return undefined
}

// Parsed only to validate: the text itself is what is stored, so nothing is rounded.
const isJsonObject = (text: string): boolean => {
  try {
    return isRecord(JSON.parse(text))
  } catch {
    return false
  }
}
