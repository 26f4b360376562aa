/**
 * What the facade's tests (and its docs' examples) share: a small todo app written only with
 * the promise API, and a real sync server (`SyncRpcServer` on a loopback port over an in-memory
 * PGlite, real HS256 tokens) with the app's tables.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Tracking } from "@reprise/core"
import { Auth, Realtime, SyncRpcServer, SyncService } from "@reprise/server"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { z } from "zod"
import { defineAction } from "../src/index.js"

/** The app's schema. */
export const migrations = [
  {
    name: "todos",
    sql: `CREATE TABLE todos (
      id text PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL, lucky double precision, audience_key text)`
  }
]

/** Adds a todo (zod args); returns its id. */
export const addTodo = defineAction({
  tag: "todo.add.v1",
  args: z.object({ title: z.string().trim().min(1, "a todo needs a title") }),
  run: async (tx, { title }, ctx) => {
    const id = ctx.id("todo")
    await tx.query(
      "INSERT INTO todos (id, title, created_at, lucky, audience_key) VALUES ($1, $2, $3, $4, 'shared')",
      [id, title, new Date(ctx.now()).toISOString(), ctx.random()]
    )
    return id
  }
})

/** Toggles a todo (Effect Schema args); fails when there is none. */
export const toggleTodo = defineAction({
  tag: "todo.toggle.v1",
  args: Schema.Struct({ id: Schema.String }),
  run: async (tx, { id }) => {
    const [row] = await tx.query<{ done: boolean }>("SELECT done FROM todos WHERE id = $1", [id])
    if (row === undefined) throw new Error(`There is no todo ${id}`)
    await tx.query("UPDATE todos SET done = $2 WHERE id = $1", [id, !row.done])
  }
})

/** Reads the clock: development mode's double run catches it. */
export const stampTodo = defineAction({
  tag: "todo.stamp.v1",
  args: z.object({ title: z.string() }),
  run: async (tx, { title }, ctx) => {
    await tx.query("INSERT INTO todos (id, title, created_at, audience_key) VALUES ($1, $2, $3, 'shared')", [
      ctx.id("todo"),
      title,
      new Date(Date.now() + Math.floor(Math.random() * 1_000_000)).toISOString()
    ])
  }
})

/** The HS256 secret the test server verifies tokens with. */
export const secret = Redacted.make("facade-tests-secret-0123456789-abcdefghijkl")

/** A token for `userId`, as an app's `getToken` would fetch it. */
export const tokenFor = (userId: string): Promise<string> =>
  Effect.runPromise(Effect.orDie(Auth.issueDevToken({ secret, userId, ttlSeconds: 3600 })))

/** A server with the app's tables tracked, on a free loopback port; dispose it when done. */
export const startServer = async () => {
  const database = PgliteClient.layer({})
  const schema = Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const step of migrations) yield* sql.unsafe(step.sql)
    yield* Tracking.install(["todos"])
  }))
  const services = schema.pipe(Layer.provideMerge(SyncService.layer()), Layer.provideMerge(database))
  const realtime = Layer.unwrapEffect(
    Effect.map(PgliteClient.PgliteClient, (client) =>
      Realtime.layerWithListen(client.listen, { recheckInterval: "10 minutes", pingInterval: "10 minutes" }))
  )
  const runtime = ManagedRuntime.make(SyncRpcServer.layer({ port: 0, host: "127.0.0.1" }).pipe(
    Layer.provide(Layer.merge(realtime, Auth.layer({ secret }))),
    Layer.provide(services)
  ))
  const address = await runtime.runPromise(SyncRpcServer.Address)
  return { address, dispose: () => runtime.dispose() }
}
