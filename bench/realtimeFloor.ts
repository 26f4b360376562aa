/**
 * W7's floor, measured in the same run as W7 (bench/network.ts): the same trip with nothing of
 * Reprise's on it. A writes a row with one HTTP POST to a server process
 * (bench/realtimeFloorServer.ts: plain `node:http` and `pg`), whose single statement inserts it
 * into Postgres and NOTIFYs; the server's one LISTEN connection wakes it, it reads the row back
 * and pushes it as a JSON line down B's open HTTP response; B inserts it into its PGlite.
 * Timed: from the start of A's POST until B's insert is done, as W7 times from the start of A's
 * upload until B has applied the action.
 *
 * What the floor leaves out, and W7 does: the action's record and patches, auth, RLS (the
 * request runs as a role with the caller's settings), the sequencing lock and materialization
 * under the author's identity, the page read under the subscriber's identity, the RPC framing,
 * and B's replay and divergence check. So W7 / floor is what Reprise's guarantees cost on the
 * machine, and the floor itself is what the hops between three processes and two databases cost.
 */
import { PGlite } from "@electric-sql/pglite"
import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import pg from "pg"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const DDL = "CREATE TABLE IF NOT EXISTS floor_notes (id text PRIMARY KEY, title text NOT NULL)"

/** W7's floor: the latency of each sample, sorted, with its p50, p99 and max. */
export interface FloorResult {
  readonly samples: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  /** The median time until A's POST was answered (the write committed). */
  readonly written: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const startServer = async (databaseUrl: string) => {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", path.join(root, "bench/realtimeFloorServer.ts")], {
    cwd: root,
    env: { ...process.env, FLOOR_DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "inherit"]
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const parsed: unknown = JSON.parse(line)
        if (typeof parsed === "object" && parsed !== null && "url" in parsed && typeof parsed.url === "string") {
          resolve(parsed.url)
        }
      } catch {
        // not the address line
      }
    })
    void exited.then((code) => reject(new Error(`the W7 floor's server exited (${code}) before listening`)))
  })
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM")
      const code = await exited
      if (code !== 0) throw new Error(`bench (W7 floor): the server exited with ${code} on SIGTERM`)
    }
  }
}

/** B's subscription: each pushed row, in order, to `onRow`; resolves once the response is open. */
const subscribe = (url: string, onRow: (row: { id: string; title: string }) => void) =>
  new Promise<http.ClientRequest>((resolve, reject) => {
    const request = http.get(`${url}/subscribe`, (response) => {
      if (response.statusCode !== 200) return reject(new Error(`W7 floor: subscribe answered ${response.statusCode}`))
      // Ending the subscription aborts the response: not an error of the measurement.
      response.on("error", () => undefined)
      readline.createInterface({ input: response })
        .on("line", (line) => onRow(JSON.parse(line) as { id: string; title: string }))
        .on("error", () => undefined)
      resolve(request)
    })
    request.on("socket", (socket) => socket.setNoDelay(true))
    request.on("error", reject)
  })

/**
 * Runs `warmup` unmeasured then `samples` measured round trips on the Postgres database at
 * `databaseUrl` (the table `floor_notes` is created there) and returns their latencies.
 */
export const realtimeFloor = async (databaseUrl: string, samples: number, warmup = 10): Promise<FloorResult> => {
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  await admin.query(DDL)
  const server = await startServer(databaseUrl)
  const b = await PGlite.create()
  await b.exec(DDL)
  let waiting: { id: string; resolve: (applied: number) => void } | undefined
  // B applies each row as it arrives, one at a time, as a subscriber applies its pages in order.
  let applying = Promise.resolve()
  const subscription = await subscribe(server.url, (row) => {
    applying = applying.then(async () => {
      await b.query("INSERT INTO floor_notes (id, title) VALUES ($1, $2)", [row.id, row.title])
      if (waiting?.id === row.id) waiting.resolve(performance.now())
    })
  })
  try {
    const latencies: Array<number> = []
    const written: Array<number> = []
    for (let i = 0; i < warmup + samples; i++) {
      const id = `floor-${i}-${crypto.randomUUID()}`
      const applied = new Promise<number>((resolve) => {
        waiting = { id, resolve }
      })
      const start = performance.now()
      const response = await fetch(`${server.url}/write`, { method: "POST", body: JSON.stringify({ id, title: `floor ${i}` }) })
      if (response.status !== 204) throw new Error(`W7 floor: the write answered ${response.status}: ${await response.text()}`)
      const answered = performance.now()
      const done = await Promise.race([
        applied,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("W7 floor: B never received the row")), 10_000).unref())
      ])
      if (i >= warmup) {
        latencies.push(done - start)
        written.push(answered - start)
      }
    }
    const { rows } = await b.query<{ n: number }>("SELECT count(*)::int AS n FROM floor_notes")
    if (rows[0]?.n !== warmup + samples) throw new Error(`W7 floor: B holds ${rows[0]?.n} rows, expected ${warmup + samples}`)
    const sorted = [...latencies].sort((x, y) => x - y)
    return {
      samples,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1]!,
      written: percentile([...written].sort((x, y) => x - y), 50)
    }
  } finally {
    subscription.destroy()
    await server.stop()
    await b.close()
    await admin.query("DROP TABLE IF EXISTS floor_notes")
    await admin.end()
  }
}
