/**
 * Installs the server's tables (`reprise_server.*`: the action log, its patches, the head
 * sequence and, since version 4, which user each client id belongs to), the in-database
 * materializer and the log's row-level security (version 3: forced RLS on the log, its
 * policies, the default audience membership `reprise_server.audience_members` behind
 * `reprise_server.caller_audiences()`; see `Rls`; version 5: each action's patch audiences, for
 * the head gate), together with core's sync schema, whose
 * `reprise.apply_patches` applies patches and whose `reprise.tracked_tables` lists the
 * canonical tables.
 *
 * The server owner then creates the app's canonical tables and tracks them with core's
 * `Tracking.install(tables)`; their capture triggers refuse direct writes, so only
 * materialization (which runs with capture off) changes them.
 *
 * @example
 * ```ts
 * yield* ServerSchema.install()
 * yield* sql`CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY, title text, audience_key text)`
 * yield* Tracking.install(["notes"])
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { SyncSchema } from "@reprise/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { createMaterializeFunctions } from "./internal/sql/materialize.js"
import { createReadFunctions } from "./internal/sql/read.js"
import { createUploadFunction, createUploadProcedure } from "./internal/sql/upload.js"
import { createLogPolicies, createRlsFunctions, migrateServerSchemaV3 } from "./internal/sql/rls.js"
import {
  createServerSchemaV1,
  installLockKey,
  migrateServerSchemaV2,
  migrateServerSchemaV4,
  migrateServerSchemaV5,
  SERVER_SCHEMA_VERSION
} from "./internal/sql/schema.js"

/** The server schema version this build installs and understands. */
export const CURRENT_VERSION = SERVER_SCHEMA_VERSION

/**
 * The database holds a server schema newer than this build of Reprise understands; nothing was
 * changed.
 */
export class ServerSchemaTooNew extends Schema.TaggedError<ServerSchemaTooNew>()("ServerSchemaTooNew", {
  installed: Schema.Number,
  supported: Schema.Number
}) {
  override get message() {
    return `The database's Reprise server schema is version ${this.installed}, but this build supports up to ` +
      `${this.supported}. Upgrade @reprise/server.`
  }
}

/** Why `install` can fail: core's sync schema install errors, or a too-new server schema. */
export type InstallError = Effect.Effect.Error<ReturnType<typeof SyncSchema.install>> | ServerSchemaTooNew

const VersionRow = Schema.Struct({ version: Schema.NullOr(Schema.Number) })

/**
 * Installs (or confirms) the server schema and core's sync schema in ONE transaction, under a
 * transaction-scoped advisory lock so several server processes starting on one Postgres do not
 * race. Idempotent: installing again changes nothing.
 */
export const install: () => Effect.Effect<void, InstallError, SqlClient.SqlClient> = Effect.fn("ServerSchema.install")(
  function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${installLockKey}))`
      yield* SyncSchema.install()
      const installed = yield* installedVersion
      if (installed > SERVER_SCHEMA_VERSION) {
        return yield* new ServerSchemaTooNew({ installed, supported: SERVER_SCHEMA_VERSION })
      }
      if (installed < 1) {
        yield* sql.unsafe(createServerSchemaV1)
        yield* sql`INSERT INTO reprise_server.schema_version (version) VALUES (${1}) ON CONFLICT DO NOTHING`
      }
      if (installed < 2) {
        yield* sql.unsafe(migrateServerSchemaV2)
        yield* sql`INSERT INTO reprise_server.schema_version (version) VALUES (${2}) ON CONFLICT DO NOTHING`
      }
      if (installed < 3) {
        yield* sql.unsafe(migrateServerSchemaV3)
        yield* sql`INSERT INTO reprise_server.schema_version (version) VALUES (${3}) ON CONFLICT DO NOTHING`
      }
      if (installed < 4) {
        yield* sql.unsafe(migrateServerSchemaV4)
        yield* sql`INSERT INTO reprise_server.schema_version (version) VALUES (${4}) ON CONFLICT DO NOTHING`
      }
      if (installed < 5) {
        yield* sql.unsafe(migrateServerSchemaV5)
        yield* sql`INSERT INTO reprise_server.schema_version (version) VALUES (${5}) ON CONFLICT DO NOTHING`
      }
      // Functions and policies hold no data: every install replaces them with this build's, so
      // a database installed by an older build runs the current materialization and policies.
      // (reprise_server.caller_audiences, the membership an app may replace, is only created
      // by the version 3 migration.)
      yield* sql.unsafe(createRlsFunctions)
      yield* sql.unsafe(createMaterializeFunctions)
      yield* sql.unsafe(createUploadFunction)
      yield* sql.unsafe(createUploadProcedure)
      yield* sql.unsafe(createReadFunctions)
      yield* sql.unsafe(createLogPolicies)
    }))
  }
)

/** The installed server schema version; 0 when there is none. */
export const installedVersion: Effect.Effect<number, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [exists] = yield* sql<{ present: boolean }>`
    SELECT to_regclass('reprise_server.schema_version') IS NOT NULL AS present`
  if (exists?.present !== true) return 0
  const rows = yield* sql`SELECT max(version) AS version FROM reprise_server.schema_version`
  const [row] = yield* Effect.orDie(Schema.decodeUnknown(Schema.Array(VersionRow))(rows))
  return row?.version ?? 0
})
