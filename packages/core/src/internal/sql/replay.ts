/**
 * Statements of replay: load the records to replay, point the capture triggers at each replayed
 * action (with savepoint checkpoints), undo a failed one, settle a replayed one's rows for
 * private data, and finish. The per-action ones are parameterless statement groups built with
 * `literal` (one simple-protocol exchange each, and queueable; see `literal.ts`).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { patchJson } from "./patchJson.js"

/**
 * Loads the records of the actions about to be replayed (`ids`, a uuid[] literal) and deletes
 * the patches their earlier runs captured (the replay captures new ones), in one statement.
 *
 * @internal
 */
export const loadForReplay = (sql: SqlClient.SqlClient, ids: string) =>
  sql.unsafe(
    `WITH cleared AS (DELETE FROM reprise.action_patches WHERE action_id = ANY ($1::uuid[]))
     SELECT id::text AS id, tag, args, authoritative, user_id AS "userId", kind, synced
     FROM reprise.action_records WHERE id = ANY ($1::uuid[])`,
    [ids]
  )

/**
 * Deletes the patches earlier runs of the actions about to be replayed captured (`idsLiteral`,
 * a uuid[] literal): `loadForReplay`'s delete, for records already read (see `replay`).
 *
 * @internal
 */
export const clearPatches = (idsLiteral: string): string =>
  `DELETE FROM reprise.action_patches WHERE action_id = ANY (${idsLiteral}::uuid[])`

/**
 * Before replaying one action: points the capture triggers at it with a fresh patch sequence,
 * first saving the state in savepoint `reprise_replay` when `checkpoint` says so ("open": the
 * first one; "renew": release the previous one and open it again here). `idLiteral` is a
 * literal.
 *
 * @internal
 */
export const beginReplay = (idLiteral: string, checkpoint: "none" | "open" | "renew"): string =>
  (checkpoint === "renew" ? "RELEASE SAVEPOINT reprise_replay; SAVEPOINT reprise_replay; " : "") +
  (checkpoint === "open" ? "SAVEPOINT reprise_replay; " : "") +
  `SELECT set_config('reprise.action_id', ${idLiteral}, true), set_config('reprise.patch_seq', '0', true)`

/**
 * After a replayed action failed (its rules said no): undoes what it wrote, from the patches
 * its run captured (applied in reverse, newest first, with capture off), and forgets them.
 * It fails when the action's failure left the transaction aborted (an SQL error), and then
 * the engine rolls back to its savepoint instead.
 *
 * @internal
 */
export const undoFailedReplay = (idLiteral: string): string =>
  `SELECT reprise.apply_patches(coalesce((
    SELECT jsonb_agg(${patchJson} ORDER BY p.seq)
    FROM reprise.action_patches p WHERE p.action_id = ${idLiteral}::uuid), '[]'::jsonb), 'reverse'); ` +
  `DELETE FROM reprise.action_patches WHERE action_id = ${idLiteral}::uuid; ` +
  `SELECT set_config('reprise.patch_seq', '0', true)`

/**
 * After replaying a record: `reprise.settle_replay` (imposes the server's rows where its
 * author's result stands, removes rows written outside this replica's audiences), first pointing
 * the capture at the record again when its own run was rolled back (`resume`; the rollback
 * also reverted the capture settings).
 *
 * @internal
 */
export const settleReplay = (idLiteral: string, impose: boolean, resume: boolean): string =>
  (resume
    ? `SELECT set_config('reprise.action_id', ${idLiteral}, true), set_config('reprise.patch_seq', '0', true); `
    : "") +
  `SELECT reprise.settle_replay(${idLiteral}::uuid, ${impose})`

/**
 * Records whether a record's replay stands on this replica (`action_records.authoritative`,
 * which the divergence check reads), when replay decides otherwise than its ingest did.
 *
 * @internal
 */
export const setAuthority = (idLiteral: string, authoritative: boolean): string =>
  `UPDATE reprise.action_records SET authoritative = ${authoritative} WHERE id = ${idLiteral}::uuid`

/** Back to the state saved by the last `beginReplay` checkpoint. @internal */
export const rollbackReplay = "ROLLBACK TO SAVEPOINT reprise_replay"

/**
 * After replaying actions: releases the last savepoint (when `open`), marks the replayed
 * actions (`idsLiteral`, a uuid[] literal) applied, and due for a later divergence check when
 * `mark` (a page before a pull's last: the check of the last page takes them), drops the
 * adoptions among them (undone, not replayed: the check after the replay adopts again), and
 * clears the action id so later writes are not taken for theirs. `skipLiteral` (a uuid[]
 * literal): the records not to mark, which this replica could not run.
 *
 * With `probe` (the check follows in this transaction), its last statement also answers
 * `agreed`: whether no synced replayed action (but those skipped) wrote anything else than its
 * known patches (`reprise.replay_agreed`), the question the divergence check starts from. When it
 * did not, the check has nothing to look at for them, and the common fast-forward skips its
 * statement; asked here, the question rides with a statement the replay sends anyway.
 *
 * @internal
 */
export const finishReplay = (
  idsLiteral: string,
  open: boolean,
  mark: boolean,
  skipLiteral: string | undefined,
  probe: boolean
): string =>
  (open ? `RELEASE SAVEPOINT reprise_replay; ` : "") +
  `UPDATE reprise.action_records SET applied = true${
    !mark ? "" : skipLiteral === undefined ? ", unchecked = true" : `, unchecked = NOT (id = ANY (${skipLiteral}::uuid[]))`
  } WHERE id = ANY (${idsLiteral}::uuid[]); ` +
  `DELETE FROM reprise.action_records WHERE id = ANY (${idsLiteral}::uuid[]) AND kind = 'adoption'; ` +
  (probe
    ? `SELECT set_config('reprise.action_id', '', true) AS cleared, ` +
      `reprise.replay_agreed(${idsLiteral}::uuid[], ${skipLiteral ?? "'{}'"}::uuid[]) AS agreed`
    : `SELECT set_config('reprise.action_id', '', true)`)
