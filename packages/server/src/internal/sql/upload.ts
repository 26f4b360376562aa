/**
 * Storing an upload inside the database: `reprise_server.store_upload` does, in ONE call, all
 * the work an upload does around the sequencing lock (R-SYNC-7): it gates on the head (R-SYNC-6:
 * up to the head committed when it starts, before the lock; the rest under it), takes the lock,
 * checks which actions are stored already (idempotency, R-SYNC-5), refuses untracked tables and
 * forged labels, stores the new actions with consecutive sequences, moves the head, NOTIFYs it
 * and materializes the new actions (`materialize.ts`).
 *
 * Why one call: an upload holds the lock from its acquisition to its COMMIT, and every round
 * trip between the server process and Postgres in between is lock time every other upload waits
 * for. Under load (many concurrent uploads in one server process, a busy event loop) a round
 * trip costs milliseconds, so ten statements under the lock made the lock the bottleneck. Now
 * the lock is held for this call and the COMMIT.
 *
 * The lock is taken inside the function: a volatile PL/pgSQL function runs each statement on a
 * new snapshot (READ COMMITTED), so every read after `pg_advisory_xact_lock` sees what the
 * previous holder committed, as separate statements did.
 *
 * It runs as the caller (SECURITY INVOKER): the log's policies apply to its reads and writes as
 * they did to the statements it replaces; the idempotency check alone reads the whole log
 * (`reprise_server.scope = 'system'`). A rejection decided here writes nothing and is returned
 * as a status (the service turns it into the typed error, and its transaction rolls back);
 * policy refusals and patches that do not fit raise, as before (RP010, RP011, 42501, 22..., 23...).
 *
 * Result (jsonb): `{ "status": "ok", "head": n, "seqs": [{ "id", "server_seq" }] }`,
 * `{ "status": "conflict", "id" }`, `{ "status": "behind", "visible" }`,
 * `{ "status": "untracked", "schema", "table", "present" }` or `{ "status": "forged", "id" }`.
 *
 * @internal
 */

