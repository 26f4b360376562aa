/**
 * Row-level security of the server's database (schema version 3): who the caller is, which
 * audiences it is in, the policies on the action log, the checks materialization runs under
 * its authors' identities, and the functions `Rls.install` / `Rls.audiencePolicies` call.
 *
 * The caller is described by transaction-local settings the service sets at the start of every
 * request (and materialization per action, for its author):
 *
 * - `reprise.user_id`: the caller's user id;
 * - `request.jwt.claims`: its token's claims as JSON (Supabase-style), for apps' own policies;
 * - `reprise.audiences`: a text[] literal of its audiences, when the service's in-code
 *   `audiences` option (or the author's stored audiences) gives them; empty otherwise;
 * - `reprise.see_all`: `on` when nothing is filtered (the service's `audiences: "everyone"`).
 *
 * `reprise_server.caller_audiences()` is the membership the policies read: the setting when it
 * is given, else the rows of `reprise_server.audience_members` for the caller. The migration
 * creates it once and later installs never replace it, so an app may replace it with its own.
 *
 * `reprise_server.scope = 'system'` lets the service's own bookkeeping (materialization's plan,
 * the idempotency check) read the whole log. Like `reprise.user_id`, it constrains what the
 * service's queries see; it is not a boundary against arbitrary SQL run as the server role.
 *
 * @internal
 */

/** @internal */
export const migrateServerSchemaV3 = `
CREATE TABLE IF NOT EXISTS reprise_server.audience_members (
  user_id text NOT NULL,
  audience_key text NOT NULL,
  PRIMARY KEY (user_id, audience_key)
);

-- The role Rls.install set up for the service (one row, or none).
CREATE TABLE IF NOT EXISTS reprise_server.rls_settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  role text NOT NULL
);

-- Which actions each correction restates, and who may see that correction: its author, its
-- audiences (its patches' and the one it is for) and whether it is public.
CREATE TABLE IF NOT EXISTS reprise_server.restatements (
  correction_id uuid NOT NULL REFERENCES reprise_server.actions (id),
  restated_id uuid NOT NULL,
  user_id text,
  audiences text[] NOT NULL,
  public boolean NOT NULL,
  PRIMARY KEY (correction_id, restated_id)
);
CREATE INDEX IF NOT EXISTS restatements_restated ON reprise_server.restatements (restated_id);

INSERT INTO reprise_server.restatements (correction_id, restated_id, user_id, audiences, public)
SELECT DISTINCT a.id, x.id::uuid, a.user_id,
  coalesce(ARRAY(SELECT DISTINCT k FROM (
    SELECT p.audience_key AS k FROM reprise_server.patches p WHERE p.action_id = a.id
    UNION SELECT a.args -> 'input' ->> 'audience') AS keys WHERE k IS NOT NULL), '{}'),
  EXISTS (SELECT 1 FROM reprise_server.patches p WHERE p.action_id = a.id AND p.audience_key IS NULL)
    OR (a.args -> 'input' ? 'audience' AND a.args -> 'input' ->> 'audience' IS NULL)
FROM reprise_server.actions a
CROSS JOIN LATERAL jsonb_array_elements_text(
  CASE WHEN jsonb_typeof(a.args -> 'input' -> 'restates') = 'array' THEN a.args -> 'input' -> 'restates'
       ELSE '[]'::jsonb END) AS x(id)
WHERE a.kind = 'correction' AND x.id ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
ON CONFLICT DO NOTHING;

-- The default membership (the app may replace this function; installs never do).
CREATE OR REPLACE FUNCTION reprise_server.caller_audiences() RETURNS text[] LANGUAGE sql STABLE AS $fn$
  SELECT CASE WHEN coalesce(current_setting('reprise.audiences', true), '') <> ''
    THEN current_setting('reprise.audiences', true)::text[]
    ELSE coalesce((SELECT array_agg(m.audience_key ORDER BY m.audience_key) FROM reprise_server.audience_members m
      WHERE m.user_id = current_setting('reprise.user_id', true)), '{}'::text[]) END
$fn$;

ALTER TABLE reprise_server.actions ENABLE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.actions FORCE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.patches ENABLE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.patches FORCE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.restatements ENABLE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.restatements FORCE ROW LEVEL SECURITY;
`

