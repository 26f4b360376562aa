/**
 * A seeded generator of hostile requests (R-SRV-7): mutations of a valid upload by the hostile
 * user, each invalid by construction (wrong types, huge strings, deep JSON, bad seqs, bad ops,
 * forged authors, foreign client ids, duplicate ids, a stored id with other content,
 * corrections to another audience, text Postgres cannot hold, random JSON), and malformed
 * fetches. `hostile.test.ts` sends them in-process; `hostile.network.test.ts` over HTTP and
 * WebSocket.
 */
import { Hlc, SyncProtocol } from "@reprise/core"
import * as fc from "effect/FastCheck"
import { nestedJson, NOTES } from "./hostileWorld.js"

/** A seeded source of numbers in [0, 1) (mulberry32): the same seed, the same requests. */
export const seededRandom = (seed: number) => {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (below: number): number => Math.floor(next() * below),
    pick: <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
  }
}

/** The seed of a run: `REPRISE_SEED` when set (to replay one), else a fresh one. */
export const seedOf = (): number => {
  const given = Number(process.env["REPRISE_SEED"])
  return Number.isSafeInteger(given) ? given : Math.floor(Math.random() * 2 ** 31)
}

/** What the generator needs to know about the world when it builds a request. */
export interface Situation {
  readonly hostileUser: string
  readonly hostileClient: string
  /** A user and client the hostile one pretends to be. */
  readonly victimUser: string
  readonly victimClient: string
  /** An audience the hostile user is not in. */
  readonly foreignAudience: string
  /** The server's head now (the basis a valid upload would carry). */
  readonly basis: number
  /** An action id already stored (by an honest client), or null. */
  readonly storedId: string | null
  readonly nowMs: number
}

/** A generated hostile request: which RPC, its body, and what the mutation was. */
export interface Garbage {
  readonly rpc: "Upload" | "Fetch"
  readonly kind: string
  readonly body: unknown
}

type Wire = { -readonly [K in keyof typeof SyncProtocol.ActionWire.Encoded]: unknown }

const image = (rowId: string, extra = "") =>
  `{"id":${JSON.stringify(rowId)},"title":"t","doc":null,"n":0,"audience_key":null${extra}}`

/** A valid action of the hostile user (the mutations start from it). */
const validAction = (s: Situation, rand: ReturnType<typeof seededRandom>): Wire => {
  const rowId = `garbage-${rand.int(1e9)}`
  return {
    id: crypto.randomUUID(),
    tag: "note.create.v1",
    args: { input: { title: "g" }, timestamp: s.nowMs - 1000 },
    clientId: s.hostileClient,
    userId: s.hostileUser,
    hlc: Hlc.encode(new Hlc.Hlc({ wallMs: s.nowMs - 1000, counter: rand.int(100), nodeId: Hlc.NodeId.make(s.hostileClient) })),
    kind: "action",
    patches: [{
      seq: 1,
      schema: "public",
      table: NOTES,
      rowId,
      op: "INSERT",
      forward: image(rowId),
      reverse: null,
      audienceKey: null
    }]
  }
}

const big = (n: number) => "x".repeat(n)
const L = SyncProtocol.Limits

