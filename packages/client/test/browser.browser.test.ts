/**
 * The client in a real browser (issue 16 item 9): a Vite bundle of a page using
 * `@reprise/client`, served on loopback and opened in Debian's Chromium through playwright-core,
 * keeps its data and its client id in IndexedDB across a page reload and syncs with a real
 * server over WebSocket, both ways, with a Node client on the same server.
 *
 * Under `CI` a missing Chromium fails the test; elsewhere it says so loudly and skips.
 */
import { assert, it } from "@effect/vitest"
import { SyncEngine } from "@reprise/core"
import { SyncRpcServer } from "@reprise/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { build } from "vite"
import { Client, Storage } from "../src/index.js"
import { addTodo, migrations, type PageResult } from "./browser/app.js"
import { serverLayer, tokenFor, webSocketTransport } from "./server.js"

const CHROMIUM = "/usr/bin/chromium"
const hasChromium = fs.existsSync(CHROMIUM)
if (!hasChromium) {
  const message = `browser.browser.test.ts: ${CHROMIUM} is missing, so the browser test cannot run ` +
    `(install it: apt-get update && apt-get install -y chromium)`
  if (process.env["CI"] !== undefined) throw new Error(message)
  console.warn(`\n*** SKIPPED: ${message} ***\n`)
}

const pageDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "browser")

const contentTypes: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".data": "application/octet-stream",
  ".tar.gz": "application/octet-stream"
}

/** Serves `dir` on a loopback port until the scope closes. */
const serveStatic = (dir: string) =>
  Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const server = http.createServer((request, response) => {
        const url = new URL(request.url ?? "/", "http://localhost")
        const file = path.join(dir, url.pathname === "/" ? "index.html" : decodeURIComponent(url.pathname))
        if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
          response.writeHead(404).end()
          return
        }
        const type = Object.entries(contentTypes).find(([ext]) => file.endsWith(ext))?.[1] ?? "application/octet-stream"
        response.writeHead(200, { "content-type": type })
        fs.createReadStream(file).pipe(response)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

/** Verifies: R-CLI-5 */
it.live.skipIf(!hasChromium)("in Chromium: IndexedDB keeps data and client id across a reload; sync over WebSocket both ways", () =>
  Effect.gen(function*() {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-browser-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(work, { recursive: true, force: true })))
    const outDir = path.join(work, "dist")
    yield* Effect.promise(() =>
      build({ root: pageDir, logLevel: "error", build: { outDir, emptyOutDir: true, target: "es2022" } })
    )
    const page = yield* serveStatic(outDir)
    const pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}/`

    const server = yield* Layer.build(serverLayer(["todos"], migrations.map((m) => m.sql)))
    const address = Context.get(server, SyncRpcServer.Address)
    const token = yield* tokenFor("browser-user")

    const context = yield* Effect.acquireRelease(
      Effect.promise(() =>
        chromium.launchPersistentContext(path.join(work, "profile"), {
          executablePath: CHROMIUM,
          headless: true,
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync"
          ]
        })
      ),
      (context) => Effect.promise(() => context.close())
    )
    const tab = yield* Effect.promise(() => context.newPage())
    const visit = (add?: string) =>
      Effect.promise(async () => {
        const query = new URLSearchParams({ server: address.webSocketUrl, token, ...(add === undefined ? {} : { add }) })
        await tab.goto(`${pageUrl}?${query.toString()}`)
        await tab.waitForFunction(() => window.__reprise !== undefined, undefined, { timeout: 180_000 })
        const result = await tab.evaluate(() => window.__reprise)
        if (result === undefined || "error" in result) throw new Error(`the page failed: ${JSON.stringify(result)}`)
        return result
      })

    // First visit: a todo written offline-first, then uploaded.
    const first: PageResult = yield* visit("From the browser")
    assert.strictEqual(first.storage, "IndexedDb")
    assert.deepStrictEqual(first.before, [])
    assert.deepStrictEqual(first.after, ["From the browser"])
    assert.strictEqual(first.pending, 0)

    // A Node client on the same server receives it and adds its own.
    yield* Effect.scoped(Effect.gen(function*() {
      const node = yield* Layer.build(Client.layer({
        storage: Storage.memory(),
        migrations,
        tables: ["todos"],
        actions: [addTodo],
        userId: "node-user",
        transport: webSocketTransport(address, "node-user")
      }))
      const sync = Effect.provide(Effect.flatMap(SyncEngine.SyncEngine, (engine) => engine.sync), node)
      yield* sync
      const titles = yield* Effect.provide(Client.query<{ title: string }>("SELECT title FROM todos"), node)
      assert.deepStrictEqual(titles, [{ title: "From the browser" }])
      yield* Effect.provide(Client.run(addTodo, { title: "From Node" }), node)
      yield* sync
    }))

    // A reload: the same database from IndexedDB (data and client id), and the Node todo synced in.
    // The client starts its sync loop as it opens, so the Node todo may already be applied when
    // the page first reads (a push can land before that read): the browser's own todo must be there.
    const second: PageResult = yield* visit()
    assert.strictEqual(second.clientId, first.clientId)
    assert.include(second.before, "From the browser")
    assert.isTrue(second.before.every((title) => title === "From the browser" || title === "From Node"), second.before.join(", "))
    assert.deepStrictEqual(second.after, ["From Node", "From the browser"])
    assert.strictEqual(second.pending, 0)
    assert.isAbove(second.cursor, first.cursor)
  }).pipe(Effect.scoped), 480_000)
