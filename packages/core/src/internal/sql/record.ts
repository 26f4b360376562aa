/**
 * The statements of the action executor: this replica's state, and the record statement that
 * opens every action (points the capture triggers at it, resets its patch sequence, inserts its
 * record). The record statement's text is written once, here, and sent in three forms: prepared
 * in the session (`EXECUTE`), inlined as literals (one simple-protocol exchange), or with
 * parameters (for a value no literal can hold).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"
import * as SyncProtocol from "../../SyncProtocol.js"
import { literal } from "./literal.js"

/** This replica's client id and the newest HLC it has issued or received. @internal */
export const clientState = (sql: SqlClient.SqlClient) =>
  sql`SELECT client_id, (SELECT max(hlc) FROM reprise.action_records) AS last_hlc FROM reprise.client_state`

/** A record's values, in the record statement's parameter order. @internal */
export type RecordValues = readonly [
  actionId: string,
  tag: string,
  args: string,
  clientId: string,
  userId: string | null,
  hlc: string
]

/** The session-level prepared form of the record statement (versioned with its text). @internal */
export const RECORD_STATEMENT = "reprise_record_v1"

type RecordExpressions = readonly [string, string, string, string, string, string]

/** The built-in actions whose captured patches are not checked against the protocol's limits. */
const unchecked = `${literal(SyncProtocol.CorrectionTag)}, ${literal(SyncProtocol.AdoptionTag)}`

/**
 * The record statement over six SQL expressions (placeholders or literals), in `RecordValues`
 * order. It also points the capture's size check at an app action (`reprise.check_limits`, see
 * `capture.ts`); the built-in correction and adoption capture nothing the server gets (a
 * correction's patches are stored apart, an adoption is never uploaded), so they are not.
 */
const recordText = (values: RecordExpressions): string => {
  const [actionId, tag, args, clientId, userId, hlc] = values
  return `
      WITH ctx AS (
        SELECT set_config('reprise.action_id', ${actionId}, true) AS a,
               set_config('reprise.patch_seq', '0', true) AS b,
               set_config('reprise.check_limits', CASE WHEN ${tag} IN (${unchecked}) THEN '' ELSE ${actionId} END, true) AS c
      )
      INSERT INTO reprise.action_records (id, tag, args, client_id, user_id, hlc)
      SELECT ${actionId}::uuid, ${tag}, ${args}::jsonb, ${clientId}, ${userId}, ${hlc} FROM ctx`
}

const placeholders = ["$1", "$2", "$3", "$4", "$5", "$6"] as const

/**
 * Whether this session already has the prepared record statement (a row), and whether it is
 * this build's (`current`: one an earlier build prepared in a session it shared does not point
 * the size check at the action). @internal
 */
export const recordPrepared = (sql: SqlClient.SqlClient) =>
  sql.unsafe<{ current: boolean }>(
    `SELECT statement LIKE '%reprise.check_limits%' AS current FROM pg_prepared_statements WHERE name = '${RECORD_STATEMENT}'`
  )

/** Drops this session's prepared record statement (an earlier build's). @internal */
export const deallocateRecord = (sql: SqlClient.SqlClient) => sql.unsafe(`DEALLOCATE ${RECORD_STATEMENT}`)

/** Prepares the record statement in this session. @internal */
export const prepareRecord = (sql: SqlClient.SqlClient) =>
  sql.unsafe(`PREPARE ${RECORD_STATEMENT} (text, text, text, text, text, text) AS ${recordText(placeholders)}`)

/** The record statement with parameters: for values a literal cannot hold (a NUL). @internal */
export const recordWithParameters = (sql: SqlClient.SqlClient, values: RecordValues): Effect.Effect<unknown, SqlError> =>
  sql.unsafe(recordText(placeholders), values)

/**
 * The record statement as one parameterless text, its values inlined as literals: the
 * statement itself, or with `prepared` an `EXECUTE` of the session's prepared form. No value
 * may hold a NUL (`hasNul`). @internal
 */
export const recordLiteral = (values: RecordValues, prepared: boolean): string => {
  const [actionId, tag, args, clientId, userId, hlc] = values
  const literals: RecordExpressions = [
    literal(actionId),
    literal(tag),
    literal(args),
    literal(clientId),
    userId === null ? "NULL" : literal(userId),
    literal(hlc)
  ]
  return prepared ? `EXECUTE ${RECORD_STATEMENT}(${literals.join(", ")})` : recordText(literals)
}

/** Starts the action's patch sequence again (development mode's second run). @internal */
export const restartPatchSequence = "SELECT set_config('reprise.patch_seq', '0', true)"

/** Points the capture at no action, so later writes in a caller's transaction are not taken for its. @internal */
export const clearAction = "SELECT set_config('reprise.action_id', '', true)"
