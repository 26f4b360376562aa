/**
 * Row-level security for the sync server (R-SRV-3): the database, not only the service's
 * queries, decides what each caller may read from the action log and write to the app's tables.
 *
 * **The role.** `install` (the CLI's `migrate` runs it) creates the role the service switches to
 * for every request (`reprise_server_user` by default, NOLOGIN): it owns nothing, is no
 * superuser and has no BYPASSRLS, so every policy applies to it; it is granted what the service
 * needs (the log, the membership relation, the tracked tables) and the login role may switch to
 * it. `SyncService` finds it recorded in the database and runs each request in a transaction
 * with `SET LOCAL ROLE` and, transaction-locally, `reprise.user_id`, Supabase-style
 * `request.jwt.claims` (JSON) and the caller's visibility (`reprise.audiences`,
 * `reprise.see_all`).
 *
 * **The log's policies** (forced, so they bind the tables' owner too; a superuser still bypasses
 * them). A caller reads the actions it wrote, the actions with a patch in one of its audiences
 * or public (null key), the corrections for one of its audiences (or public) and the actions a
 * correction it may see restates; of the patches, only those in its audiences or public. It
 * stores only actions authored by itself, and patches labeled public or with one of its
 * audiences.
 *
 * **Membership** lives in SQL: `reprise_server.caller_audiences()` returns the caller's
 * audiences. By default it reads the transaction's `reprise.audiences` when the service's
 * in-code `audiences` option gave it, else `reprise_server.audience_members (user_id,
 * audience_key)` for `reprise.user_id` (`addMember` / `removeMember` fill it). An app may
 * replace the function with its own (`CREATE OR REPLACE FUNCTION
 * reprise_server.caller_audiences() RETURNS text[] ...`, e.g. over its memberships table or
 * `request.jwt.claims`); installs never overwrite it.
 *
 * **The app's tables.** `audiencePolicies` gives a tracked table policies by its audience column
 * or expression: a caller reads and writes its audiences' rows and public ones. An app may
 * write its own policies instead (read `reprise.user_id`, `request.jwt.claims` or
 * `reprise_server.caller_audiences()`); the server honours them, since each action's patches are
 * materialized under its author's identity: a write they refuse rejects the upload as
 * `UploadRejected` `Forbidden`, naming the table and row, and nothing is written. To tell a
 * refused UPDATE or DELETE (which matches no row under RLS) from one of a row that is gone, and
 * to check each patch's audience key against its row, the server reads rows as the schema's
 * owner: a superuser, or a role a table's policies let read it (`audiencePolicies` adds that
 * policy; with its own policies an app adds one for the owner, else a refused UPDATE or DELETE
 * is a no-op, not a rejection).
 *
 * **No filtering** is `SyncService`'s `audiences: "everyone"` (`reprise.see_all = on`), the
 * default only where the service has no role (a database `install` never ran on, such as an
 * app's in-process PGlite server or tests). The deployable default is secure: after `install`
 * the service runs as the role and filters by `caller_audiences()`.
 *
 * The settings are the caller's identity as the service states it; they bind the service's
 * queries, not arbitrary SQL run as the role (which may set them), so the role is the service's
 * alone.
 *
 * @example
 * ```ts
 * yield* Rls.install()                                  // role, grants, recorded for SyncService
 * yield* Rls.audiencePolicies({ table: "notes" })       // notes by its tracked audience column
 * yield* Rls.addMember("alice", "team")
 * const ServerLive = SyncService.layer()                // runs as reprise_server_user
 * ```
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { installLockKey } from "./internal/sql/schema.js"
import { createRoleInstaller } from "./internal/sql/rls.js"
import * as ServerSchema from "./ServerSchema.js"

/** The role `install` creates when none is named. */
export const DEFAULT_ROLE = "reprise_server_user"

/** Options of `install`. */
export interface InstallOptions {
  /** The service's role; `DEFAULT_ROLE` by default. Created when missing. */
  readonly role?: string
  /** Create the role with LOGIN (the service may then connect as it); NOLOGIN by default. */
  readonly login?: boolean
  /**
   * The login role that may switch to it (`GRANT role TO ...`): the current session's user by
   * default; null grants it to nobody (a superuser may switch anyway).
   */
  readonly grantTo?: string | null
}

/** What went wrong setting up row-level security; nothing was changed. */
export class RlsSetupError extends Schema.TaggedError<RlsSetupError>()("RlsSetupError", {
  problem: Schema.Literal("InvalidName", "UnsafeRole", "TableNotTracked"),
  detail: Schema.String
}) {
  override get message() {
    return `Row-level security setup failed (${this.problem}): ${this.detail}`
  }
}

const validName = (what: string, name: string): RlsSetupError | undefined =>
  name.length === 0 || name.length > 63 || name.includes("\u0000")
    ? new RlsSetupError({
      problem: "InvalidName",
      detail: `${what} ${JSON.stringify(name)} is not a Postgres identifier (1 to 63 characters, no NUL)`
    })
    : undefined

const decodeProblem = Schema.decodeUnknown(Schema.Array(Schema.Struct({ problem: Schema.NullOr(Schema.String) })))
const decodeUser = Schema.decodeUnknown(Schema.Array(Schema.Struct({ name: Schema.String })))

