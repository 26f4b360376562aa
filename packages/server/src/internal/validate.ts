/**
 * Request validation that needs no database (R-SRV-7): every field of a request is checked
 * here, before anything reaches Postgres, so hostile input is a typed rejection naming the
 * field and the limit (`SyncProtocol.Limits`), never a database error, a crash or a hang.
 *
 * - `checkSizes`: counts and string lengths of an upload, raw or decoded: the transports'
 *   decoding (`SyncCodec`) runs it on the raw body before decoding, so an oversized body is
 *   `TooLarge` and never walked in full by the Schema.
 * - `validate`: the whole decoded upload. The service runs it on every request (a caller can
 *   build any value of the decoded types): sizes, each field the Schema checks (again, for
 *   values built without decoding), authorship, client, clock drift, the `{ input, timestamp }`
 *   args record and its JSON (depth and size, walked without recursion), the tag against the
 *   record's kind, a correction's input, and each patch (seq range, images by operation, each
 *   image scanned once without recursion).
 * - `checkFetch`: a fetch's range and the caller.
 *
 * Pure functions returning the first problem found.
 *
 * @internal
 */
import { Hlc, SyncProtocol } from "@reprise/core"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

type Rejection = SyncProtocol.UploadRejected
const { Limits } = SyncProtocol

const reject = (reason: Rejection["reason"], actionId: string | null, detail: string): Rejection =>
  new SyncProtocol.UploadRejected({ reason, actionId, detail })

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A string field longer than `max`: its description, else undefined. */
const overLength = (value: unknown, max: number, what: string, limit: keyof typeof Limits): string | undefined =>
  typeof value === "string" && value.length > max
    ? `${what} is ${value.length} characters long; the limit is ${max} (SyncProtocol.Limits.${limit})`
    : undefined

/**
 * The counts and string lengths of an upload, raw or decoded (`SyncProtocol.uploadSizeProblem`),
 * as a `TooLarge` rejection naming the field and the limit.
 */
