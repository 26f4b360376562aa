/**
 * Installs and upgrades the sync schema (`reprise.*`: action records, patch rows, client
 * state, tracked tables) in a client database.
 *
 * Installation is idempotent and versioned: a `reprise.schema_version` row records what is
 * installed, and a database of an earlier version is upgraded in place, step by step in the same
 * transaction, keeping its data (version 4 adds the quarantine, R-REC-3); a database written by
 * a newer Reprise is refused rather than silently downgraded.
 *
 * @example
 * ```ts
 * const { clientId } = yield* SyncSchema.install()
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Hlc from "./Hlc.js"
import { createApplyFunctions } from "./internal/sql/apply.js"
import { createCorrectionFunctions } from "./internal/sql/correctionFunctions.js"
import * as TrackingSql from "./internal/sql/tracking.js"
import { CAPTURE_VERSION, captureTriggerSql } from "./internal/sql/capture.js"
import { createSchemaV1, lockKey, migrateSchemaV2, migrateSchemaV3, migrateSchemaV4, SCHEMA_VERSION } from "./internal/sql/schema.js"

/** The schema version this build of Reprise installs and understands. */
export const CURRENT_VERSION = SCHEMA_VERSION

/**
 * The database holds a sync schema newer than this build of Reprise understands.
 */
export class SchemaVersionTooNew extends Schema.TaggedError<SchemaVersionTooNew>()("SchemaVersionTooNew", {
  installed: Schema.Number,
  supported: Schema.Number
}) {
  override get message() {
    return `The database's Reprise sync schema is version ${this.installed}, but this build supports up to ` +
      `${this.supported}. Upgrade @reprise/core (or open a fresh database).`
  }
}

/**
 * The client id given to `install` cannot serve as an HLC node id.
 */
export class InvalidClientId extends Schema.TaggedError<InvalidClientId>()("InvalidClientId", {
  clientId: Schema.String
}) {
  override get message() {
    return `Invalid client id ${JSON.stringify(this.clientId)}: use 1 to 64 of A-Z a-z 0-9 _ - ` +
      `(it doubles as the replica's HLC node id), or omit it to get a random UUID.`
  }
}

/** What `install` reports. */
export interface Installed {
  /** This replica's client id (generated on first install, then kept). */
  readonly clientId: string
  readonly version: number
}

/**
 * Installs the sync schema if needed (in one transaction, under a transaction-scoped advisory
 * lock so concurrent installers on one Postgres do not race) and returns the replica's
 * client id. `clientId` is used only when the database has none yet.
 */
export const install: (
  options?: { readonly clientId?: string }
) => Effect.Effect<Installed, SqlError | SchemaVersionTooNew | InvalidClientId, SqlClient.SqlClient> = Effect.fn(
  "SyncSchema.install"
)(
  function*(options?: { readonly clientId?: string }) {
    const sql = yield* SqlClient.SqlClient
    const given = options?.clientId
    if (given !== undefined && !Schema.is(Hlc.NodeId)(given)) {
      return yield* new InvalidClientId({ clientId: given })
    }
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${lockKey}))`
      const installed = yield* installedVersion(sql)
      if (installed > SCHEMA_VERSION) {
        return yield* new SchemaVersionTooNew({ installed, supported: SCHEMA_VERSION })
      }
      if (installed < 1) {
        yield* sql.unsafe(createSchemaV1)
        yield* sql`INSERT INTO reprise.schema_version (version) VALUES (${1}) ON CONFLICT DO NOTHING`
      }
      if (installed < 2) {
        yield* sql.unsafe(migrateSchemaV2)
        yield* sql`INSERT INTO reprise.schema_version (version) VALUES (${2}) ON CONFLICT DO NOTHING`
      }
      if (installed < 3) {
        yield* sql.unsafe(migrateSchemaV3)
        yield* sql`INSERT INTO reprise.schema_version (version) VALUES (${3}) ON CONFLICT DO NOTHING`
      }
      if (installed < 4) {
        yield* sql.unsafe(migrateSchemaV4)
        yield* sql`INSERT INTO reprise.schema_version (version) VALUES (${4}) ON CONFLICT DO NOTHING`
      }
      // Functions hold no data: every install replaces them with this build's.
      yield* sql.unsafe(createApplyFunctions)
      yield* sql.unsafe(createCorrectionFunctions)
      yield* upgradeCaptures(sql)
      const candidate = given ?? crypto.randomUUID()
      yield* sql`INSERT INTO reprise.client_state (client_id) VALUES (${candidate}) ON CONFLICT DO NOTHING`
      const [state] = yield* sql<{ client_id: string }>`SELECT client_id FROM reprise.client_state`
      return { clientId: state!.client_id, version: SCHEMA_VERSION }
    }))
  }
)

/**
 * Replaces the capture functions an earlier build installed (`Tracking.install` writes them per
 * table, and an app may not run it again at every start) with this build's, which check an
 * action's patches against the protocol's limits as they capture them: without it, a client
 * upgraded in place would capture unchecked. Built from what `Tracking.install` recorded (the
 * audience as a column or an expression it validated then); a table dropped since is left.
 */
const upgradeCaptures = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    for (const table of yield* TrackingSql.staleCaptures(sql, CAPTURE_VERSION)) {
      const audienceSql = table.audienceColumn ??
        (table.audience.startsWith("expression:") ? `(${table.audience.slice("expression:".length)})` : undefined)
      // Not one Tracking.install records: leave it as it is.
      if (audienceSql === undefined) continue
      const label = table.schema === "public" ? table.name : `${table.schema}.${table.name}`
      const [names] = yield* TrackingSql.captureNames(sql, table.schema, table.name, label)
      yield* sql.unsafe(captureTriggerSql({
        qualifiedTable: names!.qualified,
        functionName: names!.fn,
        audienceSql,
        tableLiteral: names!.literal
      }))
    }
  })

/** The installed schema version, 0 when there is none. */
export const installedVersion = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError> =>
  Effect.gen(function*() {
    const [exists] = yield* sql<{ present: boolean }>`
      SELECT to_regclass('reprise.schema_version') IS NOT NULL AS present`
    if (exists?.present !== true) return 0
    const [row] = yield* sql<{ version: number | null }>`SELECT max(version) AS version FROM reprise.schema_version`
    return row?.version ?? 0
  })