/**
 * Installs the server schema (`ServerSchema.install`) and sets up the service's role in ONE
 * transaction: creates it when missing, refuses one that is a superuser, has BYPASSRLS or owns
 * anything (`UnsafeRole`), grants it the log, the membership relation and every tracked table
 * (run it again after tracking more tables, or use `audiencePolicies`), lets `grantTo` switch
 * to it, and records it for `SyncService`. Idempotent. Roles are cluster-wide: every database
 * of the cluster may share one.
 */
export const install: (
  options?: InstallOptions
) => Effect.Effect<{ readonly role: string }, RlsSetupError | ServerSchema.InstallError | SqlError, SqlClient.SqlClient> =
  Effect.fn("Rls.install")(function*(options: InstallOptions = {}) {
    const sql = yield* SqlClient.SqlClient
    const role = options.role ?? DEFAULT_ROLE
    const bad = validName("the role name", role) ??
      (typeof options.grantTo === "string" ? validName("grantTo", options.grantTo) : undefined)
    if (bad !== undefined) return yield* bad
    yield* ServerSchema.install()
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${installLockKey}))`
      const grantTo = options.grantTo === undefined
        ? (yield* Effect.orDie(decodeUser(yield* sql`SELECT session_user::text AS name`)))[0]?.name ?? null
        : options.grantTo
      yield* sql.unsafe(createRoleInstaller)
      const [row] = yield* Effect.orDie(decodeProblem(
        yield* sql`SELECT reprise_server.install_role(${role}, ${options.login === true}, ${grantTo}) AS problem`
      ))
      if (row?.problem != null) return yield* new RlsSetupError({ problem: "UnsafeRole", detail: row.problem })
      return { role }
    }))
  })

/** Options of `audiencePolicies`. */
export interface AudiencePolicyOptions {
  /** The tracked table, exactly as created. */
  readonly table: string
  /** Its schema; `public` by default. */
  readonly schema?: string
  /**
   * The column holding each row's audience key; by default the audience the table is tracked
   * with (its `Tracking.install` config).
   */
  readonly audienceColumn?: string
  /** Instead of a column: a SQL expression over the row alias `r`, as in `Tracking.install`. */
  readonly audienceExpression?: string
  /** The role granted the table's privileges; by default the one `install` recorded. */
  readonly role?: string
}

const decodeTracked = Schema.decodeUnknown(Schema.Array(Schema.Struct({
  audience: Schema.String,
  role: Schema.NullOr(Schema.String)
})))

/**
 * Gives a tracked table audience-based policies, in ONE transaction: row-level security enabled
 * and forced, one policy (`reprise_audience`, every command) that lets a caller read and write
 * a row when its audience key is public (null) or one of `reprise_server.caller_audiences()`
 * (or when nothing is filtered), a read policy for the installing role (the server checks rows
 * as it: see the module's doc), and the role's privileges on the table. Idempotent: installing
 * again replaces them.
 */
export const audiencePolicies: (
  options: AudiencePolicyOptions
) => Effect.Effect<void, RlsSetupError | SqlError, SqlClient.SqlClient> = Effect.fn("Rls.audiencePolicies")(
  function*(options: AudiencePolicyOptions) {
    const sql = yield* SqlClient.SqlClient
    const schema = options.schema ?? "public"
    const label = JSON.stringify(`${schema}.${options.table}`)
    if (options.audienceColumn !== undefined && options.audienceExpression !== undefined) {
      return yield* new RlsSetupError({ problem: "InvalidName", detail: "give audienceColumn or audienceExpression, not both" })
    }
    if (options.audienceExpression?.includes(";") === true) {
      return yield* new RlsSetupError({ problem: "InvalidName", detail: "the audience expression must be one SQL expression (no ';')" })
    }
    yield* sql.withTransaction(Effect.gen(function*() {
      const [tracked] = yield* Effect.orDie(decodeTracked(yield* sql`
        SELECT t.audience, (SELECT s.role FROM reprise_server.rls_settings s) AS role
        FROM reprise.tracked_tables t WHERE t.table_schema = ${schema} AND t.table_name = ${options.table}`))
      if (tracked === undefined) {
        return yield* new RlsSetupError({
          problem: "TableNotTracked",
          detail: `${label} is not a tracked table of this database; create it and run Tracking.install on it first ` +
            `(after ServerSchema.install)`
        })
      }
      const audience = options.audienceColumn !== undefined
        ? `column:${options.audienceColumn}`
        : options.audienceExpression !== undefined
        ? `expression:${options.audienceExpression}`
        : tracked.audience
      yield* sql`SELECT reprise_server.install_audience_policies(${schema}, ${options.table},
        reprise_server.audience_sql(${audience}), ${options.role ?? tracked.role})`
    }))
  }
)

/** Adds `userId` to the audience `audienceKey` in the default membership relation. Idempotent. */
export const addMember = (userId: string, audienceKey: string): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.asVoid(sql`INSERT INTO reprise_server.audience_members (user_id, audience_key)
      VALUES (${userId}, ${audienceKey}) ON CONFLICT DO NOTHING`))

/** Removes `userId` from the audience `audienceKey` in the default membership relation. */
export const removeMember = (userId: string, audienceKey: string): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.asVoid(sql`DELETE FROM reprise_server.audience_members
      WHERE user_id = ${userId} AND audience_key = ${audienceKey}`))
