/**
 * The dev-mode token secret, shared by `serve --dev` and `token` through `<data-dir>/dev-secret`
 * (mode 600), generated on first use. Dev mode never uses `--jwt-secret`, so `token` can never
 * sign a token a production server would accept.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { DevSecretFailed } from "./errors.js"

/** The file holding the dev secret under `dataDir`. */
export const file = (dataDir: string): string => path.resolve(dataDir, "dev-secret")

/** The dev secret in `dataDir`, generated (48 random bytes, base64url) if there is none yet. */
export const load = (dataDir: string): Effect.Effect<Redacted.Redacted<string>, DevSecretFailed> => {
  const target = file(dataDir)
  const failed = (cause: unknown) =>
    new DevSecretFailed({ file: target, reason: cause instanceof Error ? cause.message : String(cause) })
  return Effect.tryPromise({
    try: async () => {
      await fsp.mkdir(path.dirname(target), { recursive: true })
      const fresh = crypto.randomBytes(48).toString("base64url")
      try {
        await fsp.writeFile(target, `${fresh}\n`, { flag: "wx", mode: 0o600 })
        return fresh
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      }
      const stored = (await fsp.readFile(target, "utf8")).trim()
      if (stored.length < 32) throw new Error("it holds fewer than 32 characters; delete it to get a new one")
      return stored
    },
    catch: failed
  }).pipe(Effect.map(Redacted.make))
}

/** The warning dev mode prints on stderr, framed so nobody misses it. */
export const banner = (lines: ReadonlyArray<string>): Effect.Effect<void> => {
  const width = Math.max(...lines.map((line) => line.length)) + 4
  const rule = "!".repeat(width)
  return Console.error([rule, ...lines.map((line) => `! ${line.padEnd(width - 4)} !`), rule].join("\n"))
}
