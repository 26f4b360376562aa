/**
 * The `reprise-server` command line: `serve`, `migrate` and the dev-only `token`. A failure it
 * expects (port in use, database unreachable, no JWT configuration, bad option values) is
 * printed as ONE line on stderr and fails the program (exit code 1 under `main.ts`).
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { createRequire } from "node:module"
import { BadOptions } from "./errors.js"
import { migrate } from "./migrate.js"
import { serve } from "./serve.js"
import { token } from "./token.js"

const version = (createRequire(import.meta.url)("../../package.json") as { version: string }).version

/** The root command with its subcommands. */
export const command = Command.make("reprise-server").pipe(
  Command.withDescription(
    "The Reprise sync server. Start it with `reprise-server serve --dev` for local development (embedded " +
      "PostgreSQL, dev tokens from `reprise-server token <user>`); see docs/server.md."
  ),
  Command.withSubcommands([serve, migrate, token])
)

/**
 * The log level `REPRISE_LOG_LEVEL` names; `--log-level` (an option every command has) wins over
 * it. Checked before the command runs, so a misspelt level is a one-line error.
 */
const logLevelFromEnv = Config.option(Config.logLevel("REPRISE_LOG_LEVEL")).pipe(
  Effect.mapError((error) =>
    new BadOptions({
      reason: `REPRISE_LOG_LEVEL must be one of all, trace, debug, info, warning, error, fatal, none (${
        oneLine(String(error))
      })`
    })
  )
)

/** Runs the command line `argv` (as `process.argv`: node, script, arguments…). */
export const run = (argv: ReadonlyArray<string>) =>
  Effect.flatMap(logLevelFromEnv, (level) => {
    const cli = Command.run(command, { name: "reprise-server", version })(argv)
    return Option.match(level, { onNone: () => cli, onSome: (min) => Logger.withMinimumLogLevel(cli, min) })
  }).pipe(
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.void
      const failure = Cause.failureOption(cause)
      if (failure._tag === "Some") {
        const error = failure.value
        // The option parser has printed its own account of a bad command line already.
        if (ValidationError.isValidationError(error)) return Effect.failCause(cause)
        return Console.error(`reprise-server: error: ${oneLine(error.message)}`).pipe(Effect.zipRight(Effect.failCause(cause)))
      }
      return Console.error(`reprise-server: unexpected failure (a bug; please report it):\n${Cause.pretty(cause)}`).pipe(
        Effect.zipRight(Effect.failCause(cause))
      )
    }),
    Effect.provide(NodeContext.layer)
  )

const oneLine = (text: string): string => text.replaceAll(/\s*\n\s*/g, " ").trim()
