/**
 * The server process of W7's floor (bench/realtimeFloor.ts): the least a realtime round trip
 * through Postgres can do, with no Reprise, no Effect and no RPC framework. Plain `node:http`
 * and `pg` on the database `FLOOR_DATABASE_URL`:
 *
 * - `POST /write` with `{"id","title"}`: ONE autocommit statement inserts the row into
 *   `floor_notes` and NOTIFYs its id (delivered at commit), then answers 204;
 * - `GET /subscribe`: a response kept open; for every notification (one LISTEN connection for
 *   the process) the row is read back through the pool and written to every subscriber as one
 *   JSON line.
 *
 * Nagle is off on every socket, as the Reprise server's are. It prints `{"url": "http://..."}`
 * once it listens, and stops on SIGTERM.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import pg from "pg"

const url = process.env["FLOOR_DATABASE_URL"]
if (url === undefined || url === "") throw new Error("bench/realtimeFloorServer.ts: FLOOR_DATABASE_URL is not set")

const channel = "floor_notes_written"
const pool = new pg.Pool({ connectionString: url, max: 4 })
const listener = new pg.Client({ connectionString: url })
await listener.connect()
await listener.query(`LISTEN ${channel}`)

const subscribers = new Set<http.ServerResponse>()
listener.on("notification", (message) => {
  if (message.payload === undefined) return
  void pool.query<{ id: string; title: string }>("SELECT id, title FROM floor_notes WHERE id = $1", [message.payload])
    .then(({ rows }) => {
      const line = `${JSON.stringify(rows[0])}\n`
      for (const response of subscribers) response.write(line)
    })
})

const readBody = (request: http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const server = http.createServer((request, response) => {
  if (request.method === "POST" && request.url === "/write") {
    void readBody(request)
      .then((body) => {
        const { id, title } = JSON.parse(body) as { id: string; title: string }
        return pool.query(
          `WITH written AS (INSERT INTO floor_notes (id, title) VALUES ($1, $2) RETURNING id)
           SELECT pg_notify('${channel}', id) FROM written`,
          [id, title]
        )
      })
      .then(() => response.writeHead(204).end(), (error: unknown) => response.writeHead(500).end(String(error)))
    return
  }
  if (request.method === "GET" && request.url === "/subscribe") {
    response.writeHead(200, { "content-type": "application/x-ndjson" })
    response.flushHeaders()
    subscribers.add(response)
    request.on("close", () => subscribers.delete(response))
    return
  }
  response.writeHead(404).end()
})
server.on("connection", (socket) => socket.setNoDelay(true))
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`)
})

process.once("SIGTERM", () => {
  for (const response of subscribers) response.end()
  server.close()
  server.closeAllConnections()
  void Promise.all([listener.end(), pool.end()]).then(() => process.exit(0), () => process.exit(1))
})
