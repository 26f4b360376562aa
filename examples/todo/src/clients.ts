/**
 * One Reprise client per demo user, each with its own PGlite database in IndexedDB
 * (`idb://reprise-todo-alice`, `idb://reprise-todo-bob`), syncing over WebSocket through the
 * page's origin (the dev server proxies `/rpc` to the sync server). Tokens come from the dev
 * server's `/dev/token` (the demo's stand-in for a sign-in).
 *
 * Opened once per page: PGlite lets one instance at a time hold a database.
 */
import { createReprise, type RepriseClient } from "@reprise/client"
import { actions } from "./actions.js"
import { migrations, tables, type User } from "./schema.js"

const syncUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rpc/ws`

const getToken = (user: User) => async (): Promise<string> => {
  const response = await fetch(`/dev/token?user=${user}`)
  if (!response.ok) throw new Error(`the dev server refused a token for ${user}: ${response.status} ${await response.text()}`)
  return response.text()
}

/** A demo user's client. */
export type TodoClient = RepriseClient<typeof actions>

const open = (user: User): Promise<TodoClient> =>
  createReprise({
    storage: `idb://reprise-todo-${user}`,
    migrations,
    tables,
    actions,
    userId: user,
    server: { url: syncUrl(), getToken: getToken(user), transport: "websocket" }
  })

const opened = new Map<User, Promise<TodoClient>>()

/** The client of `user`, opened on first use. */
export const clientFor = (user: User): Promise<TodoClient> => {
  let client = opened.get(user)
  if (client === undefined) {
    client = open(user)
    opened.set(user, client)
  }
  return client
}