/**
 * The functions and log policies of version 3, replaced by every install (they hold no data).
 * Policies read the caller through scalar subqueries, so each statement evaluates them once.
 *
 * @internal
 */
export const createRlsFunctions = `
CREATE OR REPLACE FUNCTION reprise_server.caller_user_id() RETURNS text LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(current_setting('reprise.user_id', true), '')
$fn$;

CREATE OR REPLACE FUNCTION reprise_server.caller_sees_all() RETURNS boolean LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(current_setting('reprise.see_all', true), '') = 'on'
$fn$;

CREATE OR REPLACE FUNCTION reprise_server.log_unfiltered() RETURNS boolean LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(current_setting('reprise.see_all', true), '') = 'on'
    OR coalesce(current_setting('reprise_server.scope', true), '') = 'system'
$fn$;

-- Whether the caller may see and write a row whose audience key is p_key (public: null).
CREATE OR REPLACE FUNCTION reprise_server.audience_allows(p_key text) RETURNS boolean LANGUAGE sql STABLE AS $fn$
  SELECT reprise_server.caller_sees_all() OR p_key IS NULL OR p_key = ANY (reprise_server.caller_audiences())
$fn$;

-- Acts as an action's author: its user id and the audiences stored with it (null: unfiltered).
CREATE OR REPLACE FUNCTION reprise_server.act_as(p_user text, p_audiences text) RETURNS void LANGUAGE sql AS $fn$
  SELECT set_config('reprise.user_id', coalesce(p_user, ''), true),
         set_config('reprise.audiences', coalesce(p_audiences, ''), true),
         set_config('reprise.see_all', CASE WHEN p_audiences IS NULL THEN 'on' ELSE '' END, true)
$fn$;

-- The audience key of row p_row_id of a tracked table as its capture trigger computes it (its
-- audience column or expression), read by the schema's owner: present = false when there is no
-- such row. The owner is not restricted to the author's view (a superuser bypasses RLS;
-- Rls.audiencePolicies gives the owner a read policy).
CREATE OR REPLACE FUNCTION reprise_server.row_audience(p_schema text, p_table text, p_row_id text,
  OUT present boolean, OUT audience_key text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $fn$
DECLARE
  v_tracked record;
BEGIN
  SELECT id_type, audience INTO v_tracked FROM reprise.tracked_tables
    WHERE table_schema = p_schema AND table_name = p_table;
  present := false;
  IF v_tracked IS NULL THEN
    RETURN;
  END IF;
  EXECUTE format('SELECT true, (%s)::text FROM %I.%I AS r WHERE r.id = $1::%s',
      reprise_server.audience_sql(v_tracked.audience), p_schema, p_table, v_tracked.id_type)
    INTO present, audience_key USING p_row_id;
  present := coalesce(present, false);
END
$fn$;

-- The SQL over row alias r of a tracked table's audience ('column:x' or 'expression:e').
CREATE OR REPLACE FUNCTION reprise_server.audience_sql(p_audience text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE WHEN p_audience LIKE 'column:%' THEN format('r.%I', substr(p_audience, 8))
              ELSE '(' || substr(p_audience, 12) || ')' END
$fn$;

-- The first of p_keys ([{ row_id, claimed, action }]) whose row of the table, as stored now,
-- is missing or has another audience key than claimed.
CREATE OR REPLACE FUNCTION reprise_server.mismatched_key(p_schema text, p_table text, p_keys jsonb,
  OUT row_id text, OUT claimed text, OUT actual text, OUT action text, OUT present boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $fn$
DECLARE
  v_tracked record;
  v_expr text;
BEGIN
  SELECT id_type, audience INTO v_tracked FROM reprise.tracked_tables
    WHERE table_schema = p_schema AND table_name = p_table;
  v_expr := reprise_server.audience_sql(v_tracked.audience);
  EXECUTE format('SELECT k.row_id, k.claimed, (%s)::text, k.action, r.id IS NOT NULL '
      'FROM jsonb_to_recordset($1) AS k(row_id text, claimed text, action text) '
      'LEFT JOIN %I.%I AS r ON r.id = k.row_id::%s '
      'WHERE r.id IS NULL OR (%s)::text IS DISTINCT FROM k.claimed LIMIT 1',
      v_expr, p_schema, p_table, v_tracked.id_type, v_expr)
    INTO row_id, claimed, actual, action, present USING p_keys;
END
$fn$;

-- Binds client p_client to user p_user (the caller) when no one has it yet (schema version 4):
-- true when the client is the caller's (bound now or before), false when another user has it.
-- Runs as the caller, under reprise_server.clients' policies (a caller sees only its own
-- clients). Concurrency: of two first uploads racing, the second INSERT waits for the first's
-- transaction and then inserts nothing; the last SELECT runs on a new snapshot (a volatile
-- function's statements each take one under READ COMMITTED), so it sees the winner's row.
-- Its cached plans stay index lookups as the table grows (see materialize.ts: enable_seqscan, jit).
CREATE OR REPLACE FUNCTION reprise_server.bind_client(p_client text, p_user text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off SET jit = off AS $fn$
BEGIN
  IF EXISTS (SELECT 1 FROM reprise_server.clients c WHERE c.client_id = p_client AND c.user_id = p_user) THEN
    RETURN true;
  END IF;
  INSERT INTO reprise_server.clients (client_id, user_id) VALUES (p_client, p_user) ON CONFLICT (client_id) DO NOTHING;
  IF FOUND THEN
    RETURN true;
  END IF;
  RETURN EXISTS (SELECT 1 FROM reprise_server.clients c WHERE c.client_id = p_client AND c.user_id = p_user);
END
$fn$;

REVOKE ALL ON FUNCTION reprise_server.row_audience(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION reprise_server.mismatched_key(text, text, jsonb) FROM PUBLIC;

-- Refusals: RP010 a write the author's policies forbid, RP011 a claimed audience key that is
-- not the row's. DETAIL carries the action id.
CREATE OR REPLACE FUNCTION reprise_server.refuse(p_code text, p_item jsonb, p_why text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION USING ERRCODE = p_code, DETAIL = coalesce(p_item ->> 'action', ''),
    MESSAGE = format('%s of row %s of %s: %s', coalesce(p_item ->> 'op', 'write'),
      to_jsonb(p_item ->> 'rowId')::text, to_jsonb((p_item ->> 'schema') || '.' || (p_item ->> 'table'))::text, p_why);
END
$fn$;

-- Applies one patch like core's reprise.apply_patch (same statements, quoted identifiers, the
-- recorded id type, untracked tables refused) and returns, in the same statement, the audience
-- key of the row it wrote (after an INSERT or UPDATE, before a DELETE): n = rows written, or
-- -1 for an UPDATE that sets no column.
CREATE OR REPLACE FUNCTION reprise_server.apply_keyed(
  p_schema text, p_table text, p_row_id text, p_op text, p_data jsonb, OUT n integer, OUT audience_key text
) LANGUAGE plpgsql AS $fn$
DECLARE
  v_tracked record;
  v_table text := format('%I.%I', p_schema, p_table);
  v_expr text;
  v_cols text;
  v_vals text;
BEGIN
  SELECT id_type, audience INTO v_tracked FROM reprise.tracked_tables
    WHERE table_schema = p_schema AND table_name = p_table;
  IF v_tracked IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'RP002',
      MESSAGE = format('Reprise: cannot apply a patch to %s: the table is not tracked', v_table),
      HINT = 'Install tracking on the table (Tracking.install) on every replica before syncing it.';
  END IF;
  v_expr := reprise_server.audience_sql(v_tracked.audience);
  IF p_op = 'INSERT' THEN
    SELECT string_agg(format('%I', k), ', '), string_agg(format('p.%I', k), ', ')
      INTO v_cols, v_vals FROM jsonb_object_keys(p_data) AS k;
    EXECUTE format('INSERT INTO %s AS r (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1) AS p RETURNING (%s)::text',
      v_table, v_cols, v_vals, v_table, v_expr) INTO audience_key USING p_data;
  ELSIF p_op = 'UPDATE' THEN
    SELECT string_agg(format('%I = p.%I', k, k), ', ') INTO v_cols
      FROM jsonb_object_keys(p_data) AS k WHERE k <> 'id';
    IF v_cols IS NULL THEN
      n := -1;
      RETURN;
    END IF;
    EXECUTE format('UPDATE %s AS r SET %s FROM jsonb_populate_record(NULL::%s, $1) AS p WHERE r.id = $2::%s '
        'RETURNING (%s)::text', v_table, v_cols, v_table, v_tracked.id_type, v_expr)
      INTO audience_key USING p_data, p_row_id;
  ELSIF p_op = 'DELETE' THEN
    EXECUTE format('DELETE FROM %s AS r WHERE r.id = $1::%s RETURNING (%s)::text', v_table, v_tracked.id_type, v_expr)
      INTO audience_key USING p_row_id;
  ELSE
    RAISE EXCEPTION USING ERRCODE = 'RP003', MESSAGE = format('Reprise: unknown patch operation %L', p_op);
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
END
$fn$;

-- Applies patch items ({ schema, table, rowId, op, forward, audienceKey, action, synthetic })
-- in order under the current identity. With p_check (an upload's own patches), a write the
-- author's policies refuse (an error, or an UPDATE/DELETE that matches no row although the row
-- exists) and a claimed audience key that differs from the row's (after an INSERT/UPDATE,
-- before a DELETE) are refused; without it (undoing and redoing accepted actions around a late
-- one) a refused UPDATE/DELETE stays a no-op.
CREATE OR REPLACE FUNCTION reprise_server.apply_checked(p_items jsonb, p_check boolean) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  v_item jsonb;
  v_row record;
  v_applied record;
  v_total integer := 0;
BEGIN
  BEGIN
    FOR v_item IN SELECT value FROM jsonb_array_elements(p_items) LOOP
      IF NOT p_check OR coalesce((v_item ->> 'synthetic')::boolean, false) THEN
        v_total := v_total + reprise.apply_patch(v_item ->> 'schema', v_item ->> 'table', v_item ->> 'rowId',
          v_item ->> 'op', v_item -> 'forward');
        CONTINUE;
      END IF;
      SELECT * INTO v_applied FROM reprise_server.apply_keyed(v_item ->> 'schema', v_item ->> 'table',
        v_item ->> 'rowId', v_item ->> 'op', v_item -> 'forward');
      CONTINUE WHEN v_applied.n < 0;
      v_total := v_total + v_applied.n;
      IF v_applied.n = 0 THEN
        -- No row: gone (a conflict: nothing to do), or hidden from the author by its policies.
        SELECT * INTO v_row FROM reprise_server.row_audience(v_item ->> 'schema', v_item ->> 'table', v_item ->> 'rowId');
        IF v_row.present THEN
          PERFORM reprise_server.refuse('RP010', v_item, 'the author''s row-level security policies do not allow it');
        END IF;
      ELSIF v_applied.audience_key IS DISTINCT FROM v_item ->> 'audienceKey' THEN
        PERFORM reprise_server.refuse('RP011', v_item, format('the patch claims audience key %s but the row''s is %s',
          coalesce(to_jsonb(v_item ->> 'audienceKey')::text, 'null'), coalesce(to_jsonb(v_applied.audience_key)::text, 'null')));
      END IF;
    END LOOP;
  EXCEPTION WHEN insufficient_privilege THEN
    IF SQLERRM NOT LIKE '%row-level security%' THEN
      RAISE;
    END IF;
    PERFORM reprise_server.refuse('RP010', v_item, 'the author''s row-level security policies do not allow it');
  END;
  RETURN v_total;
END
$fn$;

-- Installs audience-based policies on a tracked table (see Rls.audiencePolicies): RLS enabled
-- and forced, one policy for every command allowing rows whose audience (p_audience_sql over
-- the row, as a function of it) the caller may see, a read policy for the installing role
-- (the owner of reprise_server.row_audience), and the server role's privileges.
CREATE OR REPLACE FUNCTION reprise_server.install_audience_policies(
  p_schema text, p_table text, p_audience_sql text, p_role text
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  v_table text := format('%I.%I', p_schema, p_table);
  v_fn text := format('reprise_server.%I', 'audience_of_' || md5(p_schema || '.' || p_table));
  v_allows text;
BEGIN
  EXECUTE format('CREATE OR REPLACE FUNCTION %s(r %s) RETURNS text LANGUAGE sql STABLE AS %L',
    v_fn, v_table, format('SELECT (%s)::text', p_audience_sql));
  v_allows := format('(SELECT reprise_server.caller_sees_all()) OR %1$s(%2$I) IS NULL '
    'OR %1$s(%2$I) = ANY ((SELECT reprise_server.caller_audiences())::text[])', v_fn, p_table);
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', v_table);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', v_table);
  EXECUTE format('DROP POLICY IF EXISTS reprise_audience ON %s', v_table);
  EXECUTE format('CREATE POLICY reprise_audience ON %s USING (%s) WITH CHECK (%s)', v_table, v_allows, v_allows);
  EXECUTE format('DROP POLICY IF EXISTS reprise_inspect ON %s', v_table);
  EXECUTE format('CREATE POLICY reprise_inspect ON %s FOR SELECT TO %I USING (true)', v_table, current_user);
  IF p_role IS NOT NULL THEN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', v_table, p_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s(%s) TO %I', v_fn, v_table, p_role);
  END IF;
END
$fn$;
`

