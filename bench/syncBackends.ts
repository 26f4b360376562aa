/**
 * The servers the sync benchmarks run against (in-process PGlite, real Postgres) and the
 * physical floors measured next to them (raw multi-row inserts, a raw read of a log page).
 */
import { PGlite } from "@electric-sql/pglite"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Tracking } from "@reprise/core"
import { type SyncCodec, SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as PgServer from "../packages/pg-fixture/src/server.js"
import { NOTES_DDL } from "./notes.js"
import { countStatements } from "./statementCounter.js"

/** A server runtime: the sync service on its database. */
export type ServerRuntime = ManagedRuntime.ManagedRuntime<
  SyncService.SyncService | SyncCodec.EncodedFetch | SqlClient.SqlClient,
  unknown
>

export interface NoteRow {
  readonly id: string
  readonly title: string
  readonly content: string
  readonly user_id: string
  readonly audience_key: string
}

export const FLOOR_DDL = `CREATE TABLE floor_notes (id text PRIMARY KEY, title text, content text, user_id text, audience_key text)`

/** One multi-row INSERT of `rows` into `floor_notes`, with its parameters. */
export const multiRowInsert = (rows: ReadonlyArray<NoteRow>): [string, Array<string>] => {
  const params: Array<string> = []
  const tuples = rows.map((row) => {
    const base = params.push(row.id, row.title, row.content, row.user_id, row.audience_key) - 5
    return `($${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5})`
  })
  return [`INSERT INTO floor_notes (id, title, content, user_id, audience_key) VALUES ${tuples.join(", ")}`, params]
}

export const elapsed = async <A>(f: () => Promise<A>): Promise<[number, A]> => {
  const start = performance.now()
  const result = await f()
  return [performance.now() - start, result]
}

/**
 * A page of the log read by the raw driver: the `limit` actions after `since`, each as the JSON
 * text of its encoded `RemoteAction` built by the database, as the service's page query builds
 * it (without its audience filter, which is off in these benchmarks, nor the actions restated
 * by corrections, which there are none of).
 */
export const PAGE_FLOOR_SQL = `
  SELECT jsonb_build_object(
    'id', a.id, 'tag', a.tag, 'args', a.args, 'clientId', a.client_id, 'userId', a.user_id,
    'hlc', a.hlc, 'kind', a.kind, 'serverSeq', a.server_seq, 'fullView', true,
    'patches', coalesce((
      SELECT jsonb_agg(jsonb_build_object('seq', p.seq, 'schema', p.table_schema, 'table', p.table_name,
        'rowId', p.row_id, 'op', p.op, 'forward', p.forward::text, 'reverse', p.reverse::text,
        'audienceKey', p.audience_key) ORDER BY p.seq)
      FROM reprise_server.patches p WHERE p.action_id = a.id), '[]'::jsonb)
  )::text AS action
  FROM reprise_server.actions a WHERE a.server_seq > $1 ORDER BY a.server_seq LIMIT $2`

/** The raw-PGlite floor: `rows` inserted in one transaction with one statement (the table is created untimed). */
export const pgliteFloor = async (pglite: PGlite, rows: ReadonlyArray<NoteRow>): Promise<number> => {
  await pglite.exec(FLOOR_DDL)
  const [sql, params] = multiRowInsert(rows)
  const [ms] = await elapsed(() => pglite.transaction(async (tx) => {
    await tx.query(sql, params)
  }))
  return ms
}

// `pg`, the raw driver, for the admin statements and the Postgres floor.
export const withPg = PgServer.withClient

export const databaseUrl = (admin: string, name: string) => {
  const url = new URL(admin)
  url.pathname = `/${name}`
  return url.toString()
}

export const randomName = (what: string) => `reprise_bench_${what}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`

export const makeServerRuntime = (db: Layer.Layer<SqlClient.SqlClient, unknown>): ServerRuntime =>
  ManagedRuntime.make(Layer.provideMerge(SyncService.layer(), db))

/** A server database of one world. */
export interface ServerDb {
  readonly runtime: ServerRuntime
  /** Statements sent to the server's PGlite (PGlite variant only). */
  readonly statements: { readonly count: number } | undefined
  /** The raw-driver floor for `rows` on this database. */
  readonly floor: (rows: ReadonlyArray<NoteRow>) => Promise<number>
  /** The raw-driver floor of a fetch: `PAGE_FLOOR_SQL`, timed; returns the time and the rows read. */
  readonly pageFloor: (since: number, limit: number) => Promise<[number, number]>
  readonly close: () => Promise<void>
}

/** Where servers come from: a seeded database, frozen into a template, then copied per run. */
export interface Backend {
  readonly name: string
  readonly detail: string
  /** A fresh, empty server database (the seed). */
  readonly seed: () => Promise<ServerDb>
  /** Makes the seeded database the template of `instance` (closes it). */
  readonly freeze: (seed: ServerDb) => Promise<void>
  /** A copy of the template, its runtime built. */
  readonly instance: () => Promise<ServerDb>
  readonly close: () => Promise<void>
}

export const prepareServer = (runtime: ServerRuntime) =>
  runtime.runPromise(Effect.gen(function*() {
    yield* SyncService.SyncService
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(NOTES_DDL)
    yield* Tracking.install(["notes"])
  }))

export const pgliteBackend = (): Backend => {
  let template: Blob | undefined
  const open = async (pglite: PGlite): Promise<ServerDb> => {
    const statements = countStatements(pglite)
    const runtime = makeServerRuntime(PgliteClient.layerFromPglite(pglite))
    await runtime.runPromise(SyncService.SyncService)
    return {
      runtime,
      statements,
      floor: (rows) => pgliteFloor(pglite, rows),
      pageFloor: async (since, limit) => {
        const [ms, result] = await elapsed(() => pglite.query(PAGE_FLOOR_SQL, [since, limit]))
        return [ms, result.rows.length]
      },
      close: async () => {
        await runtime.dispose()
        await pglite.close()
      }
    }
  }
  let seedPglite: PGlite | undefined
  return {
    name: "PGlite",
    detail: "in-process PGlite",
    seed: async () => {
      seedPglite = await PGlite.create({ parsers: PgliteClient.parsers })
      const db = await open(seedPglite)
      await prepareServer(db.runtime)
      return db
    },
    freeze: async (seed) => {
      template = await seedPglite!.dumpDataDir("none")
      await seed.close()
    },
    instance: async () => open(await PGlite.create({ loadDataDir: template!, parsers: PgliteClient.parsers })),
    close: async () => {}
  }
}

export const postgresBackend = async (): Promise<Backend> => {
  const server = await PgServer.start()
  const seedName = randomName("seed")
  const open = async (name: string): Promise<ServerDb> => {
    const url = databaseUrl(server.url, name)
    const runtime = makeServerRuntime(PgClient.layer({ url: Redacted.make(url) }))
    await runtime.runPromise(SyncService.SyncService)
    return {
      runtime,
      statements: undefined,
      floor: (rows) =>
        withPg(url, async (client) => {
          await client.query(FLOOR_DDL)
          const [sql, params] = multiRowInsert(rows)
          const [ms] = await elapsed(async () => {
            await client.query("BEGIN")
            await client.query(sql, params)
            await client.query("COMMIT")
          })
          return ms
        }),
      // Connecting is not timed: only the query.
      pageFloor: (since, limit) =>
        withPg(url, async (client) => {
          const [ms, result] = await elapsed(() => client.query(PAGE_FLOOR_SQL, [since, limit]))
          return [ms, result.rows.length]
        }),
      close: async () => {
        await runtime.dispose()
        if (name !== seedName) await withPg(server.url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
      }
    }
  }
  return {
    name: "Postgres",
    detail: `PostgreSQL ${server.version} (${server.source})`,
    seed: async () => {
      await withPg(server.url, (c) => c.query(`CREATE DATABASE "${seedName}"`))
      const db = await open(seedName)
      await prepareServer(db.runtime)
      return db
    },
    // A template database must have no connections while it is copied: closing the runtime
    // closes its pool.
    freeze: (seed) => seed.close(),
    instance: async () => {
      const name = randomName("run")
      await withPg(server.url, (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${seedName}"`))
      return open(name)
    },
    close: async () => {
      await withPg(server.url, (c) => c.query(`DROP DATABASE IF EXISTS "${seedName}" WITH (FORCE)`)).catch(() => undefined)
      await server.stop()
    }
  }
}

