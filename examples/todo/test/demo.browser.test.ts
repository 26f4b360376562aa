/**
 * The demo, end to end, in Debian's Chromium (playwright-core): `demo.mjs` (the sync server on
 * an embedded Postgres of its own data directory, and the web app through Vite) is started as
 * `pnpm demo` starts it; the page's two panes are Alice's and Bob's clients, each with its own
 * PGlite database in IndexedDB. Bob goes offline; both edit the same lists, including the edit a
 * field merge gets wrong (the fifth open todo added on both sides, a todo completed by Bob that
 * Alice deleted); Bob comes back online. Both panes converge to the same lists, the 5-open-todos
 * rule holds, the deleted todo stays deleted, and Bob's pane never shows Alice's private list;
 * Bob's attempt to write into it is refused by the server and quarantined with its reason.
 * Then SIGINT stops the demo: it exits 0 and leaves no Postgres running.
 *
 * Screenshots go to `test/artifacts/` (git-ignored); the last one is also written to
 * `examples/todo/screenshot.png`, the README's.
 *
 * Under `CI` a missing Chromium fails the test; elsewhere it says so loudly and skips.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { chromium, type Locator, type Page } from "playwright-core"
import { afterAll, assert, beforeAll, it } from "vitest"

const CHROMIUM = "/usr/bin/chromium"
const hasChromium = fs.existsSync(CHROMIUM)
if (!hasChromium) {
  const message = `demo.browser.test.ts: ${CHROMIUM} is missing, so the demo's browser test cannot run ` +
    `(install it: apt-get update && apt-get install -y chromium)`
  if (process.env["CI"] !== undefined) throw new Error(message)
  console.warn(`\n*** SKIPPED: ${message} ***\n`)
}

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const artifacts = path.join(appDir, "test", "artifacts")

/** A free loopback port (Vite takes a fixed one). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** The Postgres processes whose command line names `dir`. */
const postgresUnder = (dir: string): Array<string> =>
  execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes(dir) && /postgres/.test(line))

interface Demo {
  readonly child: ChildProcess
  readonly url: string
  readonly output: () => string
}

/** Runs `node demo.mjs` on a fresh data directory until it prints its URL. */
const startDemo = (dataDir: string, port: number) =>
  new Promise<Demo>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(appDir, "demo.mjs"), "--port", String(port), "--data-dir", dataDir], {
      cwd: appDir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    const output = () => out
    const timer = setTimeout(() => reject(new Error(`the demo did not print its URL in 120 s:\n${out}`)), 120_000)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const match = /Reprise todo demo: (http:\/\/\S+)/.exec(out)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve({ child, url: match[1], output })
      }
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`the demo exited (${code}) before printing its URL:\n${out}`))
    })
  })

/** Stops the demo with SIGINT; resolves with its exit code. */
const stopDemo = (demo: Demo) =>
  new Promise<number | null>((resolve) => {
    if (demo.child.exitCode !== null) {
      resolve(demo.child.exitCode)
      return
    }
    demo.child.once("exit", (code) => resolve(code))
    demo.child.kill("SIGINT")
  })

const pane = (page: Page, user: "alice" | "bob") => page.locator(`[data-testid="pane-${user}"]`)
const list = (of: Locator, id: string) => of.locator(`[data-testid="list-${id}"]`)

/** The titles of a list's todos in one pane, open ones only or all. */
const titles = (of: Locator, id: string, which: "open" | "all") =>
  list(of, id)
    .locator(which === "open" ? `[data-testid="todo"][data-done="false"]` : `[data-testid="todo"]`)
    .evaluateAll((items) => items.map((item) => item.getAttribute("data-title") ?? ""))

/** What a pane shows of the lists: list id → [title, done] pairs, in order. */
const contents = (of: Locator) =>
  of.locator(`[data-testid^="list-"]`).evaluateAll((lists) =>
    Object.fromEntries(lists.map((element) => [
      element.getAttribute("data-testid") ?? "",
      [...element.querySelectorAll(`[data-testid="todo"]`)].map((todo) =>
        `${todo.getAttribute("data-title") ?? ""}${todo.getAttribute("data-done") === "true" ? " (done)" : ""}`
      )
    ]))
  )

