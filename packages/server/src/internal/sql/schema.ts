/**
 * The server's schema (version 1, then the migrations after it): the action log (`actions`, `patches`) and the head
 * sequence (`state`), in the `reprise_server` schema so they never collide with the app's
 * canonical tables or with core's `reprise` schema.
 *
 * Every statement is idempotent (`IF NOT EXISTS`, `ON CONFLICT DO NOTHING`); the installer runs
 * it in one transaction under a transaction-scoped advisory lock.
 *
 * @internal
 */

/** @internal */
export const SERVER_SCHEMA_VERSION = 5

/** The advisory lock key (hashed with `hashtext`) that serializes installers. @internal */
export const installLockKey = "reprise_server.schema"

/** @internal */
export const createServerSchemaV1 = `
CREATE SCHEMA IF NOT EXISTS reprise_server;

CREATE TABLE IF NOT EXISTS reprise_server.schema_version (
  version integer PRIMARY KEY,
  installed_at timestamptz NOT NULL DEFAULT now()
);

-- The action log, append-only. server_seq is the fetch order (assigned consecutively under
-- the upload lock); (hlc, id) is the canonical order patches are materialized in. hlc uses
-- the "C" collation so ORDER BY hlc is exactly Hlc.Order.
CREATE TABLE IF NOT EXISTS reprise_server.actions (
  id uuid PRIMARY KEY,
  server_seq bigint NOT NULL,
  tag text NOT NULL,
  args jsonb NOT NULL,
  client_id text NOT NULL,
  user_id text,
  hlc text COLLATE "C" NOT NULL,
  kind text NOT NULL CHECK (kind IN ('action', 'correction')),
  received_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT actions_server_seq_key UNIQUE (server_seq)
);
CREATE INDEX IF NOT EXISTS actions_canonical_order ON reprise_server.actions (hlc, id);

-- The row effects of each action, exactly as its author's triggers captured them.
CREATE TABLE IF NOT EXISTS reprise_server.patches (
  action_id uuid NOT NULL REFERENCES reprise_server.actions (id),
  seq integer NOT NULL,
  table_schema text NOT NULL,
  table_name text NOT NULL,
  row_id text NOT NULL,
  op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
  forward jsonb CHECK (forward IS NULL OR jsonb_typeof(forward) = 'object'),
  reverse jsonb CHECK (reverse IS NULL OR jsonb_typeof(reverse) = 'object'),
  audience_key text,
  PRIMARY KEY (action_id, seq)
);
CREATE INDEX IF NOT EXISTS patches_row ON reprise_server.patches (table_schema, table_name, row_id);

-- One row: the highest server sequence assigned.
CREATE TABLE IF NOT EXISTS reprise_server.state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  head bigint NOT NULL DEFAULT 0
);
INSERT INTO reprise_server.state (singleton, head) VALUES (true, 0) ON CONFLICT DO NOTHING;
`

/**
 * Version 2: each action keeps the audiences its author had when it was uploaded (null when
 * the server filters nothing), so a fetch can tell a caller whether it sees everything the
 * author saw (R-SRV-3, R-SYNC-3).
 *
 * @internal
 */
export const migrateServerSchemaV2 = `
ALTER TABLE reprise_server.actions ADD COLUMN IF NOT EXISTS author_audiences text[];
`

/**
 * Version 4: each client id belongs to the first user that uploaded under it (R-SRV-7), so a
 * user cannot upload its own actions under another user's client id. Existing logs bind each
 * client id to the author of its first stored action. Row-level security is forced: a caller
 * reads and binds only its own clients (policies in `rls.ts`); when `Rls.install` already set
 * up a role, it is granted the table here, since the service installs the schema on start.
 *
 * @internal
 */
export const migrateServerSchemaV4 = `
CREATE TABLE IF NOT EXISTS reprise_server.clients (
  client_id text PRIMARY KEY,
  user_id text NOT NULL,
  bound_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO reprise_server.clients (client_id, user_id)
SELECT DISTINCT ON (a.client_id) a.client_id, a.user_id FROM reprise_server.actions a
WHERE a.user_id IS NOT NULL ORDER BY a.client_id, a.server_seq
ON CONFLICT DO NOTHING;
ALTER TABLE reprise_server.clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.clients FORCE ROW LEVEL SECURITY;
DO $do$
DECLARE
  v_role text;
BEGIN
  SELECT role INTO v_role FROM reprise_server.rls_settings;
  IF v_role IS NOT NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
    EXECUTE format('GRANT SELECT, INSERT ON reprise_server.clients TO %I', v_role);
  END IF;
END
$do$;
`

/**
 * Version 5: each action records which audiences its patches are labeled with
 * (`patch_audiences`: the distinct non-null keys) and whether one of them is public
 * (`public_patch`: a patch with a null key), so the upload's head gate
 * (`reprise_server.visible_after`, R-SYNC-6) decides whether a caller may see an action from
 * its row alone. It reads every action stored since the uploader's basis (with 50 concurrent
 * clients, about a thousand per upload); a probe of each one's patches cost ~2 µs, most of the
 * gate and a third of an upload's database time. Patches never change once stored, so the
 * columns are filled when the action is stored, and here from the patches of an existing log.
 *
 * @internal
 */
export const migrateServerSchemaV5 = `
ALTER TABLE reprise_server.actions ADD COLUMN IF NOT EXISTS patch_audiences text[] NOT NULL DEFAULT '{}';
ALTER TABLE reprise_server.actions ADD COLUMN IF NOT EXISTS public_patch boolean NOT NULL DEFAULT false;
-- The log's policies are forced on its owner too: lifted for the backfill (every action, all
-- of its patches), in the installer's transaction.
ALTER TABLE reprise_server.actions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.patches NO FORCE ROW LEVEL SECURITY;
UPDATE reprise_server.actions a SET
  patch_audiences = coalesce(ARRAY(SELECT DISTINCT p.audience_key FROM reprise_server.patches p
    WHERE p.action_id = a.id AND p.audience_key IS NOT NULL ORDER BY p.audience_key), '{}'),
  public_patch = EXISTS (SELECT 1 FROM reprise_server.patches p WHERE p.action_id = a.id AND p.audience_key IS NULL);
ALTER TABLE reprise_server.actions FORCE ROW LEVEL SECURITY;
ALTER TABLE reprise_server.patches FORCE ROW LEVEL SECURITY;
`
