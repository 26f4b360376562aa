/**
 * SQL of the client sync engine.
 *
 * @internal
 */

/**
 * Ingests a fetched page, $1: the JSON array of its actions as `RemoteAction`s encode them, each
 * with `authoritative` (whether this replica's replay of it stands) added.
 * Stores each record as received-but-unapplied (or, when already held, marks it synced with its
 * server sequence) and its known patches, so ingesting a page twice changes nothing (R-SYNC-5).
 * One statement: the page is parsed once, as json (it is only split into fields, never queried
 * as jsonb), and only the args and row images are converted to jsonb.
 *
 * @internal
 */
export const ingestPage = `
WITH page AS MATERIALIZED (
  -- An action twice in one page (a correction's restated action, say) is ingested once.
  SELECT DISTINCT ON (x.id) * FROM json_to_recordset($1::json) AS x(id uuid, tag text, args jsonb, "clientId" text, "userId" text,
    hlc text, kind text, "serverSeq" bigint, authoritative boolean, patches json)
), records AS (
  INSERT INTO reprise.action_records (id, tag, args, client_id, user_id, hlc, kind, server_seq, synced, applied, authoritative)
  SELECT x.id, x.tag, x.args, x."clientId", x."userId", x.hlc, x.kind, x."serverSeq", true, false, x.authoritative
  FROM page x
  ON CONFLICT (id) DO UPDATE SET server_seq = excluded.server_seq, synced = true
)
INSERT INTO reprise.known_patches (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
SELECT a.id, p.seq, p.schema, p."table", p."rowId", p.op, p.forward::jsonb, p.reverse::jsonb, p."audienceKey"
FROM page a CROSS JOIN LATERAL json_to_recordset(a.patches)
  AS p(seq int, schema text, "table" text, "rowId" text, op text, forward text, reverse text, "audienceKey" text)
ON CONFLICT (action_id, seq) DO NOTHING`

/** A patch row `p` of `reprise.action_patches` as `reprise.apply_patches` takes it. */
const patchJson = `jsonb_build_object(
    'schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id, 'op', p.op,
    'forward', p.forward, 'reverse', p.reverse)`

/** The applied actions ordered after ($1 hlc, $2 id); all of them when $1 is null. */
const moved = `
  SELECT r.id, r.hlc FROM reprise.action_records r
  WHERE r.applied AND ($1::text IS NULL OR (r.hlc, r.id) > ($1::text COLLATE "C", $2::uuid))`

/**
 * Applies, inside the database and newest first, the reverse patches of every applied action
 * after the ancestor: the batch is built and applied in SQL, the log never goes to JavaScript.
 *
 * @internal
 */
export const undoAfter = `
SELECT reprise.apply_patches(coalesce((
  SELECT jsonb_agg(${patchJson} ORDER BY m.hlc, m.id, p.seq)
  FROM (${moved}) m JOIN reprise.action_patches p ON p.action_id = m.id), '[]'::jsonb), 'reverse') AS n`

/** Marks the actions undone by `undoAfter` as unapplied. @internal */
export const markUnappliedAfter = `
UPDATE reprise.action_records SET applied = false WHERE id IN (SELECT id FROM (${moved}) m)`

/**
 * Loads the records of the actions $1 (a uuid[] literal) about to be replayed and deletes the
 * patches their earlier runs captured (the replay captures new ones), in one statement.
 *
 * @internal
 */
export const loadForReplay = `
WITH cleared AS (DELETE FROM reprise.action_patches WHERE action_id = ANY ($1::uuid[]))
SELECT id::text AS id, tag, args, authoritative FROM reprise.action_records WHERE id = ANY ($1::uuid[])`

/**
 * Before replaying one action: points the capture triggers at it with a fresh patch sequence,
 * first saving the state in savepoint `reprise_replay` when `checkpoint` says so ("open": the
 * first one; "renew": release the previous one and open it again here). Sent as one
 * parameterless (simple protocol) statement group; `idLiteral` is a literal.
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

/** Back to the state saved by the last `beginReplay` checkpoint. @internal */
export const rollbackReplay = "ROLLBACK TO SAVEPOINT reprise_replay"

/**
 * After replaying actions: releases the last savepoint (when `open`), marks the replayed actions (`idsLiteral`,
 * a uuid[] literal) applied, drops the adoptions among them (undone, not replayed: the check
 * after the replay adopts again), and clears the action id so later writes are not taken for
 * theirs.
 *
 * @internal
 */
export const finishReplay = (idsLiteral: string, open: boolean): string =>
  (open ? `RELEASE SAVEPOINT reprise_replay; ` : "") +
  `UPDATE reprise.action_records SET applied = true WHERE id = ANY (${idsLiteral}::uuid[]); ` +
  `DELETE FROM reprise.action_records WHERE id = ANY (${idsLiteral}::uuid[]) AND kind = 'adoption'; ` +
  `SELECT set_config('reprise.action_id', '', true)`