/** The log's policies (dropped and created again by every install). @internal */
export const createLogPolicies = `
DROP POLICY IF EXISTS reprise_read ON reprise_server.patches;
CREATE POLICY reprise_read ON reprise_server.patches FOR SELECT USING (
  (SELECT reprise_server.log_unfiltered()) OR audience_key IS NULL
  OR audience_key = ANY ((SELECT reprise_server.caller_audiences())::text[]));
DROP POLICY IF EXISTS reprise_write ON reprise_server.patches;
CREATE POLICY reprise_write ON reprise_server.patches FOR INSERT WITH CHECK (
  (SELECT reprise_server.log_unfiltered()) OR audience_key IS NULL
  OR audience_key = ANY ((SELECT reprise_server.caller_audiences())::text[]));

DROP POLICY IF EXISTS reprise_read ON reprise_server.restatements;
CREATE POLICY reprise_read ON reprise_server.restatements FOR SELECT USING (
  (SELECT reprise_server.log_unfiltered()) OR public OR user_id = (SELECT reprise_server.caller_user_id())
  OR audiences && (SELECT reprise_server.caller_audiences()));
DROP POLICY IF EXISTS reprise_write ON reprise_server.restatements;
CREATE POLICY reprise_write ON reprise_server.restatements FOR INSERT WITH CHECK (
  user_id = (SELECT reprise_server.caller_user_id()));

DROP POLICY IF EXISTS reprise_read ON reprise_server.clients;
CREATE POLICY reprise_read ON reprise_server.clients FOR SELECT USING (
  (SELECT reprise_server.log_unfiltered()) OR user_id = (SELECT reprise_server.caller_user_id()));
DROP POLICY IF EXISTS reprise_write ON reprise_server.clients;
CREATE POLICY reprise_write ON reprise_server.clients FOR INSERT WITH CHECK (
  user_id = (SELECT reprise_server.caller_user_id()));

DROP POLICY IF EXISTS reprise_read ON reprise_server.actions;
CREATE POLICY reprise_read ON reprise_server.actions FOR SELECT USING (
  (SELECT reprise_server.log_unfiltered())
  OR user_id = (SELECT reprise_server.caller_user_id())
  OR EXISTS (SELECT 1 FROM reprise_server.patches p WHERE p.action_id = actions.id)
  OR (kind = 'correction' AND args -> 'input' ? 'audience' AND (args -> 'input' ->> 'audience' IS NULL
    OR args -> 'input' ->> 'audience' = ANY ((SELECT reprise_server.caller_audiences())::text[])))
  OR EXISTS (SELECT 1 FROM reprise_server.restatements r WHERE r.restated_id = actions.id));
DROP POLICY IF EXISTS reprise_write ON reprise_server.actions;
CREATE POLICY reprise_write ON reprise_server.actions FOR INSERT WITH CHECK (
  user_id = (SELECT reprise_server.caller_user_id()));
`

