/**
 * The todo app's server: `@reprise/server` started through its API with the app's schema on
 * its database. `reprise-server serve` installs only Reprise's own schema (the app's tables are
 * the app's to create, docs/server.md), so this module does what an app's deploy step does, in
 * one place:
 *
 * 1. starts the embedded Postgres in `<dataDir>/postgres` (or uses `databaseUrl`);
 * 2. installs the server schema and the role requests run as (`Rls.install`);
 * 3. creates the app's tables from the same migrations the clients run (`src/schema.ts`),
 *    recorded in `todo_app.migrations` so each step runs once;
 * 4. tracks them (`Tracking.install`, audience column `audience_key`) and gives them audience
 *    policies (`Rls.audiencePolicies`): a user reads and writes a list's rows only when the
 *    membership relation (`reprise_server.audience_members`) puts them in `list:<id>`;
 * 5. seeds the demo's memberships (alice: both shared lists and her private one; bob: the
 *    shared lists);
 * 6. serves the sync protocol (`SyncRpcServer`, HTTP and WebSocket, realtime pushes) with dev
 *    authentication: HS256 tokens signed with `<dataDir>/dev-secret`, the same file
 *    `reprise-server token <user> --data-dir <dataDir>` signs with.
 *
 * DEV ONLY: anyone who can ask `tokenFor` gets a token for any demo user.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Tracking } from "@reprise/core"
import { Auth, EmbeddedDatabase, Realtime, Rls, type ServerSchema, SyncRpcServer, SyncService } from "@reprise/server"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { audienceOf, demoLists, migrations, tables, type User, users } from "../src/schema.js"

/** How to start the todo server. */
export interface Options {
  /** Where the embedded Postgres and the dev secret live (`examples/todo/.reprise` in the demo). */
  readonly dataDir: string
  /** The port (0: any free one). */
  readonly port: number
  /** The interface to listen on; `127.0.0.1` by default. */
  readonly host?: string
  /** Wipe the embedded database first. */
  readonly reset?: boolean
  /** Use this Postgres instead of the embedded one. */
  readonly databaseUrl?: string
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void
}

/** A running todo server. */
export interface Running {
  /** `http://host:port`. */
  readonly url: string
  /** `ws://host:port/rpc/ws`. */
  readonly webSocketUrl: string
  /** The database, its password redacted. */
  readonly database: string
  /** A dev token for a demo user (UNSAFE outside development). */
  readonly tokenFor: (user: User) => Promise<string>
  /** Stops the server and the embedded Postgres; resolves when both are down. */
  readonly stop: () => Promise<void>
}

/** The todo server could not start; `reason` says why. */
export class TodoServerError extends Data.TaggedError("TodoServerError")<{ readonly reason: string }> {
  override get message() {
    return `todo server: ${this.reason}`
  }
}

/**
 * The app's schema on the server's database (idempotent): Reprise's server schema and role, the
 * app's tables, their tracking and audience policies, and the demo's memberships.
 */
export const installAppSchema: Effect.Effect<
  void,
  TodoServerError | Rls.RlsSetupError | ServerSchema.InstallError | SqlError | Tracking.TrackingError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* Rls.install()
  yield* sql`CREATE SCHEMA IF NOT EXISTS todo_app`
  yield* sql`CREATE TABLE IF NOT EXISTS todo_app.migrations (version int PRIMARY KEY, name text NOT NULL)`
  for (const [index, step] of migrations.entries()) {
    const version = index + 1
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext('todo_app.migrations'))`
      const done = yield* sql<{ name: string }>`SELECT name FROM todo_app.migrations WHERE version = ${version}`
      if (done[0] !== undefined) {
        if (done[0].name !== step.name) {
          return yield* new TodoServerError({
            reason: `migration ${version} is recorded as ${JSON.stringify(done[0].name)}, the app says ` +
              `${JSON.stringify(step.name)}: start with --reset for a fresh demo database`
          })
        }
        return
      }
      yield* sql.unsafe(step.sql)
      yield* sql`INSERT INTO todo_app.migrations (version, name) VALUES (${version}, ${step.name})`
    }))
  }
  yield* Tracking.install(tables)
  for (const table of tables) yield* Rls.audiencePolicies({ table })
  for (const list of demoLists) {
    for (const user of list.members) yield* Rls.addMember(user, audienceOf(list.id))
  }
})

/** The dev secret in `<dataDir>/dev-secret` (as `reprise-server` keeps it), made on first use. */
const devSecret = (dataDir: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = path.resolve(dataDir, "dev-secret")
      await fsp.mkdir(path.dirname(file), { recursive: true })
      try {
        await fsp.writeFile(file, `${crypto.randomBytes(48).toString("base64url")}\n`, { flag: "wx", mode: 0o600 })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      }
      return Redacted.make((await fsp.readFile(file, "utf8")).trim())
    },
    catch: (cause) => new TodoServerError({ reason: `reading the dev secret in ${dataDir}: ${String(cause)}` })
  })

/** The server as a scoped Effect: everything it opens is closed, in reverse order, with the scope. */
const make = (options: Options) =>
  Effect.gen(function*() {
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
    const url = options.databaseUrl !== undefined
      ? Redacted.make(options.databaseUrl)
      : (yield* EmbeddedDatabase.start({
        dataDir: options.dataDir,
        reset: options.reset ?? false,
        log: (line) => Effect.sync(() => log(`todo server: ${line}`))
      })).url
    const display = EmbeddedDatabase.redactUrl(Redacted.value(url))
    const pg = yield* Layer.build(PgClient.layer({
      url,
      connectTimeout: Duration.seconds(10),
      maxConnections: 10,
      applicationName: "reprise-todo-demo"
    }))
    yield* Effect.provide(installAppSchema, pg)
    const secret = yield* devSecret(options.dataDir)
    const server = SyncRpcServer.layer({ port: options.port, host: options.host ?? "127.0.0.1" }).pipe(
      Layer.provide(Realtime.layer()),
      Layer.provideMerge(SyncService.layer()),
      Layer.provide(Auth.layer({ secret })),
      Layer.provide(Layer.succeedContext(pg))
    )
    const address = Context.get(yield* Layer.build(server), SyncRpcServer.Address)
    return {
      address,
      database: display,
      tokenFor: (user: User) => Auth.issueDevToken({ secret, userId: user, ttlSeconds: 12 * 3600 })
    }
  })

/**
 * Starts the server (promise API, for `demo.mjs` and the test): resolves once it listens, with
 * its address, dev tokens and `stop`.
 */
export const start = async (options: Options): Promise<Running> => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromiseExit(Scope.extend(make(options), scope))
  if (Exit.isFailure(started)) {
    await Effect.runPromise(Scope.close(scope, started))
    throw new TodoServerError({ reason: redact(Cause.pretty(started.cause)) })
  }
  const { address, database, tokenFor } = started.value
  let stopping: Promise<void> | undefined
  return {
    url: address.url,
    webSocketUrl: address.webSocketUrl,
    database,
    tokenFor: (user) => {
      if (!users.includes(user)) return Promise.reject(new TodoServerError({ reason: `no demo user ${JSON.stringify(user)}` }))
      return Effect.runPromise(tokenFor(user))
    },
    stop: () => {
      stopping ??= Effect.runPromise(Scope.close(scope, Exit.void))
      return stopping
    }
  }
}

/** `text` without the password of any database URL it quotes. */
const redact = (text: string): string =>
  text.replaceAll(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/g, "$1***@")
