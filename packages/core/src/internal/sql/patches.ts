/**
 * The statements of `Patch`: reading the patches recorded for actions, and applying a batch of
 * patches through `reprise.apply_patches` (installed from `apply.ts`).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Direction } from "../../Patch.js"

/**
 * The patches recorded for the actions of `idsLiteral` (a uuid[] literal), in the literal's
 * order, then sequence order; row images as JSON text. @internal
 */
export const patchesOf = (sql: SqlClient.SqlClient, idsLiteral: string) =>
  sql`
    SELECT p.action_id::text AS action_id, p.seq, p.table_schema, p.table_name, p.row_id, p.op,
           p.forward::text AS forward, p.reverse::text AS reverse, p.audience_key
    FROM reprise.action_patches p
    JOIN unnest(${idsLiteral}::uuid[]) WITH ORDINALITY AS a(id, position) ON a.id = p.action_id
    ORDER BY a.position, p.seq`

/** Applies `payload` (a JSON array of patches, as text) in `direction`; `n`: rows written. @internal */
export const applyPatches = (sql: SqlClient.SqlClient, payload: string, direction: Direction) =>
  sql<{ n: number }>`SELECT reprise.apply_patches(${payload}::jsonb, ${direction}) AS n`