/** Mutations of one action: each makes it invalid, whatever else it holds. */
const actionMutations: ReadonlyArray<readonly [string, (a: Wire, s: Situation, r: ReturnType<typeof seededRandom>) => void]> = [
  ["args not a record", (a, _s, r) => (a.args = r.pick(["not-an-object", 42, [1, 2], null, true]))],
  ["args without timestamp", (a) => (a.args = { input: { title: "x" } })],
  ["args with another field", (a, s) => (a.args = { input: {}, timestamp: s.nowMs, extra: 1 })],
  ["args timestamp bad", (a, _s, r) => (a.args = { input: {}, timestamp: r.pick([-1, 1.5, "now", 1e300, null]) })],
  ["args input too deep", (a, s, r) => (a.args = { input: JSON.parse(nestedJson(L.maxJsonDepth + 1 + r.int(5000))), timestamp: s.nowMs })],
  ["args input too large", (a, s) => (a.args = { input: { t: big(L.maxArgsChars) }, timestamp: s.nowMs })],
  ["args input with U+0000", (a, s) => (a.args = { input: { t: "a\u0000b" }, timestamp: s.nowMs })],
  ["id not a uuid", (a, _s, r) => (a.id = r.pick(["x", 1, null, big(100), "00000000-0000-0000-0000-00000000000g"]))],
  ["tag malformed", (a, _s, r) => (a.tag = r.pick(["bad tag!", "", 7, big(201), "a\u0000b"]))],
  ["tag huge", (a) => (a.tag = big(1_000_000))],
  ["adoption tag", (a) => (a.tag = SyncProtocol.AdoptionTag)],
  ["correction tag on an action", (a) => (a.tag = SyncProtocol.CorrectionTag)],
  ["correction with another tag", (a) => (a.kind = "correction")],
  ["kind unknown", (a, _s, r) => (a.kind = r.pick(["adoption", "", 1, null]))],
  ["forged author", (a, s, r) => (a.userId = r.pick([s.victimUser, null]))],
  ["author huge", (a) => (a.userId = big(1_000_000))],
  ["foreign client id", (a, s) => (a.clientId = s.victimClient)],
  ["clock of another node", (a, s) => (a.hlc = Hlc.encode(new Hlc.Hlc({ wallMs: s.nowMs - 1000, counter: 0, nodeId: Hlc.NodeId.make(s.victimClient) })))],
  ["hlc malformed", (a, _s, r) => (a.hlc = r.pick(["yesterday", "", 5, "999999999999999999.00000.x"]))],
  ["clock far ahead", (a, s) => (a.hlc = Hlc.encode(new Hlc.Hlc({ wallMs: s.nowMs + 3_600_000, counter: 0, nodeId: Hlc.NodeId.make(s.hostileClient) })))],
  ["no patches array", (a, _s, r) => (a.patches = r.pick([null, "p", {}]))],
  ["stored id, other content", (a, s) => {
    if (s.storedId === null) a.patches = "none"
    else a.id = s.storedId
  }],
  ["correction to a foreign audience", (a, s) => {
    a.tag = SyncProtocol.CorrectionTag
    a.kind = "correction"
    a.args = { input: { rows: [], restates: [], audience: s.foreignAudience }, timestamp: s.nowMs }
    a.patches = []
  }],
  ["correction input malformed", (a, s, r) => {
    a.tag = SyncProtocol.CorrectionTag
    a.kind = "correction"
    a.args = { input: r.pick([{}, { rows: "x" }, { rows: [], restates: ["not-a-uuid"] }, "c"]), timestamp: s.nowMs }
    a.patches = []
  }]
]

type Patch = { -readonly [K in keyof SyncProtocol.PatchWire]: unknown }

/** Mutations of the action's patch (or patches). */
const patchMutations: ReadonlyArray<readonly [string, (p: Patch, a: Wire, r: ReturnType<typeof seededRandom>) => void]> = [
  ["seq out of range", (p, _a, r) => (p.seq = r.pick([0, -1, 2 ** 31, 2 ** 53, 1.5, "1", null]))],
  ["seq twice", (p, a) => (a.patches = [p, { ...p }])],
  ["op unknown", (p, _a, r) => (p.op = r.pick(["UPSERT", "insert", null, 3]))],
  ["op without its images", (p, _a, r) => {
    const [op, forward, reverse] = r.pick([["DELETE", p.forward, null], ["UPDATE", p.forward, null], ["INSERT", null, null]] as const)
    p.op = op
    p.forward = forward
    p.reverse = reverse
  }],
  ["schema not an identifier", (p, _a, r) => (p.schema = r.pick(["", big(64), "é".repeat(40), 1, null]))],
  ["table huge", (p) => (p.table = big(1_000_000))],
  ["table untracked", (p, _a, r) => (p.table = r.pick(["nope", "pg_authid", "actions"]))],
  ["rowId huge", (p) => (p.rowId = big(L.maxRowIdChars + 1))],
  ["rowId with U+0000", (p) => (p.rowId = "a\u0000b")],
  ["audience key huge", (p) => (p.audienceKey = big(1_000_000))],
  ["audience key unpaired surrogate", (p) => (p.audienceKey = "k\uD800")],
  ["image not JSON", (p, _a, r) => (p.forward = r.pick(["{", "[]", "1", "{\"a\":}", "", "{\"a\":1}x", 5]))],
  ["image too deep", (p, _a, r) => (p.forward = image(String(p.rowId), `,"doc2":${nestedJson(L.maxJsonDepth + r.int(100_000))}`))],
  ["image too large", (p) => (p.forward = image(String(p.rowId), `,"body":"${big(L.maxRowImageChars)}"`))],
  ["image with \\u0000", (p) => (p.forward = image(String(p.rowId), `,"title2":"a\\u0000b"`))],
  ["image with an unpaired surrogate", (p, _a, r) => (p.forward = image(String(p.rowId), r.pick([`,"t":"\\ud800"`, `,"t":"\uDC00"`])))],
  ["image with a column the table lacks", (p) => (p.forward = image(String(p.rowId), `,"no_such_column":1`))],
  ["image value of the wrong type", (p, _a, r) => (p.forward = image(String(p.rowId), "").replace(`"n":0`, `"n":${r.pick(['"abc"', "1.5", "[1]", "99999999999"])}`))],
  ["image number beyond numeric", (p, _a, r) => (p.forward = image(String(p.rowId), `,"n2":${r.pick(["1e131072", "1e-16384", "-9e999999"])}`))]
]