/** Waits until `check` holds, polling; fails with `what` and the last value. */
const until = async <A>(what: string, read: () => Promise<A>, check: (value: A) => boolean, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  let last: A | undefined
  while (Date.now() < deadline) {
    last = await read()
    if (check(last)) return last
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
}

const settled = (of: Locator) =>
  until(
    "the pane to be in sync with nothing pending",
    async () => ({
      pending: await of.locator(`[data-testid="pending"]`).getAttribute("data-count"),
      caughtUp: await of.locator(`[data-testid="caught-up"]`).getAttribute("data-value")
    }),
    (state) => state.pending === "0" && state.caughtUp === "true"
  )

const addTodo = async (of: Locator, listId: string, title: string) => {
  await list(of, listId).locator(`[data-testid="new-todo"]`).fill(title)
  await list(of, listId).locator(`[data-testid="add"]`).click()
  await until(`${title} in ${listId}`, () => titles(of, listId, "all"), (all) => all.includes(title), 30_000)
}

let work = ""
let demo: Demo | undefined

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "reprise-demo-test-"))
  // Run as root, the embedded Postgres runs as the postgres user, who must enter its directory.
  fs.chmodSync(work, 0o755)
  fs.mkdirSync(artifacts, { recursive: true })
})

afterAll(async () => {
  if (demo !== undefined) await stopDemo(demo)
  if (work !== "") fs.rmSync(work, { recursive: true, force: true })
})

