/**
 * `pnpm demo` (`node examples/todo/demo.mjs`): the sync server on embedded Postgres, with the
 * todo app's schema, and the web app, in one process. Prints the URL; SIGINT (Ctrl-C) or SIGTERM
 * stops the web server, then the sync server, then Postgres, and exits 0.
 *
 * Options: `--port <n>` (the web app, 5173 by default; 0: any free port), `--host <h>`
 * (127.0.0.1), `--data-dir <dir>` (examples/todo/.reprise; as root in a checkout other users
 * cannot enter, <tmp>/reprise-todo-demo), `--reset` (a fresh database; also
 * clear the browser's site data then, since the browser's databases remember the old server).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as TodoServer from "./todoServer.js"
import * as Web from "./web.js"

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** The demo's command-line options. */
export interface DemoOptions {
  readonly port: number
  readonly host: string
  readonly dataDir: string
  readonly reset: boolean
}

/**
 * The default data directory: examples/todo/.reprise, unless this process is root and a
 * directory on that path is closed to other users (a checkout in a mode-700 home or CI
 * directory): Postgres refuses to run as root and runs as the postgres user, which could not
 * enter it, so the demo keeps its data in the system's temporary directory instead.
 */
const defaultDataDir = (): string => {
  const inCheckout = path.join(appDir, ".reprise")
  if (process.getuid?.() !== 0) return inCheckout
  for (let dir = appDir; ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return path.join(os.tmpdir(), "reprise-todo-demo")
    if (path.dirname(dir) === dir) return inCheckout
  }
}

/** Parses the command line; an unknown or malformed option is an `Error` saying which. */
export const parse = (argv: ReadonlyArray<string>): DemoOptions => {
  let port = 5173
  let host = "127.0.0.1"
  let dataDir = defaultDataDir()
  let reset = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${arg} needs a value`)
      return next
    }
    if (arg === "--port") {
      port = Number(value())
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535`)
    } else if (arg === "--host") host = value()
    else if (arg === "--data-dir") dataDir = path.resolve(value())
    else if (arg === "--reset") reset = true
    else throw new Error(`unknown option ${arg} (options: --port <n>, --host <h>, --data-dir <dir>, --reset)`)
  }
  return { port, host, dataDir, reset }
}

/** Runs the demo until SIGINT or SIGTERM. */
export const main = async (argv: ReadonlyArray<string>): Promise<void> => {
  const options = parse(argv)
  const log = (line: string) => process.stderr.write(`${line}\n`)
  log("Starting the Reprise todo demo: embedded Postgres, the sync server, the web app...")
  const server = await TodoServer.start({ dataDir: options.dataDir, port: 0, host: "127.0.0.1", reset: options.reset, log })
  let web: Web.Running
  try {
    web = await Web.start({ root: appDir, port: options.port, host: options.host, syncUrl: server.url, tokenFor: server.tokenFor })
  } catch (error) {
    await server.stop()
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(/in use/i.test(message) ? `${message}: give the web app another port with --port <n>` : message)
  }
  log(`sync server ${server.url} (database ${server.database}, data in ${options.dataDir})`)
  log("DEV MODE: the page gets tokens for alice and bob from /dev/token. Never expose this demo.")
  process.stdout.write(`Reprise todo demo: ${web.url}  (Ctrl-C stops it)\n`)

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log(`${signal}: stopping the web app, the sync server and Postgres...`)
    const hardStop = setTimeout(() => {
      log("did not stop within 30 s; exiting")
      process.exit(1)
    }, 30_000)
    hardStop.unref()
    web.close()
      .catch((error: unknown) => log(`closing the web app: ${String(error)}`))
      .then(() => server.stop())
      .then(
        () => {
          log("stopped.")
          process.exit(0)
        },
        (error: unknown) => {
          log(`stopping the server: ${String(error)}`)
          process.exit(1)
        }
      )
  }
  process.on("SIGINT", () => stop("SIGINT"))
  process.on("SIGTERM", () => stop("SIGTERM"))
}
