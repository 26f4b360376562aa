/**
 * The web app's dev server: Vite (through its JS API) serving `examples/todo` with React, a
 * proxy of `/rpc` (HTTP and WebSocket) to the sync server, so the page talks to one origin, and
 * `GET /dev/token?user=alice`, which hands the page a dev token for a demo user (UNSAFE: the
 * demo's stand-in for a sign-in).
 */
import react from "@vitejs/plugin-react"
import type { IncomingMessage, ServerResponse } from "node:http"
import { createLogger, createServer, type Plugin } from "vite"
import { type User, users } from "../src/schema.js"

/** How to start the web app. */
export interface Options {
  /** The app's directory (the one holding `index.html`). */
  readonly root: string
  /** The port (0: any free one). */
  readonly port: number
  readonly host: string
  /** The sync server's `http://host:port`, which `/rpc` is proxied to. */
  readonly syncUrl: string
  /** Dev tokens for the demo's users. */
  readonly tokenFor: (user: User) => Promise<string>
}

/** A running web app. */
export interface Running {
  /** Where to open it. */
  readonly url: string
  readonly close: () => Promise<void>
}

const isUser = (value: string | null): value is User => users.some((user) => user === value)

/** The `/dev/token` endpoint. */
const devTokens = (tokenFor: (user: User) => Promise<string>): Plugin => ({
  name: "reprise-todo-dev-tokens",
  configureServer(server) {
    server.middlewares.use("/dev/token", (request: IncomingMessage, response: ServerResponse) => {
      const user = new URL(request.url ?? "/", "http://localhost").searchParams.get("user")
      if (!isUser(user)) {
        response.writeHead(400, { "content-type": "text/plain" }).end(`user must be one of ${users.join(", ")}`)
        return
      }
      tokenFor(user).then(
        (token) => response.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end(token),
        (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(String(error))
      )
    })
  }
})

/**
 * Vite's logger, warnings and errors only, without the noise of a browser tab closing its
 * WebSocket (the proxy reports each reset connection with a stack trace).
 */
const quietLogger = () => {
  const logger = createLogger("warn")
  const error = logger.error
  logger.error = (message, options) => {
    if (/ws proxy (socket )?error/.test(message) && /ECONNRESET|EPIPE/.test(message + String(options?.error ?? ""))) return
    error(message, options)
  }
  return logger
}

/** Starts Vite's dev server for the app; resolves once it listens. */
export const start = async (options: Options): Promise<Running> => {
  const vite = await createServer({
    configFile: false,
    root: options.root,
    customLogger: quietLogger(),
    clearScreen: false,
    plugins: [react(), devTokens(options.tokenFor)],
    server: {
      port: options.port,
      host: options.host,
      strictPort: true,
      proxy: { "/rpc": { target: options.syncUrl, ws: true } }
    },
    // PGlite loads its WebAssembly and data files next to its module: it must not be pre-bundled.
    optimizeDeps: { exclude: ["@electric-sql/pglite"] }
  })
  await vite.listen()
  const address = vite.httpServer?.address()
  const port = typeof address === "object" && address !== null ? address.port : options.port
  return {
    url: `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}/`,
    close: () => vite.close()
  }
}
