/**
 * The failures `reprise-server` reports as one line on stderr (no stack trace) before exiting
 * with a non-zero code. Each message says what went wrong and what to do.
 */
import * as Data from "effect/Data"

/** The port is taken by another process. */
export class PortInUse extends Data.TaggedError("PortInUse")<{ readonly host: string; readonly port: number }> {
  override get message() {
    return `cannot listen on ${this.host}:${this.port}: the port is already in use. Stop what uses it, or ` +
      `choose another with --port (or REPRISE_PORT).`
  }
}

/** The server could not listen for another reason (address not available, permission). */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly host: string
  readonly port: number
  readonly reason: string
}> {
  override get message() {
    return `cannot listen on ${this.host}:${this.port}: ${this.reason}. Check --host and --port.`
  }
}

/** The database server did not accept a connection. `url` is redacted. */
export class DatabaseUnreachable extends Data.TaggedError("DatabaseUnreachable")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() {
    return `cannot connect to the database at ${this.url}: ${this.reason}. Check that it is running and the ` +
      `URL is right, or unset DATABASE_URL to use the embedded database.`
  }
}

/** Installing the schema (or the RLS policies) failed. */
export class MigrationFailed extends Data.TaggedError("MigrationFailed")<{ readonly url: string; readonly reason: string }> {
  override get message() {
    return `installing the Reprise schema in ${this.url} failed: ${this.reason}`
  }
}

/** `serve` outside dev mode was given no way to verify tokens. */
export class NoJwtConfig extends Data.TaggedError("NoJwtConfig") {
  override get message() {
    return "no JWT configuration: give --jwt-secret (REPRISE_JWT_SECRET) or --jwks-url (REPRISE_JWKS_URL), " +
      "or --dev for local development (unsafe)."
  }
}

/** Options that cannot be used together, or a value the option parser could not check. */
export class BadOptions extends Data.TaggedError("BadOptions")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** The dev secret file could not be read or written. */
export class DevSecretFailed extends Data.TaggedError("DevSecretFailed")<{ readonly file: string; readonly reason: string }> {
  override get message() {
    return `the dev-mode secret ${this.file}: ${this.reason}`
  }
}

/** Every failure the commands report as one line. */
export type CliFailure =
  | PortInUse
  | ListenFailed
  | DatabaseUnreachable
  | MigrationFailed
  | NoJwtConfig
  | BadOptions
  | DevSecretFailed
