/**
 * The client-side sync schema, version 1 and the migrations after it (Postgres dialect; runs on
 * PGlite and Postgres).
 *
 * Everything lives in the `reprise` schema so it never collides with the app's tables. Every
 * statement is idempotent (`IF NOT EXISTS`, `CREATE OR REPLACE`), so installing twice, or
 * after a crash mid-install inside its transaction, changes nothing.
 *
 * @internal
 */
export const SCHEMA_VERSION = 4

/** @internal */
export const lockKey = "reprise.schema"

/** @internal */
export const createSchemaV1 = `
CREATE SCHEMA IF NOT EXISTS reprise;

CREATE TABLE IF NOT EXISTS reprise.schema_version (
  version integer PRIMARY KEY,
  installed_at timestamptz NOT NULL DEFAULT now()
);

-- One row per action (or correction), append-only. hlc is the encoded HLC: text in the "C"
-- collation so ORDER BY hlc is exactly the TypeScript Hlc.Order.
CREATE TABLE IF NOT EXISTS reprise.action_records (
  id uuid PRIMARY KEY,
  tag text NOT NULL,
  args jsonb NOT NULL,
  client_id text NOT NULL,
  user_id text,
  hlc text COLLATE "C" NOT NULL,
  kind text NOT NULL DEFAULT 'action' CHECK (kind IN ('action', 'correction')),
  server_seq bigint UNIQUE,
  synced boolean NOT NULL DEFAULT false,
  -- false for a received action not yet applied to this replica's tables
  applied boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Replay order (HLC total order, then id) and fetch order (server_seq, via its UNIQUE index).
CREATE INDEX IF NOT EXISTS action_records_replay_order ON reprise.action_records (hlc, id);
CREATE INDEX IF NOT EXISTS action_records_pending ON reprise.action_records (hlc) WHERE NOT synced;
CREATE INDEX IF NOT EXISTS action_records_unapplied ON reprise.action_records (hlc, id) WHERE NOT applied;

-- The row effects of each action, in the order its writes happened. action_id always names a
-- record: the capture trigger writes it inside the transaction that inserted that record, and
-- records are never deleted. It is not declared as a foreign key because the check would run
-- a query per captured row, on the write path of every action.
CREATE TABLE IF NOT EXISTS reprise.action_patches (
  action_id uuid NOT NULL,
  seq integer NOT NULL,
  table_schema text NOT NULL,
  table_name text NOT NULL,
  row_id text NOT NULL,
  op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
  forward jsonb,
  reverse jsonb,
  audience_key text,
  PRIMARY KEY (action_id, seq)
);
CREATE INDEX IF NOT EXISTS action_patches_row ON reprise.action_patches (table_schema, table_name, row_id);

-- The patches the server holds for each synced action (what its author uploaded), kept apart
-- from this replica's own replay of it, to detect when the two differ (corrections, R-SYNC-3).
CREATE TABLE IF NOT EXISTS reprise.known_patches (
  action_id uuid NOT NULL,
  seq integer NOT NULL,
  table_schema text NOT NULL,
  table_name text NOT NULL,
  row_id text NOT NULL,
  op text NOT NULL,
  forward jsonb,
  reverse jsonb,
  audience_key text,
  PRIMARY KEY (action_id, seq)
);
CREATE INDEX IF NOT EXISTS known_patches_row ON reprise.known_patches (table_schema, table_name, row_id);

-- This replica: its client id and its sync watermark. Its clock is not stored here: it is
-- restored from max(action_records.hlc), which covers what it issued and what it received,
-- so executing an action costs no extra UPDATE.
CREATE TABLE IF NOT EXISTS reprise.client_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  client_id text NOT NULL,
  last_server_seq bigint NOT NULL DEFAULT 0
);

-- Tables whose writes are captured, with what apply needs to address their rows.
CREATE TABLE IF NOT EXISTS reprise.tracked_tables (
  table_schema text NOT NULL,
  table_name text NOT NULL,
  id_type text NOT NULL,
  audience text NOT NULL,
  PRIMARY KEY (table_schema, table_name)
);
`

/**
 * Version 2: private data (R-SRV-3 with R-SYNC-3). Each record remembers whether this replica's
 * replay of it stands (`authoritative`: this user's records, corrections, and actions of
 * `"replica"` authority; otherwise the server's rows are imposed over the replay), the replica
 * keeps the audiences the server says it may see (null: nothing is filtered), and a
 * record may be an `adoption`: a local-only record that sets rows this replica may not correct
 * to the server's images.
 *
 * @internal
 */
export const migrateSchemaV2 = `
ALTER TABLE reprise.action_records ADD COLUMN IF NOT EXISTS authoritative boolean NOT NULL DEFAULT true;
ALTER TABLE reprise.action_records DROP CONSTRAINT IF EXISTS action_records_kind_check;
ALTER TABLE reprise.action_records
  ADD CONSTRAINT action_records_kind_check CHECK (kind IN ('action', 'correction', 'adoption'));
ALTER TABLE reprise.client_state ADD COLUMN IF NOT EXISTS audiences text[];
-- Adoptions are few; a rollback finds those it undoes through this index.
CREATE INDEX IF NOT EXISTS action_records_adoptions ON reprise.action_records (hlc, id) WHERE kind = 'adoption';
DROP FUNCTION IF EXISTS reprise.expected_image(text, text, text);
DROP FUNCTION IF EXISTS reprise.server_image(text, text, text);
`

/**
 * Version 3: the divergence check runs once a pull has the whole log (R-SYNC-10), so what it
 * must look at survives between a pull's pages (each its own transaction) and a crash between
 * them: replayed actions are marked `unchecked`, and the rows of adoptions a rollback undid are
 * queued in `unchecked_rows`.
 *
 * @internal
 */
export const migrateSchemaV3 = `
ALTER TABLE reprise.action_records ADD COLUMN IF NOT EXISTS unchecked boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS action_records_unchecked ON reprise.action_records (id) WHERE unchecked;
CREATE TABLE IF NOT EXISTS reprise.unchecked_rows (
  table_schema text NOT NULL,
  table_name text NOT NULL,
  row_id text NOT NULL,
  PRIMARY KEY (table_schema, table_name, row_id)
);
`

/**
 * Version 4: the quarantine (R-REC-3). A pending action the server rejects for permission or
 * validity leaves `action_records` for `quarantined_actions`, with the rejection's reason and
 * detail and when it happened: every loader of the engine (pending batch, planner entries,
 * rollback, replay, divergence check) reads `action_records` only, so a quarantined action is
 * never uploaded, replayed or counted as pending, and it is kept until the app discards it or
 * retries it (which moves it back). `known_patches`: a quarantined correction's server-side
 * patches, which a retry restores (an action's own patches are captured again when it is
 * replayed). An upgraded database keeps its data: this only adds a table.
 *
 * @internal
 */
export const migrateSchemaV4 = `
CREATE TABLE IF NOT EXISTS reprise.quarantined_actions (
  id uuid PRIMARY KEY,
  tag text NOT NULL,
  args jsonb NOT NULL,
  client_id text NOT NULL,
  user_id text,
  hlc text COLLATE "C" NOT NULL,
  kind text NOT NULL CHECK (kind IN ('action', 'correction')),
  known_patches jsonb NOT NULL DEFAULT '[]'::jsonb,
  reason text NOT NULL,
  detail text NOT NULL,
  quarantined_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantined_actions_order ON reprise.quarantined_actions (hlc, id);
`
