/**
 * The database a command runs on: the server a `DATABASE_URL` names, or the embedded one
 * (R-SRV-6) started in `<data-dir>/postgres` and stopped when the command's scope closes.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import * as EmbeddedDatabase from "../EmbeddedDatabase.js"
import { BadOptions, DatabaseUnreachable } from "./errors.js"

/** Where the database is and how to show it. */
export interface Database {
  readonly url: Redacted.Redacted<string>
  /** The URL with its password replaced by `***`. */
  readonly display: string
  readonly embedded: boolean
}

/** What picks the database. */
export interface DatabaseOptions {
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly dataDir: string
  readonly reset: boolean
}

/**
 * The database to use; an embedded one is started (and stopped with the scope), its URL printed
 * with the password redacted.
 */
export const acquire = (
  options: DatabaseOptions
): Effect.Effect<Database, BadOptions | EmbeddedDatabase.EmbeddedDatabaseError, Scope.Scope> =>
  Option.match(options.databaseUrl, {
    onSome: (url) => fromUrl(url, options.reset),
    onNone: () =>
      Effect.gen(function*() {
        const running = yield* EmbeddedDatabase.start({
          dataDir: options.dataDir,
          reset: options.reset,
          log: (line) => Console.error(`reprise-server: ${line}`)
        })
        const display = EmbeddedDatabase.redactUrl(Redacted.value(running.url))
        yield* Console.error(
          `reprise-server: embedded PostgreSQL at ${display} (data in ${path.resolve(options.dataDir, "postgres")}` +
            `${running.created ? ", new" : ""}; set DATABASE_URL to use your own server)`
        )
        return { url: running.url, display, embedded: true }
      })
  })

const fromUrl = (url: Redacted.Redacted<string>, reset: boolean): Effect.Effect<Database, BadOptions> => {
  const text = Redacted.value(url)
  let parsed: URL | undefined
  try {
    parsed = new URL(text)
  } catch {
    parsed = undefined
  }
  if (parsed === undefined || (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")) {
    return Effect.fail(
      new BadOptions({
        reason: `--database-url (or DATABASE_URL) must be a postgres:// URL, got ${
          parsed === undefined ? "something that is not a URL" : EmbeddedDatabase.redactUrl(text)
        }`
      })
    )
  }
  if (reset) {
    return Effect.fail(
      new BadOptions({
        reason: "--reset wipes the embedded database only; it cannot be used with --database-url (DATABASE_URL)"
      })
    )
  }
  return Effect.succeed({ url, display: EmbeddedDatabase.redactUrl(text), embedded: false })
}

/** Options of the connection pool. */
export interface PoolOptions {
  readonly maxConnections?: number
}

/**
 * `PgClient` and `SqlClient` connected to `database`; a server that does not accept the
 * connection (within 10 s) fails as `DatabaseUnreachable`, its URL redacted.
 */
export const layer = (
  database: Database,
  options: PoolOptions = {}
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, DatabaseUnreachable> =>
  PgClient.layer({
    url: database.url,
    connectTimeout: Duration.seconds(10),
    maxConnections: options.maxConnections ?? 20,
    applicationName: "reprise-server"
  }).pipe(
    Layer.mapError((error) => new DatabaseUnreachable({ url: database.display, reason: reasonOf(error.cause ?? error) }))
  )

/** A cause as one line, without the password of any URL it might quote. */
const reasonOf = (cause: unknown): string => {
  let text = cause instanceof Error ? cause.message : String(cause)
  // Node reports a refused connection to a host with several addresses as an AggregateError
  // with an empty message; its parts say what happened.
  if (text === "" && cause instanceof AggregateError) text = cause.errors.map((e) => reasonOf(e)).join("; ")
  if (text === "" && cause instanceof Error) text = (cause as NodeJS.ErrnoException).code ?? cause.name
  const line = text.split("\n")[0] ?? text
  return line.replaceAll(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/g, "$1***@")
}
