/**
 * The set of actions a replica knows, by tag. Replay looks actions up here, so every replica
 * must register every tag it may receive; an unknown tag is a typed error naming it (R-ACT-1).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Action from "./Action.js"

/** An action was executed or received by a tag no registered action has. */
export class UnknownActionTag extends Schema.TaggedError<UnknownActionTag>()("UnknownActionTag", {
  tag: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message() {
    const known = this.known.length === 0 ? "none" : this.known.join(", ")
    return `Unknown action tag ${JSON.stringify(this.tag)}: register an action with this tag ` +
      `(ActionRegistry.layer([...])) on every replica. Registered: ${known}`
  }
}

/** The registry shape. */
export interface ActionRegistryShape {
  readonly get: (tag: string) => Effect.Effect<Action.Any, UnknownActionTag>
  readonly tags: ReadonlyArray<string>
}

/** The registry of the actions this replica can run and replay. */
export class ActionRegistry extends Context.Tag("@reprise/core/ActionRegistry")<ActionRegistry, ActionRegistryShape>() {}

/** Builds a registry; two actions with one tag are a programming error (thrown). */
export const make = (actions: ReadonlyArray<Action.Any>): ActionRegistryShape => {
  const byTag = new Map<string, Action.Any>()
  for (const action of actions) {
    if (byTag.has(action.tag)) throw new TypeError(`Two actions share the tag ${JSON.stringify(action.tag)}`)
    byTag.set(action.tag, action)
  }
  const tags = [...byTag.keys()].sort()
  return {
    tags,
    get: (tag) => {
      const action = byTag.get(tag)
      return action === undefined ? Effect.fail(new UnknownActionTag({ tag, known: tags })) : Effect.succeed(action)
    }
  }
}

/** A layer providing the registry of `actions`. */
export const layer = (actions: ReadonlyArray<Action.Any>): Layer.Layer<ActionRegistry> =>
  Layer.sync(ActionRegistry, () => make(actions))
