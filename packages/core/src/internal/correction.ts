import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Action from "../Action.js"
import * as ActionIds from "../ActionIds.js"
import * as SyncProtocol from "../SyncProtocol.js"

/** @internal */
export const CORRECTION_TAG = SyncProtocol.CorrectionTag

/**
 * The built-in correction (R-SYNC-3). Replicas replay every action's code, so their own state
 * is already what the correction describes: running a correction changes nothing locally (it
 * only marks its record). Its effect is on the server, which applies its patches (recorded
 * separately as its known patches): they take the server's rows to the images the replicas
 * computed. Its replay on replicas changes nothing either,
 * so one made stale by a later-arriving earlier action cannot undo that action's effect: the
 * replicas' replay includes it, the server's fold no longer matches, and a new correction
 * follows (the last one wins). With private data, a correction names the actions it restates
 * (`restates`): the server hands them out with it, so every replica that sees a corrected row
 * replays what changed it and never needs the correction's rows imposed (DESIGN §11).
 *
 * @internal
 */
export const correction = Action.make({
  tag: CORRECTION_TAG,
  args: SyncProtocol.CorrectionInput,
  run: () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { actionId } = yield* ActionIds.ActionIds
      yield* sql`UPDATE reprise.action_records SET kind = 'correction' WHERE id = ${actionId}::uuid`
      return actionId
    })
})

/** @internal */
export const ADOPTION_TAG = SyncProtocol.AdoptionTag

/**
 * The built-in adoption (R-SYNC-3 with R-SRV-3). When a replica's replay leaves a row other
 * than the server holds and the replica may not correct it (it sees less than the row's last
 * writer did, or the row is outside its audiences), it adopts the server's row: this action
 * applies the patches taking its rows to the server's images, and the capture triggers record
 * them as its own, so a later rollback undoes them like any action's. Adoptions are local: never
 * uploaded, and never replayed (a replay that crosses one drops it, and the check after the
 * replay adopts again from the new state).
 *
 * @internal
 */
export const adoption = Action.make({
  tag: ADOPTION_TAG,
  args: Schema.Struct({
    rows: Schema.Array(Schema.Struct({
      schema: Schema.String,
      table: Schema.String,
      rowId: Schema.String,
      op: Schema.Literal("INSERT", "UPDATE", "DELETE"),
      /** The patch's row data as JSON text (null for a DELETE). */
      forward: Schema.NullOr(Schema.String)
    }))
  }),
  run: ({ rows }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { actionId } = yield* ActionIds.ActionIds
      // Creations first and removals last, so rows that reference each other can follow.
      const rank = { INSERT: 0, UPDATE: 1, DELETE: 2 } as const
      for (const row of [...rows].sort((a, b) => rank[a.op] - rank[b.op])) {
        yield* sql`SELECT reprise.apply_patch(${row.schema}, ${row.table}, ${row.rowId}, ${row.op}, ${row.forward}::jsonb)`
      }
      yield* sql`UPDATE reprise.action_records SET kind = 'adoption', synced = true WHERE id = ${actionId}::uuid`
      return actionId
    })
})
