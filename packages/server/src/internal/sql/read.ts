/**
 * Reading the log inside the database: `reprise_server.read_page` does a fetch's whole
 * database work in ONE statement, and `reprise_server.read_head` reads the head as the caller.
 *
 * Why: a fetch used to be five round trips (BEGIN, the caller's settings and role, the head, the
 * page, COMMIT), and its page query, sent by the driver as an unnamed statement, was planned
 * anew on every call (with the log's policies, about 3 ms of planning for a page of one
 * action). A realtime subscriber reads a page after every commit it hears of, so this is on
 * the path of every change a client sees. Now the service sends one
 * `SELECT ... FROM reprise_server.read_page(...)`; outside a transaction block a statement is
 * its own transaction, so the settings and the role it sets transaction-locally end with it,
 * as they ended with the COMMIT. PL/pgSQL keeps its statements' plans for the connection.
 *
 * Identity: both functions run as the caller (SECURITY INVOKER) and start as `session.ts`
 * does: the caller's settings (`reprise.user_id`, `request.jwt.claims`, `reprise.audiences`,
 * `reprise.see_all`, an empty `reprise_server.scope`), then the RLS role
 * (`set_config('role', ..., true)`, `SET LOCAL ROLE`), then every read, so the log's policies
 * filter them under the caller's identity as before. A cached plan made under the log's
 * policies records the role it was made for, and Postgres plans again when the current role
 * (or `row_security`) differs, so a plan is never used for another role.
 *
 * Plans: `force_generic_plan` makes each statement's plan once per connection (its inputs are
 * parameters: the cursor, the head, the limit, the caller and its audiences), and
 * `enable_seqscan = off` keeps that plan index-driven as the log grows (a plan made while the
 * log was small would otherwise keep scanning tables whole; see materialize.ts). `jit = off`:
 * before PostgreSQL 18, `enable_seqscan = off` prices a sequential scan at 10^10, so a plan
 * that keeps one (the one-row `reprise_server.state`) passes `jit_above_cost` and was compiled
 * by LLVM on every call (measured on PostgreSQL 15: 59 ms to read the head); a page never
 * gains from JIT.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

/** The caller as the read functions take it. @internal */
export interface ReadCaller {
  readonly userId: string
  /** Its token's claims, JSON text. */
  readonly claims: string
  /** `everyone`, `given` or `database` (see `enter_caller`). */
  readonly visibility: "everyone" | "given" | "database"
  /** The in-code audiences, a text[] literal, when `given`. */
  readonly given: string | null
  /** The RLS role; null: none. */
  readonly role: string | null
}

/**
 * `reprise_server.read_page` for `caller`: rows `head` (text), `audiences` (JSON text), `action`
 * (JSON text) and `extra`, the header first (see `read_page`). `limit`: the rows of the page to
 * read. @internal
 */
export const readPage = (
  sql: SqlClient.SqlClient,
  caller: ReadCaller,
  page: { readonly since: number; readonly limit: number }
) =>
  sql`SELECT r.o_head::text AS head, r.o_audiences AS audiences, r.o_action AS action, r.o_extra AS extra
    FROM reprise_server.read_page(${caller.userId}, ${caller.claims}, ${caller.visibility}, ${caller.given}::text[],
      ${caller.role}, ${page.since}::bigint, ${page.limit}::integer) AS r`

/** `reprise_server.read_head` for `caller` (its visibility is not read): one row, `head` (text). @internal */
export const readHead = (sql: SqlClient.SqlClient, caller: ReadCaller) =>
  sql`SELECT reprise_server.read_head(${caller.userId}, ${caller.claims}, ${caller.role})::text AS head`

/**
 * The caller's identity, transaction-locally, as `session.ts`'s `enter` sets it (the reads here
 * and the upload procedure, `upload.ts`, call it): the settings first, the role last. `p_visibility`: `everyone` (nothing filtered), `given` (`p_given`, the
 * service's in-code audiences) or `database` (left to `reprise_server.caller_audiences()`).
 */
const createEnterFunction = `
CREATE OR REPLACE FUNCTION reprise_server.enter_caller(
  p_user text, p_claims text, p_visibility text, p_given text[], p_role text
) RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  PERFORM set_config('reprise.user_id', p_user, true),
    set_config('request.jwt.claims', p_claims, true),
    set_config('reprise.audiences', CASE WHEN p_visibility = 'given' THEN p_given::text ELSE '' END, true),
    set_config('reprise.see_all', CASE WHEN p_visibility = 'everyone' THEN 'on' ELSE '' END, true),
    set_config('reprise_server.scope', '', true);
  IF p_role IS NOT NULL THEN
    PERFORM set_config('role', p_role, true);
  END IF;
END
$fn$;
`

