/**
 * `reprise-server migrate`: installs (or confirms) the server schema in the database, so a
 * deployment can migrate before it starts its server processes. Idempotent: running it again
 * changes nothing. `serve` runs the same installation on start.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { databaseUrl, dataDir, reset } from "./options.js"

const config = {
  databaseUrl,
  dataDir,
  reset,
  quiet: Options.boolean("quiet").pipe(Options.withDescription("Print nothing on stdout on success."))
}

/** The parsed options of `migrate`. */
export type MigrateOptions = Command.Command.ParseConfig<typeof config>

/** The `migrate` command. */
export const migrate = Command.make(
  "migrate",
  config,
  (options) => Effect.flatMap(Effect.promise(() => import("./install.js")), (module) => module.migrate(options))
).pipe(
  Command.withDescription(
    "Install or upgrade the Reprise server schema in the database (idempotent). Uses DATABASE_URL, or the " +
      "embedded database in <data-dir>/postgres when it is not set. --log-level also from REPRISE_LOG_LEVEL."
  )
)