/** Verifies: R-SYNC-2, R-SRV-3, R-REC-3, R-CLI-1, R-CLI-2, R-CLI-3, R-CLI-4, R-CLI-5 */
it.skipIf(!hasChromium)("the demo in Chromium: offline edits on both sides converge, the app's rules hold, private stays private; Ctrl-C leaves no Postgres", async () => {
  const dataDir = path.join(work, "server")
  demo = await startDemo(dataDir, await freePort())
  const context = await chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
  const page = await context.newPage()
  const errors: Array<string> = []
  const notes: Array<string> = []
  try {
    page.on("pageerror", (error) => errors.push(error.message))
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") notes.push(`console.${message.type()}: ${message.text()}`)
    })
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) notes.push(`navigated: ${frame.url()}`)
    })
    await page.goto(demo.url)
    const alice = pane(page, "alice")
    const bob = pane(page, "bob")

    // Alice creates the demo's lists after her first sync; Bob receives the two shared ones.
    await until("Bob to receive the shared lists", () => contents(bob), (lists) =>
      (lists["list-groceries"]?.length ?? 0) === 3 && (lists["list-trip"]?.length ?? 0) === 2, 180_000)
    await settled(alice)
    await settled(bob)
    await addTodo(alice, "groceries", "Apples")
    await until("Bob to see 4 open groceries", () => titles(bob, "groceries", "open"), (open) => open.length === 4)
    await settled(bob)

    // Bob goes offline. Alice fills the last free place and deletes a todo; Bob, offline, adds
    // to the list he sees with one free place and completes the todo Alice deleted.
    await bob.locator(`[data-testid="toggle-online"]`).click()
    await until("Bob offline", () => bob.locator(`[data-testid="connection"]`).textContent(), (text) => text === "offline")
    await addTodo(alice, "groceries", "Butter")
    await alice.getByRole("button", { name: "Delete Book the train" }).click()
    await until("Alice's delete", () => titles(alice, "trip", "all"), (all) => !all.includes("Book the train"))
    await settled(alice)

    await addTodo(bob, "groceries", "Cheese")
    await list(bob, "trip").locator(`[data-testid="todo"][data-title="Book the train"] input`).click()
    await until("Bob's offline completion", () => titles(bob, "trip", "open"), (open) => !open.includes("Book the train"))
    assert.deepStrictEqual(await titles(bob, "groceries", "open"), ["Milk", "Bread", "Eggs", "Apples", "Cheese"])
    await until("Bob's two actions pending", () => bob.locator(`[data-testid="pending"]`).getAttribute("data-count"), (count) =>
      count === "2")
    await alice.locator(`[data-testid="log"] summary`).click()
    await bob.locator(`[data-testid="log"] summary`).click()
    await page.screenshot({ path: path.join(artifacts, "demo-offline.png"), fullPage: true })

    // Bob comes back: his two actions are rolled back, Alice's applied, his replayed on top.
    await bob.locator(`[data-testid="toggle-online"]`).click()
    await settled(bob)
    await settled(alice)
    const converged = await until(
      "both panes to show the same lists",
      async () => ({ alice: await contents(alice), bob: await contents(bob) }),
      (both) => JSON.stringify(both.alice["list-groceries"]) === JSON.stringify(both.bob["list-groceries"]) &&
        JSON.stringify(both.alice["list-trip"]) === JSON.stringify(both.bob["list-trip"])
    )
    // The rule holds: Bob's add replayed after Alice's found the list full and added nothing.
    assert.deepStrictEqual(converged.bob["list-groceries"], ["Milk", "Bread", "Eggs", "Apples", "Butter"])
    // Completing the deleted todo did nothing: it stays deleted on both sides.
    assert.deepStrictEqual(converged.bob["list-trip"], ["Pack the tent"])
    // Private data stays private: Alice has her list, Bob's database never received it.
    assert.deepStrictEqual(converged.alice["list-alice-private"], ["Buy Bob a birthday present"])
    assert.deepStrictEqual(Object.keys(converged.bob).sort(), ["list-groceries", "list-trip"])
    assert.notInclude(await bob.innerText(), "birthday")
    const bobsLog = await bob.locator(`[data-testid="log"]`).innerText()
    assert.notInclude(bobsLog, "alice-private")
    assert.notInclude(bobsLog, "birthday")
    // Bob's log marks his two offline actions as rolled back and replayed.
    const replayed = await until(
      "Bob's log to mark the replayed actions",
      () =>
        bob.locator(`[data-testid="log-entry"]:has([data-testid="replayed"])`).evaluateAll((rows) =>
          rows.map((row) => row.getAttribute("data-tag") ?? "")
        ),
      (tags) => tags.includes("todo.add.v1") && tags.includes("todo.complete.v1"),
      20_000
    )
    assert.isAtLeast(replayed.length, 2)

    // Bob writes into Alice's private list: the server's row-level security refuses it and his
    // client quarantines it, with the reason, its local effect undone; nothing reaches Alice.
    await bob.locator(`[data-testid="trespass"]`).click()
    const refused = await until(
      "Bob's refused action in his log",
      () =>
        bob.locator(`[data-testid="log-entry"][data-state="quarantined"]`).evaluateAll((rows) =>
          rows.map((row) => `${row.getAttribute("data-tag") ?? ""}: ${row.textContent ?? ""}`)
        ),
      (rows) => rows.length === 1
    )
    assert.include(refused[0], "todo.add.v1")
    assert.include(refused[0], "Forbidden")
    await until("Bob's quarantine badge", () => bob.locator(`[data-testid="quarantined"]`).textContent(), (text) =>
      text === "1 refused")
    await settled(bob)
    assert.deepStrictEqual(await contents(bob), {
      "list-groceries": ["Milk", "Bread", "Eggs", "Apples", "Butter"],
      "list-trip": ["Pack the tent"]
    })
    assert.deepStrictEqual((await contents(alice))["list-alice-private"], ["Buy Bob a birthday present"])
    assert.deepStrictEqual(errors, [])

    await page.screenshot({ path: path.join(artifacts, "demo.png"), fullPage: true })
    fs.copyFileSync(path.join(artifacts, "demo.png"), path.join(appDir, "screenshot.png"))
  } catch (error) {
    // What each pane showed, with its log open, and the demo's output, to tell why.
    await page.screenshot({ path: path.join(artifacts, "demo-failure.png"), fullPage: true }).catch(() => undefined)
    for (const user of ["alice", "bob"] as const) {
      const summary = pane(page, user).locator(`[data-testid="log"]:not([open]) summary`)
      if (await summary.count() > 0) await summary.click().catch(() => undefined)
      console.error(`--- ${user}'s pane ---\n${await pane(page, user).innerText().catch(() => "(unreadable)")}`)
    }
    console.error(`--- the page's errors, warnings and navigations ---\n${[...errors, ...notes].join("\n")}`)
    console.error(`--- the demo's output ---\n${demo.output()}`)
    throw error
  } finally {
    await context.close()
  }

  // Ctrl-C: the demo exits 0 and no Postgres of its data directory is left running.
  const code = await stopDemo(demo)
  assert.strictEqual(code, 0, demo.output())
  assert.deepStrictEqual(postgresUnder(dataDir), [])
  demo = undefined
}, 420_000)
