/**
 * What `reprise-server serve` does once its options are parsed (loaded on demand, so that
 * `--help` and option errors do not load the server): the authenticator first (a bad JWT
 * configuration fails before anything starts), then the database, the schema, and the server.
 */
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Auth from "../Auth.js"
import * as Realtime from "../Realtime.js"
import * as SyncRpcServer from "../SyncRpcServer.js"
import * as SyncService from "../SyncService.js"
import * as Database from "./database.js"
import * as DevSecret from "./devSecret.js"
import { BadOptions, ListenFailed, MigrationFailed, NoJwtConfig, PortInUse } from "./errors.js"
import { describeInstallError, installAll } from "./install.js"
import type { ServeOptions } from "./serve.js"
import type { Jwt } from "./options.js"

/** How long shutdown may take before the process gives up waiting and exits anyway. */
const shutdownGraceMs = 20_000

/** The authenticator `serve` runs with, checked before anything starts. */
const authLayer = (options: {
  readonly host: string
  readonly dev: boolean
  readonly dataDir: string
  readonly jwt: Jwt
}) =>
  Effect.gen(function*() {
    const { claims, jwksUrl, secret } = options.jwt
    const common = {
      issuer: Option.getOrUndefined(claims.issuer),
      audience: Option.getOrUndefined(claims.audience),
      userClaim: Option.getOrUndefined(claims.userClaim)
    }
    if (options.dev) {
      if (Option.isSome(secret) || Option.isSome(jwksUrl)) {
        return yield* new BadOptions({
          reason: "--dev signs and verifies tokens with <data-dir>/dev-secret; it cannot be combined with " +
            "--jwt-secret (REPRISE_JWT_SECRET) or --jwks-url (REPRISE_JWKS_URL)"
        })
      }
      const devSecret = yield* DevSecret.load(options.dataDir)
      const exposed = options.host === "127.0.0.1" || options.host === "::1" || options.host === "localhost"
        ? []
        : [`It listens on ${options.host}, not only on this machine: anyone who can reach it and get a dev token is in.`]
      yield* DevSecret.banner([
        "DEV MODE - UNSAFE. Anyone who can run `reprise-server token <user>` here gets a token",
        `for ANY user (signed with ${DevSecret.file(options.dataDir)}).`,
        ...exposed,
        "Never use --dev in production: give --jwt-secret or --jwks-url instead."
      ])
      return Auth.layerDev({ ...common, secret: devSecret })
    }
    if (Option.isNone(secret) && Option.isNone(jwksUrl)) return yield* new NoJwtConfig()
    return Auth.layer({ ...common, secret: Option.getOrUndefined(secret), jwksUrl: Option.getOrUndefined(jwksUrl) })
  })

const listenError = (host: string, port: number) => (error: ServeError) => {
  const cause = error.cause as NodeJS.ErrnoException | undefined
  if (cause?.code === "EADDRINUSE") return new PortInUse({ host, port })
  return new ListenFailed({ host, port, reason: cause?.message ?? String(error.cause) })
}

/**
 * Runs the server until interrupted (SIGINT/SIGTERM under `NodeRuntime.runMain`), then closes
 * everything in reverse order of opening.
 */
export const run = (options: ServeOptions) =>
  Effect.gen(function*() {
      const { host, port } = options.listen
      const auth = yield* Effect.flatMap(authLayer({ ...options, host }), Layer.build).pipe(
        Effect.mapError((error) => error._tag === "AuthConfigError" ? new BadOptions({ reason: error.message }) : error)
      )
      const database = yield* Database.acquire(options)
      const pg = yield* Layer.build(Database.layer(database))
      yield* installAll(database.display).pipe(Effect.provide(pg))

      const limit = options.limits
      const server = SyncRpcServer.layer({
        port,
        host,
        limits: {
          ...Option.match(limit.maxBodyBytes, { onNone: () => ({}), onSome: (maxBodyBytes) => ({ maxBodyBytes }) }),
          ...Option.match(limit.maxMessageBytes, { onNone: () => ({}), onSome: (maxMessageBytes) => ({ maxMessageBytes }) }),
          ...Option.match(limit.maxConnectionsPerUser, {
            onNone: () => ({}),
            onSome: (maxConnectionsPerUser) => ({ maxConnectionsPerUser })
          })
        }
      }).pipe(
        Layer.mapError(listenError(host, port)),
        Layer.provide(Realtime.layer(Option.match(limit.maxSubscriptionsPerUser, {
          onNone: () => ({}),
          onSome: (maxSubscriptionsPerUser) => ({ maxSubscriptionsPerUser })
        }))),
        Layer.provideMerge(
          SyncService.layer().pipe(
            Layer.mapError((error) => new MigrationFailed({ url: database.display, reason: describeInstallError(error) }))
          )
        ),
        Layer.provide(Layer.succeedContext(Context.merge(pg, auth)))
      )
      const address = Context.get(yield* Layer.build(server), SyncRpcServer.Address)
      yield* Console.log(`reprise-server listening on ${address.url} (database: ${database.display})`)
      // Finalizers run last-in first-out: this one, first, starts the clock on shutdown.
      yield* Effect.addFinalizer(() =>
        Effect.zipRight(
          Console.error("reprise-server: shutting down (draining requests, closing subscriptions)"),
          Effect.sync(() => {
            setTimeout(() => {
              process.stderr.write(`reprise-server: error: shutdown did not finish in ${shutdownGraceMs / 1000} s; exiting\n`)
              process.exit(1)
            }, shutdownGraceMs).unref()
          })
        )
      )
      return yield* Effect.never
    }).pipe(Effect.scoped)
