import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Action from "../Action.js"
import * as ActionIds from "../ActionIds.js"

/** @internal */
export const CORRECTION_TAG = "reprise.correction.v1"

/**
 * The built-in correction (R-SYNC-3). Replicas replay every action's code, so their own state
 * is already what the correction describes: replaying a correction changes nothing locally (it
 * only marks its record). Its effect is on the server, which applies its patches (recorded
 * separately as its known patches): they take the server's rows to the images the replicas
 * computed. A correction never overwrites local rows, so one made stale by a later-arriving
 * earlier action cannot undo that action's effect: the replicas' replay includes it, the
 * server's fold no longer matches, and a new correction follows (the last one wins).
 *
 * @internal
 */
export const correction = Action.make({
  tag: CORRECTION_TAG,
  args: Schema.Struct({
    rows: Schema.Array(Schema.Struct({
      schema: Schema.String,
      table: Schema.String,
      rowId: Schema.String,
      /** The row's JSON text as to_jsonb rendered it, or null when the row must not exist. */
      image: Schema.NullOr(Schema.String)
    }))
  }),
  run: () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { actionId } = yield* ActionIds.ActionIds
      yield* sql`UPDATE reprise.action_records SET kind = 'correction' WHERE id = ${actionId}::uuid`
      return actionId
    })
})
