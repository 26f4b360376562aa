/**
 * `reprise-server token <user>` (development only): prints, on stdout, a token for the named user
 * signed with the dev secret of `<data-dir>`, which only a `serve --dev` on the same data
 * directory accepts. It never signs with a production secret: `REPRISE_JWT_SECRET` is not read.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DevSecret from "./devSecret.js"
import { BadOptions } from "./errors.js"
import { claims, dataDir, integerIn } from "./options.js"

const user = Args.text({ name: "user" }).pipe(Args.withDescription("The user id the token authenticates (its sub claim)."))

const ttl = integerIn("ttl", "REPRISE_TOKEN_TTL", "The token's lifetime in seconds (default 86400, one day).", {
  min: 1,
  max: 10 * 365 * 86_400
}).pipe(Options.map(Option.getOrElse(() => 86_400)))

/** The `token` command. */
export const token = Command.make(
  "token",
  { user, ttl, dataDir, claims },
  (options) =>
    Effect.gen(function*() {
      const secret = yield* DevSecret.load(options.dataDir)
      const { claims } = options
      const Auth = yield* Effect.promise(() => import("../Auth.js"))
      const issued = yield* Auth.issueDevToken({
        secret,
        userId: options.user,
        ttlSeconds: options.ttl,
        issuer: Option.getOrUndefined(claims.issuer),
        audience: Option.getOrUndefined(claims.audience),
        userClaim: Option.getOrUndefined(claims.userClaim)
      }).pipe(Effect.mapError((error) => new BadOptions({ reason: error.message })))
      yield* DevSecret.banner([
        "DEV TOKEN - UNSAFE: signed with the dev secret in " + DevSecret.file(options.dataDir) + ".",
        "Only `reprise-server serve --dev` accepts it. Never use dev mode in production."
      ])
      yield* Console.log(issued)
    })
).pipe(
  Command.withDescription(
    "Development only (UNSAFE): print a token for <user>, signed with <data-dir>/dev-secret, that " +
      "`reprise-server serve --dev` on the same data directory accepts."
  )
)
