import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Action from "../Action.js"
import * as ActionIds from "../ActionIds.js"

/** @internal */
export const CORRECTION_TAG = "reprise.correction.v1"

/**
 * The built-in correction (R-SYNC-3): sets rows to the images this replica's replay produced
 * (null deletes). It runs as an action, so its patches are captured like any other's; the
 * server applies them, and every replica replays it, which sets the same images: corrections
 * of one row converge to the last one in canonical order.
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
  run: ({ rows }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { actionId } = yield* ActionIds.ActionIds
      for (const row of rows) {
        yield* sql`SELECT reprise.overwrite_row(${row.schema}, ${row.table}, ${row.rowId}, ${row.image}::jsonb)`
      }
      yield* sql`UPDATE reprise.action_records SET kind = 'correction' WHERE id = ${actionId}::uuid`
      return actionId
    })
})
