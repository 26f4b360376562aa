/**
 * The todo app's server on its own, without the web app:
 * `node --import tsx examples/todo/server/main.ts [--port 4000] [--data-dir examples/todo/.reprise] [--reset]`,
 * or, against your own Postgres, with `DATABASE_URL=postgres://...` set. Prints the sync endpoint
 * and a dev token for alice and for bob; Ctrl-C stops it and its embedded Postgres.
 *
 * Run it with `node --import tsx`, one process: `npx tsx` runs it in a child process that tsx's
 * own Ctrl-C handling ends before the embedded Postgres is stopped.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as TodoServer from "./todoServer.js"

const argv = process.argv.slice(2)
const option = (name: string) => {
  const at = argv.indexOf(name)
  return at === -1 ? undefined : argv[at + 1]
}
const port = Number(option("--port") ?? "4000")
const dataDir = path.resolve(
  option("--data-dir") ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..", ".reprise")
)
const databaseUrl = process.env["DATABASE_URL"]

const server = await TodoServer.start({
  dataDir,
  port,
  reset: argv.includes("--reset"),
  ...(databaseUrl === undefined || databaseUrl === "" ? {} : { databaseUrl })
})
process.stdout.write(`todo sync server: ${server.webSocketUrl} (database ${server.database})\n`)
for (const user of ["alice", "bob"] as const) {
  process.stdout.write(`dev token for ${user}: ${await server.tokenFor(user)}\n`)
}
const stop = () => {
  server.stop().then(() => process.exit(0), (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  })
}
process.once("SIGINT", stop)
process.once("SIGTERM", stop)