/** Mutations of the upload around its actions. */
const uploadMutations: ReadonlyArray<readonly [string, (body: Record<string, unknown>, r: ReturnType<typeof seededRandom>, s: Situation) => void]> = [
  ["basis out of range", (b, r) => (b["basis"] = r.pick([-1, 2 ** 53, 1.5, "0", null]))],
  ["client id malformed", (b, r) => (b["clientId"] = r.pick(["", "bad client", big(65), 1]))],
  ["no actions", (b) => (b["actions"] = [])],
  ["too many actions", (b) => (b["actions"] = Array.from({ length: L.maxActionsPerUpload + 1 }, () => (b["actions"] as Array<unknown>)[0]))],
  ["the same action twice", (b) => (b["actions"] = [(b["actions"] as Array<unknown>)[0], (b["actions"] as Array<unknown>)[0]])],
  ["actions not an array", (b, r) => (b["actions"] = r.pick([null, {}, "a"]))],
  ["caller's upload from the victim's client", (b, _r, s) => {
    b["clientId"] = s.victimClient
  }]
]

const fetchBodies: ReadonlyArray<readonly [string, (r: ReturnType<typeof seededRandom>) => unknown]> = [
  ["since out of range", (r) => ({ since: r.pick([-1, 2 ** 53, 1.5, "0", null]), limit: 10 })],
  ["limit out of range", (r) => ({ since: 0, limit: r.pick([0, -5, L.maxFetchLimit + 1, 2 ** 40, 2.5, "10"]) })],
  ["fetch not a record", (r) => r.pick([null, "fetch", [0, 10], 17])],
  ["fetch missing fields", (r) => r.pick([{}, { since: 0 }, { limit: 10 }])]
]

/**
 * The generator: `next(situation)` builds one hostile request. About one in twelve is a
 * fetch, one in twelve random JSON (fast-check's `jsonValue`, from the same seed); the rest
 * mutate a valid upload of the hostile user.
 */
export const garbageGenerator = (seed: number) => {
  const rand = seededRandom(seed)
  const randomJson = fc.sample(fc.jsonValue({ maxDepth: 4 }), { seed, numRuns: 4096 })
  let drawn = 0
  return (s: Situation): Garbage => {
    const roll = rand.int(12)
    if (roll === 0) {
      const [kind, make] = rand.pick(fetchBodies)
      return { rpc: "Fetch", kind, body: make(rand) }
    }
    if (roll === 1) return { rpc: "Upload", kind: "random JSON", body: randomJson[drawn++ % randomJson.length] }
    const action = validAction(s, rand)
    const body: Record<string, unknown> = { clientId: s.hostileClient, basis: s.basis, actions: [action] }
    const family = rand.int(3)
    if (family === 0) {
      const [kind, mutate] = rand.pick(actionMutations)
      mutate(action, s, rand)
      return { rpc: "Upload", kind, body }
    }
    if (family === 1) {
      const [kind, mutate] = rand.pick(patchMutations)
      mutate((action.patches as Array<Patch>)[0]!, action, rand)
      return { rpc: "Upload", kind, body }
    }
    const [kind, mutate] = rand.pick(uploadMutations)
    mutate(body, rand, s)
    return { rpc: "Upload", kind, body }
  }
}

/**
 * JSON text of a parsed JSON value, built without recursion (`JSON.stringify` overflows the
 * stack on the deep values the generator makes), for sending garbage over the network.
 */
export const jsonText = (value: unknown): string => {
  const out: Array<string> = []
  // Work items: a value to write, or a literal piece of text (a comma, a closing bracket).
  const stack: Array<{ readonly value: unknown } | string> = [{ value }]
  while (stack.length > 0) {
    const item = stack.pop()!
    if (typeof item === "string") {
      out.push(item)
      continue
    }
    const v = item.value
    if (Array.isArray(v)) {
      out.push("[")
      stack.push("]")
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i] })
        if (i > 0) stack.push(",")
      }
    } else if (typeof v === "object" && v !== null) {
      const entries = Object.entries(v)
      out.push("{")
      stack.push("}")
      for (let i = entries.length - 1; i >= 0; i--) {
        stack.push({ value: entries[i]![1] })
        stack.push(`${JSON.stringify(entries[i]![0])}:`)
        if (i > 0) stack.push(",")
      }
    } else {
      out.push(JSON.stringify(v) ?? "null")
    }
  }
  return out.join("")
}