/** @internal */
export const createUploadFunction = `
-- The head gate's question (R-SYNC-6): the highest sequence in (p_after, p_upto] (p_upto null:
-- no bound) of an action not uploaded by client p_client that the caller (p_user, p_audiences;
-- null audiences: nothing filtered) may see, or 0 (read.ts: read_page states the same
-- condition). Its condition implies the log's read policy (a caller reads its own actions, those with a patch it may see
-- and the corrections for its audiences), so it reads with the whole log visible: the same
-- answer without the policy's probes of patches and restatements for each action in range.
-- Whether an action has a patch the caller may see is read from the action's row
-- (patch_audiences, public_patch: schema version 5), not from its patches: a probe of each
-- action's patches cost ~2 µs, and with 50 concurrent clients about a thousand actions are in
-- range per upload. Plans as store_upload's (see there); volatile: its query reads on a
-- snapshot of its own, taken when it runs.
CREATE OR REPLACE FUNCTION reprise_server.visible_after(
  p_after bigint, p_client text, p_user text, p_audiences text[], p_upto bigint DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
SET jit = off AS $fn$
DECLARE
  v_scope text := coalesce(current_setting('reprise_server.scope', true), '');
  v_visible bigint;
BEGIN
  PERFORM set_config('reprise_server.scope', 'system', true);
  SELECT coalesce((SELECT a.server_seq FROM reprise_server.actions a
    WHERE a.server_seq > p_after AND (p_upto IS NULL OR a.server_seq <= p_upto) AND a.client_id <> p_client
      AND (p_audiences IS NULL OR a.user_id = p_user OR a.public_patch OR a.patch_audiences && p_audiences
        OR (a.kind = 'correction' AND a.args -> 'input' ? 'audience'
          AND (a.args -> 'input' ->> 'audience' IS NULL OR a.args -> 'input' ->> 'audience' = ANY (p_audiences))))
    ORDER BY a.server_seq DESC LIMIT 1), 0) INTO v_visible;
  PERFORM set_config('reprise_server.scope', v_scope, true);
  RETURN v_visible;
END
$fn$;
CREATE OR REPLACE FUNCTION reprise_server.store_upload(
  p_payload text,       -- JSON array of the request's actions (see store.ts: encodeAction)
  p_ids uuid[],         -- their ids, in request order
  p_client text,        -- the uploading client
  p_basis bigint,       -- the request's basis
  p_user text,          -- the caller
  p_audiences text[],   -- the caller's audiences (null: nothing is filtered)
  p_pairs jsonb,        -- the (schema, table) pairs its patches write, [{ s, t }]
  p_forged uuid[]       -- the actions with a patch labeled with an audience the caller is not in
) RETURNS jsonb LANGUAGE plpgsql VOLATILE
-- Cached plans stay index-driven as the log grows, are made once per connection and never
-- compiled by LLVM (see materialize's note in materialize.ts).
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
SET jit = off AS $fn$
DECLARE
  v_scope text := coalesce(current_setting('reprise_server.scope', true), '');
  v_present uuid[];
  v_compared jsonb := '[]'::jsonb;
  v_bad text;
  v_head bigint;
  v_visible bigint;
  v_seen bigint;
  v_untracked record;
  v_stored jsonb;
  v_fresh uuid[];
  v_count integer;
BEGIN
  -- The head gate (R-SYNC-6) up to the head committed now, before the lock: every action up to
  -- that head is committed (sequences become visible in commit order, R-SYNC-7, and the head
  -- moves in the same transaction), and a stored action's patches never change, so this part
  -- of the answer is the same under the lock. Only the actions stored while this upload waits
  -- for the lock are left to read under it, not all of those after the basis (with 50
  -- concurrent clients, about a thousand per upload, each with a probe of its patches).
  SELECT s.head INTO v_seen FROM reprise_server.state s;
  v_visible := reprise_server.visible_after(p_basis, p_client, p_user, p_audiences, v_seen);

  PERFORM pg_advisory_xact_lock(hashtext('reprise_server.sequence'));

  -- The idempotency check compares with what is stored, whoever may see it.
  PERFORM set_config('reprise_server.scope', 'system', true);
  SELECT array_agg(a.id) INTO v_present FROM reprise_server.actions a WHERE a.id = ANY (p_ids);
  IF v_present IS NOT NULL THEN
    WITH req AS (
      SELECT * FROM jsonb_to_recordset(p_payload::jsonb) AS r(ord int, id uuid, tag text, args text, client_id text,
        user_id text, hlc text, kind text, patches jsonb)
    )
    SELECT jsonb_agg(jsonb_build_object('id', r.id::text, 'server_seq', a.server_seq,
      'same', (a.tag = r.tag AND a.args = r.args::jsonb AND a.client_id = r.client_id
        AND a.user_id IS NOT DISTINCT FROM r.user_id AND a.hlc = r.hlc AND a.kind = r.kind
        AND coalesce((
          SELECT jsonb_agg(jsonb_build_object('seq', p.seq, 'schema', p.table_schema, 'table', p.table_name,
            'rowId', p.row_id, 'op', p.op, 'forward', p.forward, 'reverse', p.reverse, 'audienceKey', p.audience_key)
            ORDER BY p.seq)
          FROM reprise_server.patches p WHERE p.action_id = a.id), '[]'::jsonb)
        = coalesce((
          SELECT jsonb_agg(jsonb_build_object('seq', (e->>'seq')::int, 'schema', e->>'schema', 'table', e->>'table',
            'rowId', e->>'rowId', 'op', e->>'op', 'forward', (e->>'forward')::jsonb, 'reverse', (e->>'reverse')::jsonb,
            'audienceKey', e->>'audienceKey')
            ORDER BY (e->>'seq')::int)
          FROM jsonb_array_elements(r.patches) AS e), '[]'::jsonb))) ORDER BY r.ord)
    INTO v_compared
    FROM req r JOIN reprise_server.actions a ON a.id = r.id;
  END IF;
  PERFORM set_config('reprise_server.scope', v_scope, true);
  SELECT c ->> 'id' INTO v_bad FROM jsonb_array_elements(v_compared) AS c WHERE NOT (c ->> 'same')::boolean LIMIT 1;
  IF v_bad IS NOT NULL THEN
    RETURN jsonb_build_object('status', 'conflict', 'id', v_bad);
  END IF;

  SELECT s.head INTO v_head FROM reprise_server.state s;
  v_fresh := ARRAY(SELECT i FROM unnest(p_ids) AS i WHERE v_present IS NULL OR NOT (i = ANY (v_present)));
  IF cardinality(v_fresh) = 0 THEN
    RETURN jsonb_build_object('status', 'ok', 'head', v_head, 'seqs', v_compared);
  END IF;

  -- The head gate (R-SYNC-6), for the rest of the range: the actions stored while this upload
  -- waited for the lock (see reprise_server.visible_after).
  v_visible := greatest(v_visible, reprise_server.visible_after(greatest(p_basis, v_seen), p_client, p_user, p_audiences));
  IF v_visible > p_basis THEN
    RETURN jsonb_build_object('status', 'behind', 'visible', v_visible);
  END IF;

  SELECT x.s, x.t, x.present INTO v_untracked FROM (
    SELECT t.s, t.t, to_regclass(format('%I.%I', t.s, t.t)) IS NOT NULL AS present,
      EXISTS (SELECT 1 FROM reprise.tracked_tables tt WHERE tt.table_schema = t.s AND tt.table_name = t.t) AS tracked
    FROM jsonb_to_recordset(p_pairs) AS t(s text, t text)
  ) AS x
  WHERE NOT (x.tracked AND x.present) LIMIT 1;
  IF FOUND THEN
    RETURN jsonb_build_object('status', 'untracked', 'schema', v_untracked.s, 'table', v_untracked.t,
      'present', v_untracked.present);
  END IF;

  SELECT i::text INTO v_bad FROM unnest(v_fresh) WITH ORDINALITY AS f(i, n) WHERE i = ANY (p_forged) ORDER BY n LIMIT 1;
  IF v_bad IS NOT NULL THEN
    RETURN jsonb_build_object('status', 'forged', 'id', v_bad);
  END IF;

  -- The new actions with sequences head + 1, ... in request order, the audiences of their author,
  -- their patches and, for corrections, the actions they restate with who may see them.
  -- The payload is read as json, not jsonb: it is only taken apart, and parsing it to jsonb
  -- costs more than the rest of the statement.
  WITH req AS (
    SELECT r.*, row_number() OVER (ORDER BY r.ord) AS n
    FROM json_to_recordset(p_payload::json) AS r(ord int, id uuid, tag text, args text, client_id text,
      user_id text, hlc text, kind text, patches json)
    WHERE r.id = ANY (v_fresh)
  ),
  stored AS (
    INSERT INTO reprise_server.actions (id, server_seq, tag, args, client_id, user_id, hlc, kind, author_audiences,
      patch_audiences, public_patch)
    SELECT r.id, v_head + r.n, r.tag, r.args::jsonb, r.client_id, r.user_id, r.hlc, r.kind, p_audiences,
      ARRAY(SELECT DISTINCT e ->> 'audienceKey' FROM json_array_elements(r.patches) AS e
        WHERE e ->> 'audienceKey' IS NOT NULL ORDER BY 1),
      EXISTS (SELECT 1 FROM json_array_elements(r.patches) AS e WHERE e ->> 'audienceKey' IS NULL)
    FROM req r
    RETURNING id, server_seq
  ),
  patched AS (
    INSERT INTO reprise_server.patches
      (action_id, seq, table_schema, table_name, row_id, op, forward, reverse, audience_key)
    SELECT r.id, e.seq, e.schema, e."table", e."rowId", e.op, e.forward::jsonb, e.reverse::jsonb, e."audienceKey"
    FROM req r CROSS JOIN LATERAL json_to_recordset(r.patches) AS e(seq int, schema text, "table" text, "rowId" text,
      op text, forward text, reverse text, "audienceKey" text)
    RETURNING 1
  ),
  restated AS (
    INSERT INTO reprise_server.restatements (correction_id, restated_id, user_id, audiences, public)
    SELECT DISTINCT ON (r.id, x.id::uuid) r.id, x.id::uuid, r.user_id,
      coalesce(ARRAY(SELECT DISTINCT k FROM (
        SELECT e ->> 'audienceKey' AS k FROM json_array_elements(r.patches) AS e
        UNION SELECT r.args::jsonb -> 'input' ->> 'audience') AS keys WHERE k IS NOT NULL), '{}'),
      EXISTS (SELECT 1 FROM json_array_elements(r.patches) AS e WHERE e ->> 'audienceKey' IS NULL)
        OR (r.args::jsonb -> 'input' ? 'audience' AND r.args::jsonb -> 'input' ->> 'audience' IS NULL)
    FROM req r
    CROSS JOIN LATERAL jsonb_array_elements_text(
      CASE WHEN jsonb_typeof(r.args::jsonb -> 'input' -> 'restates') = 'array' THEN r.args::jsonb -> 'input' -> 'restates'
           ELSE '[]'::jsonb END) AS x(id)
    WHERE r.kind = 'correction' AND x.id ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
    RETURNING 1
  )
  -- (patched and restated run to completion whether or not they are read.)
  SELECT jsonb_agg(jsonb_build_object('id', s.id::text, 'server_seq', s.server_seq)), count(*)::int
  INTO v_stored, v_count
  FROM stored s;

  v_head := v_head + v_count;
  UPDATE reprise_server.state SET head = v_head;
  -- Delivered to every listener when (and only if) the transaction commits (R-SRV-5).
  PERFORM pg_notify('reprise_server_head', v_head::text);
  PERFORM reprise_server.materialize(v_fresh);
  RETURN jsonb_build_object('status', 'ok', 'head', v_head, 'seqs', v_compared || v_stored);
END
$fn$;
`