/**
 * A page of the log for the caller, in one call (see the module's doc).
 *
 * Rows, in this order: first the header, `o_head` (the head, read first) and `o_audiences`
 * (the caller's audiences as a JSON array, null when nothing is filtered; `database`: as
 * `reprise_server.caller_audiences()` returns them, none when it returns null), `o_action` and
 * `o_extra` null. Then, unless `p_since` is beyond the head (the caller's `FetchRejected`: no
 * page is read), the page up to the head: up to `p_limit` actions after `p_since` the caller
 * may see, in server order, `o_extra` false, then the actions their corrections restate,
 * `o_extra` true, each as the JSON text of its `RemoteAction` carrying only the patches in the
 * caller's audiences (patch row images as JSON strings, exactly as stored) and whether the caller
 * sees everything its author saw (`fullView`).
 *
 * Visibility: an action is in the page when nothing is filtered, or the caller wrote it, or one
 * of its patches is in one of the caller's audiences or public (null audience key) (R-SRV-3),
 * or it is a correction for one of them (`args.input.audience`, null for public: a correction
 * may set no row and only restate actions hidden from that audience), on top of the log's
 * policies. The upload's head gate, `reprise_server.visible_after` (`upload.ts`), states the same condition:
 * change both together. The restated actions follow whatever their sequence: a replica that
 * receives a correction of a row it sees also receives what changed the row, even when none
 * of that action's own patches is visible to it (R-SYNC-3).
 */
const createReadPageFunction = `
CREATE OR REPLACE FUNCTION reprise_server.read_page(
  p_user text, p_claims text, p_visibility text, p_given text[], p_role text, p_since bigint, p_limit integer
) RETURNS TABLE (o_head bigint, o_audiences text, o_action text, o_extra boolean)
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
SET jit = off AS $fn$
DECLARE
  v_head bigint;
  v_audiences text[];
BEGIN
  PERFORM reprise_server.enter_caller(p_user, p_claims, p_visibility, p_given, p_role);
  SELECT s.head INTO v_head FROM reprise_server.state s;
  v_audiences := CASE p_visibility
    WHEN 'everyone' THEN NULL
    WHEN 'given' THEN p_given
    ELSE coalesce(reprise_server.caller_audiences(), '{}'::text[]) END;
  o_head := coalesce(v_head, 0);
  o_audiences := array_to_json(v_audiences)::text;
  RETURN NEXT;
  IF p_since > o_head THEN
    RETURN;
  END IF;
  o_head := NULL;
  o_audiences := NULL;
  RETURN QUERY
    WITH page AS MATERIALIZED (
      SELECT a.* FROM reprise_server.actions a
      WHERE a.server_seq > p_since AND a.server_seq <= v_head
        AND (v_audiences IS NULL OR a.user_id = p_user OR EXISTS (
          SELECT 1 FROM reprise_server.patches p WHERE p.action_id = a.id
            AND (p.audience_key IS NULL OR p.audience_key = ANY (v_audiences)))
          OR (a.kind = 'correction' AND a.args -> 'input' ? 'audience'
            AND (a.args -> 'input' ->> 'audience' IS NULL OR a.args -> 'input' ->> 'audience' = ANY (v_audiences))))
      ORDER BY a.server_seq
      LIMIT p_limit
    ), restated AS (
      SELECT DISTINCT r.* FROM page c
      CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(c.args -> 'input' -> 'restates') = 'array' THEN c.args -> 'input' -> 'restates'
             ELSE '[]'::jsonb END) AS x(id)
      JOIN reprise_server.actions r
        ON r.id = CASE WHEN x.id ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN x.id::uuid END
      -- Unfiltered, every action is visible anyway.
      WHERE v_audiences IS NOT NULL
        AND c.kind = 'correction' AND NOT EXISTS (SELECT 1 FROM page p WHERE p.id = r.id)
    ), encoded AS (
      SELECT a.*, false AS extra FROM page a
      UNION ALL
      SELECT a.*, true FROM restated a
    )
    SELECT NULL::bigint, NULL::text, jsonb_build_object(
      'id', e.id, 'tag', e.tag, 'args', e.args, 'clientId', e.client_id, 'userId', e.user_id,
      'hlc', e.hlc, 'kind', e.kind, 'serverSeq', e.server_seq,
      'fullView', (v_audiences IS NULL OR e.user_id = p_user OR coalesce(e.author_audiences <@ v_audiences, false)),
      'patches', coalesce((
        SELECT jsonb_agg(jsonb_build_object('seq', p.seq, 'schema', p.table_schema, 'table', p.table_name,
          'rowId', p.row_id, 'op', p.op, 'forward', p.forward::text, 'reverse', p.reverse::text,
          'audienceKey', p.audience_key) ORDER BY p.seq)
        FROM reprise_server.patches p WHERE p.action_id = e.id
          AND (v_audiences IS NULL OR p.audience_key IS NULL OR p.audience_key = ANY (v_audiences))), '[]'::jsonb)
    )::text, e.extra
    FROM encoded e
    ORDER BY e.extra, e.server_seq;
END
$fn$;
`

/**
 * The head as the caller (its settings and the RLS role, as `read_page` sets them): the head
 * is no one's secret, but the role's own privileges apply to reading it.
 */
const createReadHeadFunction = `
CREATE OR REPLACE FUNCTION reprise_server.read_head(p_user text, p_claims text, p_role text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_head bigint;
BEGIN
  PERFORM reprise_server.enter_caller(p_user, p_claims, 'database', NULL, p_role);
  SELECT s.head INTO v_head FROM reprise_server.state s;
  RETURN coalesce(v_head, 0);
END
$fn$;
`

/** The read functions (replaced by every install: they hold no data). @internal */
export const createReadFunctions = createEnterFunction + createReadPageFunction + createReadHeadFunction
