/**
 * The options of `reprise-server`'s commands. Every option can also be set from an environment
 * variable, which its `--help` text names; a flag on the command line wins over the variable.
 */
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

/** `option`, described, with `variable` as its fallback: the description names the variable. */
const fromEnv = <A>(option: Options.Options<A>, description: string, variable: string, config: Config.Config<A>) =>
  option.pipe(
    Options.withDescription(`${description} Environment variable: ${variable}.`),
    Options.withFallbackConfig(config)
  )

/** A bad value, reported in the one-line form of every other failure. */
const invalid = (text: string) => ValidationError.invalidValue(HelpDoc.p(`reprise-server: error: ${text}`))

/**
 * An integer option in `[min, max]` that may be absent, from the flag or the variable; parsed here (not
 * by `Options.integer`) so that a bad value's message names both the flag and the variable.
 */
export const integerIn = (
  name: string,
  variable: string,
  description: string,
  bounds: { readonly min: number; readonly max: number }
): Options.Options<Option.Option<number>> =>
  Options.optional(
    fromEnv(Options.text(name).pipe(Options.withPseudoName("integer")), description, variable, Config.string(variable))
  ).pipe(
    Options.mapEffect((value) => {
      if (Option.isNone(value)) return Effect.succeed(Option.none())
      const text = value.value.trim()
      const n = /^-?\d{1,16}$/.test(text) ? Number(text) : Number.NaN
      return Number.isSafeInteger(n) && n >= bounds.min && n <= bounds.max
        ? Effect.succeed(Option.some(n))
        : Effect.fail(invalid(
          `--${name} (or ${variable}) must be an integer from ${bounds.min} to ${bounds.max}, got ${JSON.stringify(value.value)}`
        ))
    })
  )

/** A text option that may be absent. */
const optionalText = (name: string, variable: string, description: string) =>
  Options.optional(fromEnv(Options.text(name), description, variable, Config.string(variable)))

/** A secret option that may be absent (never printed). */
const optionalSecret = (name: string, variable: string, description: string) =>
  Options.optional(fromEnv(Options.redacted(name), description, variable, Config.redacted(variable)))

const httpUrl = (name: string, variable: string) => (value: Option.Option<string>) =>
  Option.match(value, {
    onNone: () => Effect.succeed(value),
    onSome: (text) => {
      try {
        const parsed = new URL(text)
        if (parsed.protocol === "http:" || parsed.protocol === "https:") return Effect.succeed(value)
      } catch {
        // reported below
      }
      return Effect.fail(invalid(`--${name} (or ${variable}) must be an http(s) URL, got ${JSON.stringify(text)}`))
    }
  })

/** `--database-url` / `DATABASE_URL`: a `postgres://` URL; absent means the embedded database. */
export const databaseUrl: Options.Options<Option.Option<Redacted.Redacted<string>>> = optionalSecret(
  "database-url",
  "DATABASE_URL",
  "The PostgreSQL server to use (postgres://user:password@host:port/database). Without it the server " +
    "starts an embedded PostgreSQL whose data lives in <data-dir>/postgres."
)

/** `--data-dir` / `REPRISE_DATA_DIR`: where the embedded database and the dev secret live. */
export const dataDir: Options.Options<string> = fromEnv(
  Options.text("data-dir"),
  "Directory for the embedded PostgreSQL's data (<data-dir>/postgres, kept across restarts) and the dev-mode " +
    "token secret. Default: .reprise under the current directory.",
  "REPRISE_DATA_DIR",
  Config.string("REPRISE_DATA_DIR")
).pipe(Options.withDefault(".reprise"))

/** `--reset` / `REPRISE_RESET`: wipe the embedded database before starting. */
export const reset: Options.Options<boolean> = fromEnv(
  Options.boolean("reset"),
  "Delete the embedded PostgreSQL's data directory first (a new, empty database). Refused with --database-url.",
  "REPRISE_RESET",
  Config.boolean("REPRISE_RESET")
)

/** `--dev` / `REPRISE_DEV`: development mode (UNSAFE: tokens for any user from a local secret). */
export const dev: Options.Options<boolean> = fromEnv(
  Options.boolean("dev"),
  "Development mode, UNSAFE: accepts tokens signed with a secret kept in <data-dir>/dev-secret (generated on " +
    "first use), which `reprise-server token <user>` prints for any user. Never use it in production.",
  "REPRISE_DEV",
  Config.boolean("REPRISE_DEV")
)

/** The HTTP listener: `--port` / `REPRISE_PORT` (default 4000), `--host` / `REPRISE_HOST` (default 127.0.0.1). */
export const listen = Options.all({
  port: integerIn("port", "REPRISE_PORT", "The port to listen on (0: any free port; default 4000).", {
    min: 0,
    max: 65535
  }).pipe(Options.map(Option.getOrElse(() => 4000))),
  host: fromEnv(
    Options.text("host"),
    "The address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).",
    "REPRISE_HOST",
    Config.string("REPRISE_HOST")
  ).pipe(Options.withDefault("127.0.0.1"))
})

/** The claims tokens must carry: issuer, audience, and the claim holding the user id. */
export const claims = Options.all({
  issuer: optionalText("jwt-issuer", "REPRISE_JWT_ISSUER", "The issuer (iss) tokens must carry."),
  audience: optionalText("jwt-audience", "REPRISE_JWT_AUDIENCE", "The audience (aud) tokens must carry."),
  userClaim: optionalText("jwt-user-claim", "REPRISE_JWT_USER_CLAIM", "The claim holding the user id (default sub).")
})

/** JWT verification: a secret (HS256) or a JWKS URL, with the claims tokens must carry. */
export const jwt = Options.all({
  secret: optionalSecret("jwt-secret", "REPRISE_JWT_SECRET", "The HS256 secret tokens are signed with (at least 32 bytes)."),
  jwksUrl: optionalText(
    "jwks-url",
    "REPRISE_JWKS_URL",
    "The URL of the JSON Web Key Set tokens are verified against (fetched, cached, refreshed on an unknown key)."
  ).pipe(Options.mapEffect(httpUrl("jwks-url", "REPRISE_JWKS_URL"))),
  claims
})

/** An optional positive integer option: absent means the library's default. */
const optionalLimit = (name: string, variable: string, description: string, max: number) =>
  integerIn(name, variable, description, { min: 1, max })

/** Per-request and per-user limits (R-SRV-7); each absent one keeps the server's default. */
export const limits = Options.all({
  maxBodyBytes: optionalLimit(
    "max-body-bytes",
    "REPRISE_MAX_BODY_BYTES",
    "The largest HTTP request body accepted, in bytes (default 16777216, 16 MiB).",
    1024 * 1024 * 1024
  ),
  maxMessageBytes: optionalLimit(
    "max-message-bytes",
    "REPRISE_MAX_MESSAGE_BYTES",
    "The largest WebSocket message accepted, in bytes (default 16777216, 16 MiB).",
    1024 * 1024 * 1024
  ),
  maxSubscriptionsPerUser: optionalLimit(
    "max-subscriptions-per-user",
    "REPRISE_MAX_SUBSCRIPTIONS_PER_USER",
    "The most subscriptions one user may hold open at once (default 10).",
    1_000_000
  ),
  maxConnectionsPerUser: optionalLimit(
    "max-connections-per-user",
    "REPRISE_MAX_CONNECTIONS_PER_USER",
    "The most WebSocket connections one user may hold open at once (default 16).",
    1_000_000
  )
})

/** The JWT settings `serve` was given. */
export type Jwt = typeof jwt extends Options.Options<infer A> ? A : never