/**
 * A whole upload in ONE round trip, as a procedure that ends its own transaction:
 * `CALL reprise_server.upload(...)` outside any transaction block sets the caller's identity
 * (as `session.ts` does: the settings, then the role), binds the client id
 * (`reprise_server.bind_client`), resolves the caller's audiences, checks the audiences its
 * corrections claim, runs `reprise_server.store_upload` and then COMMITs when it stored (or
 * answered the sequences of already stored actions), else ROLLBACKs: the sequencing lock is
 * released by a COMMIT inside the database, so no round trip to the server process happens
 * while it is held.
 *
 * `p_visibility`: `everyone` (nothing filtered), `given` (`p_given`, the service's in-code
 * audiences) or `database` (`reprise_server.caller_audiences()`). `p_keys`: the audience keys
 * each action claims, `[{ id, c, key }]` (`c`: a correction's `input.audience`, else a patch's
 * label; null keys are left out). Outcome (text): `store_upload`'s, with the caller's audiences
 * (`audiences`, null when unfiltered), or `{ "status": "wrong_client" }`, or
 * `{ "status": "misplaced", "id", "audiences" }` (a correction for an audience the caller is
 * not in). An error raised inside rolls everything back, as a failed statement does.
 *
 * @internal
 */
export const createUploadProcedure = `
CREATE OR REPLACE PROCEDURE reprise_server.upload(
  p_user text, p_claims text, p_visibility text, p_given text[], p_role text,
  p_client text, p_payload text, p_ids uuid[], p_basis bigint, p_pairs jsonb, p_keys jsonb,
  INOUT p_outcome text DEFAULT NULL
) LANGUAGE plpgsql AS $fn$
DECLARE
  v_audiences text[];
  v_result jsonb;
  v_bad text;
  v_forged uuid[];
BEGIN
  -- The caller's settings, then the role, as the reads set them (read.ts: enter_caller).
  PERFORM reprise_server.enter_caller(p_user, p_claims, p_visibility, p_given, p_role);
  IF NOT reprise_server.bind_client(p_client, p_user) THEN
    ROLLBACK;
    p_outcome := '{"status": "wrong_client"}';
    RETURN;
  END IF;
  v_audiences := CASE p_visibility
    WHEN 'everyone' THEN NULL
    WHEN 'given' THEN p_given
    ELSE ARRAY(SELECT d.k FROM (SELECT DISTINCT x.k COLLATE "C" AS k
      FROM unnest(reprise_server.caller_audiences()) AS x(k)) AS d ORDER BY d.k) END;
  IF v_audiences IS NOT NULL THEN
    SELECT e.claim ->> 'id' INTO v_bad FROM jsonb_array_elements(p_keys) WITH ORDINALITY AS e(claim, n)
      WHERE (e.claim ->> 'c')::boolean AND NOT (e.claim ->> 'key' = ANY (v_audiences)) ORDER BY e.n LIMIT 1;
    IF v_bad IS NOT NULL THEN
      ROLLBACK;
      p_outcome := jsonb_build_object('status', 'misplaced', 'id', v_bad, 'audiences', v_audiences)::text;
      RETURN;
    END IF;
    v_forged := ARRAY(SELECT DISTINCT (e.claim ->> 'id')::uuid FROM jsonb_array_elements(p_keys) AS e(claim)
      WHERE NOT (e.claim ->> 'c')::boolean AND NOT (e.claim ->> 'key' = ANY (v_audiences)));
  END IF;
  v_result := reprise_server.store_upload(p_payload, p_ids, p_client, p_basis, p_user, v_audiences, p_pairs,
    coalesce(v_forged, '{}'));
  IF v_result ->> 'status' = 'ok' THEN
    COMMIT;
  ELSE
    ROLLBACK;
  END IF;
  p_outcome := (v_result || jsonb_build_object('audiences', v_audiences))::text;
END
$fn$;
`
