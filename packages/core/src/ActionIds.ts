/**
 * Deterministic ids for rows created by actions: the same action id and the same identity key
 * always give the same UUID, so a replay, on any replica or on a divergent branch, recreates
 * the rows it created the first time under the same ids.
 *
 * @example
 * ```ts
 * const createTodo = Action.make({
 *   tag: "todo.create.v1",
 *   args: Schema.Struct({ title: Schema.String }),
 *   run: ({ title }) => Effect.gen(function*() {
 *     const ids = yield* ActionIds.ActionIds
 *     const id = ids.id("todo")
 *     ...
 *   })
 * })
 * ```
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** The id service available inside an action. */
export interface ActionIdsShape {
  /** The id of the running action. */
  readonly actionId: string
  /**
   * A UUID derived from the action id and `key`: stable across replays. Use a distinct key per
   * row the action creates (`"todo"`, `"item:3"`, ...).
   */
  readonly id: (key: string) => string
}

/** The deterministic id service; provided by the executor to every action it runs. */
export class ActionIds extends Context.Tag("@reprise/core/ActionIds")<ActionIds, ActionIdsShape>() {}

/** Builds the id service for one action id. */
export const make = (actionId: string): ActionIdsShape => ({
  actionId,
  id: (key) => deriveUuid(actionId, key)
})

/**
 * An action inserted two rows under the same deterministic id: it asked `ActionIds.id` for the
 * same key for both. Asking again for a key is fine (to refer to a row it created); creating a
 * second row needs a key of its own.
 */
export class DuplicateActionId extends Schema.TaggedError<DuplicateActionId>()("DuplicateActionId", {
  /** The action's tag. */
  tag: Schema.String,
  /** The key given to `ActionIds.id`. */
  key: Schema.String,
  /** The id it derived, which two rows were given. */
  id: Schema.String,
  /** The table of the second row, when the database named it. */
  table: Schema.NullOr(Schema.String)
}) {
  override get message() {
    const table = this.table === null ? "" : ` in ${JSON.stringify(this.table)}`
    return `Action ${JSON.stringify(this.tag)} created two rows${table} with the same id ${this.id}, ` +
      `ActionIds.id(${JSON.stringify(this.key)}): give each row it creates its own key, for example with an ` +
      `index or the row's natural key (${JSON.stringify(`${this.key}:0`)}, ${JSON.stringify(`${this.key}:1`)}, ...).`
  }
}

/**
 * The id service for one run of an action, remembering which id each key it handed out gave,
 * so that a unique violation on one of those ids can be told apart from any other.
 *
 * @internal
 */
export const makeTracked = (actionId: string): {
  readonly ids: ActionIdsShape
  /** The key whose id appears in `text` (a database error's detail), if one does. */
  readonly keyIn: (text: string) => readonly [key: string, id: string] | undefined
} => {
  const handed = new Map<string, string>()
  return {
    ids: {
      actionId,
      id: (key) => {
        const known = handed.get(key)
        if (known !== undefined) return known
        const id = deriveUuid(actionId, key)
        handed.set(key, id)
        return id
      }
    },
    keyIn: (text) => {
      for (const [key, id] of handed) if (text.includes(id)) return [key, id]
      return undefined
    }
  }
}

/** `ActionIds.id(key)` as an Effect, for code that prefers `yield*`. */
export const id = (key: string): Effect.Effect<string, never, ActionIds> => Effect.map(ActionIds, (ids) => ids.id(key))

/**
 * A UUID (version 8, RFC 9562 "custom") from a 128-bit hash of `namespace` and `key`.
 * Deterministic and well spread; not a cryptographic commitment.
 */
export const deriveUuid = (namespace: string, key: string): string => {
  const [a, b, c, d] = hash128(`${namespace}\u0000${key}`)
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0")
  const h = hex(a) + hex(b) + hex(c) + hex(d)
  // version 8 in the high nibble of byte 6, RFC variant (10xx) in byte 8
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

const fmix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/** Four 32-bit lanes over UTF-16 code units, cross-mixed, with a murmur-style finalizer. */
const hash128 = (input: string): readonly [number, number, number, number] => {
  let h1 = 0x9e3779b9 ^ input.length
  let h2 = 0x243f6a88
  let h3 = 0xb7e15162
  let h4 = 0x7f4a7c15
  for (let i = 0; i < input.length; i++) {
    const k = input.charCodeAt(i)
    h1 = Math.imul(h1 ^ k, 0x01000193)
    h2 = Math.imul(h2 ^ k, 0x5bd1e995)
    h3 = Math.imul(h3 ^ k, 0xcc9e2d51)
    h4 = Math.imul(h4 ^ k, 0x1b873593)
    h1 = (h1 ^ (h4 >>> 13)) | 0
    h2 = (h2 ^ (h1 >>> 17)) | 0
    h3 = (h3 ^ (h2 >>> 11)) | 0
    h4 = (h4 ^ (h3 >>> 19)) | 0
  }
  h1 = fmix(h1 ^ h3)
  h2 = fmix(h2 ^ h4)
  h3 = fmix(h3 ^ h1)
  h4 = fmix(h4 ^ h2)
  return [h1, h2, h3, h4]
}