/**
 * Sets up the service's role (see `Rls.install`): creates it when missing (NOLOGIN unless
 * `p_login`), refuses one that is a superuser, bypasses RLS or owns anything, grants it what the
 * service needs (the log, the membership relation, the tracked tables) and lets `p_grant_to`
 * switch to it. Returns the problem, or null.
 *
 * @internal
 */
export const createRoleInstaller = `
CREATE OR REPLACE FUNCTION reprise_server.install_role(p_role text, p_login boolean, p_grant_to text)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
  v_role record;
  v_owned text;
  v_table record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
    EXECUTE format('CREATE ROLE %I %s NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT',
      p_role, CASE WHEN p_login THEN 'LOGIN' ELSE 'NOLOGIN' END);
  END IF;
  SELECT * INTO v_role FROM pg_roles WHERE rolname = p_role;
  IF v_role.rolsuper OR v_role.rolbypassrls THEN
    RETURN format('the role %I is a superuser or has BYPASSRLS, so row-level security would not apply to it; '
      'use a role without them (ALTER ROLE %I NOSUPERUSER NOBYPASSRLS) or another role name', p_role, p_role);
  END IF;
  SELECT string_agg(format('%s %s', kind, name), ', ') INTO v_owned FROM (
    SELECT 'table' AS kind, c.oid::regclass::text AS name FROM pg_class c
      WHERE c.relowner = v_role.oid AND c.relnamespace <> 'pg_catalog'::regnamespace
    UNION ALL SELECT 'schema', n.nspname::text FROM pg_namespace n WHERE n.nspowner = v_role.oid
    UNION ALL SELECT 'function', p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = v_role.oid
  ) AS owned;
  IF v_owned IS NOT NULL THEN
    RETURN format('the role %I owns %s in this database; owners are not bound by policies unless forced, so '
      'the server role must own nothing: reassign them (REASSIGN OWNED BY %I TO <owner>)', p_role, v_owned, p_role);
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA reprise, reprise_server TO %I', p_role);
  EXECUTE format('GRANT SELECT, INSERT ON reprise_server.actions, reprise_server.patches, '
    'reprise_server.restatements TO %I', p_role);
  EXECUTE format('GRANT SELECT, INSERT ON reprise_server.clients TO %I', p_role);
  EXECUTE format('GRANT SELECT, UPDATE ON reprise_server.state TO %I', p_role);
  EXECUTE format('GRANT SELECT ON reprise_server.schema_version, reprise_server.rls_settings, '
    'reprise_server.audience_members, reprise.tracked_tables TO %I', p_role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION reprise_server.row_audience(text, text, text), '
    'reprise_server.mismatched_key(text, text, jsonb) TO %I', p_role);
  FOR v_table IN SELECT t.table_schema, t.table_name FROM reprise.tracked_tables t
      WHERE to_regclass(format('%I.%I', t.table_schema, t.table_name)) IS NOT NULL LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', v_table.table_schema, p_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I', v_table.table_schema, v_table.table_name, p_role);
  END LOOP;
  IF p_grant_to IS NOT NULL AND p_grant_to <> p_role THEN
    EXECUTE format('GRANT %I TO %I', p_role, p_grant_to);
  END IF;
  INSERT INTO reprise_server.rls_settings (singleton, role) VALUES (true, p_role)
    ON CONFLICT (singleton) DO UPDATE SET role = excluded.role;
  RETURN NULL;
END
$fn$;
`