export const checkSizes = (request: unknown): Rejection | undefined => {
  const problem = SyncProtocol.uploadSizeProblem(request)
  return problem === undefined ? undefined : reject("TooLarge", problem.actionId, problem.detail)
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const TAG = /^[A-Za-z0-9_.:-]{1,200}$/
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/
const OPS: ReadonlySet<unknown> = new Set(["INSERT", "UPDATE", "DELETE"])

/**
 * The fields of an action that the Schema checks when a request is decoded, checked again by
 * hand (a caller can build any value of the decoded types; a Schema validation per action
 * would cost several times more on every upload).
 */
const actionFieldsProblem = (action: SyncProtocol.ActionWire): string | undefined => {
  if (typeof action.id !== "string" || !UUID.test(action.id)) return "id: it is not a UUID"
  if (typeof action.tag !== "string" || !TAG.test(action.tag)) return "tag: it is not 1 to 200 of A-Z a-z 0-9 _ . : -"
  if (typeof action.clientId !== "string" || !NODE_ID.test(action.clientId)) {
    return "clientId: it is not 1 to 64 of A-Z a-z 0-9 _ -"
  }
  if (action.userId !== null) {
    const user = typeof action.userId === "string" ? SyncProtocol.textProblem(action.userId) : "it is not a string"
    if (user !== undefined) return `userId: ${user}`
  }
  if (!(action.hlc instanceof Hlc.Hlc)) return "hlc: it is not a clock reading"
  if (action.kind !== "action" && action.kind !== "correction") return "kind: it is neither action nor correction"
  if (!Array.isArray(action.patches)) return "patches: it is not an array"
  return undefined
}

/** The fields of a patch (`SyncProtocol.PatchWire`), checked by hand as `actionFieldsProblem` does. */
const patchFieldsProblem = (patch: SyncProtocol.PatchWire): string | undefined => {
  if (typeof patch !== "object" || patch === null) return "it is not a patch"
  if (!Number.isInteger(patch.seq) || patch.seq < 1 || patch.seq > Limits.maxPatchSeq) {
    return `seq is ${patch.seq}; it is an integer from 1 to ${Limits.maxPatchSeq} (SyncProtocol.Limits.maxPatchSeq)`
  }
  for (const field of ["schema", "table"] as const) {
    const name: unknown = patch[field]
    const problem = typeof name === "string" ? SyncProtocol.identifierProblem(name) : "it is not a string"
    if (problem !== undefined) return `${field}: ${problem}`
  }
  const rowId = typeof patch.rowId === "string" ? SyncProtocol.textProblem(patch.rowId) : "it is not a string"
  if (rowId !== undefined) return `rowId: ${rowId}`
  if (patch.audienceKey !== null) {
    const key = typeof patch.audienceKey === "string" ? SyncProtocol.textProblem(patch.audienceKey) : "it is not a string"
    if (key !== undefined) return `audienceKey: ${key}`
  }
  if (!OPS.has(patch.op)) return "op: it is none of INSERT, UPDATE, DELETE"
  if (patch.forward !== null && typeof patch.forward !== "string") return "forward: it is not JSON text"
  if (patch.reverse !== null && typeof patch.reverse !== "string") return "reverse: it is not JSON text"
  return undefined
}

const correctionProblem = (() => {
  const decode = Schema.decodeUnknownEither(SyncProtocol.CorrectionInput)
  return (input: unknown): string | undefined => {
    const result = decode(input)
    if (Either.isRight(result)) return undefined
    const [first] = ParseResult.ArrayFormatter.formatIssueSync(result.left.issue)
    return `${first?.path.map(String).join(".") ?? ""}: ${first?.message ?? "not valid"}`
  }
})()

/** The caller's user id, from its token: too long (`TooLarge`) or not storable (`Malformed`). */
const callerProblem = (callerUserId: string): { readonly tooLarge: boolean; readonly detail: string } | undefined => {
  const long = overLength(callerUserId, Limits.maxUserIdChars, "the caller's user id", "maxUserIdChars")
  if (long !== undefined) return { tooLarge: true, detail: long }
  const bad = SyncProtocol.textProblem(callerUserId)
  return bad === undefined ? undefined : { tooLarge: false, detail: `the caller's user id: ${bad}` }
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

/**
 * The problem of a fetch request whose values are outside the protocol's range, or of its
 * caller's user id (when given), if any.
 */
export const checkFetch = (
  request: SyncProtocol.FetchRequest,
  callerUserId?: string
): SyncProtocol.FetchRejected | undefined => {
  const { limit, since } = request
  if (callerUserId !== undefined) {
    const caller = callerProblem(callerUserId)
    if (caller !== undefined) return new SyncProtocol.FetchRejected({ detail: caller.detail })
  }
  if (!Number.isSafeInteger(since) || since < 0) {
    return new SyncProtocol.FetchRejected({
      detail: `since is ${since}; it is a server sequence, an integer from 0 to ${Limits.maxServerSeq}`
    })
  }
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > Limits.maxFetchLimit) {
    return new SyncProtocol.FetchRejected({
      detail: `limit is ${limit}; it is an integer from 1 to ${Limits.maxFetchLimit}`
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
  const caller = callerProblem(context.callerUserId)
  if (caller !== undefined) return reject(caller.tooLarge ? "TooLarge" : "Malformed", null, caller.detail)
  const tooLarge = checkSizes(request)
  if (tooLarge !== undefined) return tooLarge
  if (request.actions.length === 0) return reject("Malformed", null, "the upload carries no actions")
  if (!Number.isSafeInteger(request.basis) || request.basis < 0) {
    return reject("Malformed", null, `basis is ${request.basis}; it is a server sequence, an integer from 0 to ${Limits.maxServerSeq}`)
  }
  const seen = new Set<string>()
  const args: Array<string> = []
  for (const action of request.actions) {
    const id = action.id
    const fields = actionFieldsProblem(action)
    if (fields !== undefined) return reject("Malformed", typeof id === "string" ? id.slice(0, 36) : null, fields)
    if (seen.has(id.toLowerCase())) return reject("Malformed", id, "the action appears twice in the upload")
    seen.add(id.toLowerCase())
    const problem = checkAction(action, request.clientId, context)
    if (problem !== undefined) return problem
    const encoded = encodeArgs(action.args)
    if (typeof encoded !== "string") return reject(encoded.tooLarge ? "TooLarge" : "Malformed", id, `the action's args: ${encoded.detail}`)
    args.push(encoded)
    const patches = checkPatches(action.patches)
    if (patches !== undefined) return reject(patches.tooLarge ? "TooLarge" : "Malformed", id, patches.detail)
  }
  return args
}

/** Authorship, client, clock, tag and kind of one action whose fields are valid. */
const checkAction = (action: SyncProtocol.ActionWire, clientId: string, context: Context): Rejection | undefined => {
  const id = action.id
  if (action.userId !== context.callerUserId) {
    return reject(
      "WrongAuthor",
      id,
      `the action is authored by ${JSON.stringify(action.userId)}, but the upload comes from user ` +
        `${JSON.stringify(context.callerUserId)}; a user can only upload their own actions`
    )
  }
  if (action.clientId !== clientId) {
    return reject(
      "WrongClient",
      id,
      `the action comes from client ${JSON.stringify(action.clientId)}, but the upload is from client ` +
        `${JSON.stringify(clientId)}; each client uploads only its own actions`
    )
  }
  if (action.hlc.nodeId !== action.clientId) {
    return reject(
      "WrongClient",
      id,
      `the action's clock (${Hlc.encode(action.hlc)}) names node ${JSON.stringify(action.hlc.nodeId)}, not its client ` +
        `${JSON.stringify(action.clientId)}; a client stamps its actions with its own clock`
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
  if (action.tag === SyncProtocol.AdoptionTag) {
    return reject("Malformed", id, `the tag ${action.tag} is a replica's local adoption, which is never uploaded`)
  }
  if ((action.tag === SyncProtocol.CorrectionTag) !== (action.kind === "correction")) {
    return reject(
      "Malformed",
      id,
      `the record is of kind ${action.kind} with the tag ${action.tag}; corrections, and only they, carry the tag ` +
        `${SyncProtocol.CorrectionTag}`
    )
  }
  const shape = SyncProtocol.argsShapeProblem(action.args)
  if (shape !== undefined) return reject("Malformed", id, `the action's args: ${shape}`)
  if (action.kind === "correction" && isRecord(action.args)) {
    const correction = correctionProblem(action.args["input"])
    if (correction !== undefined) return reject("Malformed", id, `the correction's input (args.input) ${correction}`)
  }
  return undefined
}

/** The args (a `{ input, timestamp }` record) as JSON text, once their input is known to be bounded JSON. */
const encodeArgs = (args: unknown): string | { readonly tooLarge: boolean; readonly detail: string } => {
  const input = isRecord(args) ? args["input"] : undefined
  if (input !== undefined) {
    const problem = SyncProtocol.jsonValueProblem(input)
    if (problem !== undefined) return { tooLarge: problem.tooLarge, detail: `the input: ${problem.detail}` }
  }
  const text = JSON.stringify(args)
  if (text.length > Limits.maxArgsChars) {
    return {
      tooLarge: true,
      detail: `they are ${text.length} characters of JSON; the limit is ${Limits.maxArgsChars} (SyncProtocol.Limits.maxArgsChars)`
    }
  }
  return text
}

/** Which row images each operation carries (the capture format, see DESIGN.md §4). */
const IMAGES = {
  INSERT: { forward: true, reverse: false },
  UPDATE: { forward: true, reverse: true },
  DELETE: { forward: false, reverse: true }
} as const

const checkPatches = (
  patches: ReadonlyArray<SyncProtocol.PatchWire>
): { readonly tooLarge: boolean; readonly detail: string } | undefined => {
  const seqs = new Set<number>()
  for (let i = 0; i < patches.length; i++) {
    const patch = patches[i]!
    const fields = patchFieldsProblem(patch)
    if (fields !== undefined) return { tooLarge: false, detail: `patch #${i + 1}: ${fields}` }
    const where = `patch ${patch.seq} (${patch.op} on ${JSON.stringify(`${patch.schema}.${patch.table}`)} row ${JSON.stringify(patch.rowId)})`
    if (seqs.has(patch.seq)) return { tooLarge: false, detail: `patch sequence ${patch.seq} appears twice` }
    seqs.add(patch.seq)
    const expected = IMAGES[patch.op]
    for (const side of ["forward", "reverse"] as const) {
      const json = patch[side]
      if ((json !== null) !== expected[side]) {
        return {
          tooLarge: false,
          detail: `${where}: ${side} must be ${expected[side] ? "a JSON object of column values" : "null"}`
        }
      }
      const problem = json === null ? undefined : SyncProtocol.rowImageProblem(json)
      if (problem !== undefined) return { tooLarge: problem.tooLarge, detail: `${where}: the ${side} row image: ${problem.detail}` }
    }
  }
  return undefined
}
