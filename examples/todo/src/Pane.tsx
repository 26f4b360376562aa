/**
 * One user's client: its connection switch, sync status and pending badge, its lists (live
 * queries on its own database) and its action log.
 */
import { RepriseProvider, useAction, useLiveQuery, useReprise, useSyncStatus } from "@reprise/react"
import { type FormEvent, useEffect, useRef, useState } from "react"
import { ActionLog } from "./ActionLog.js"
import { addTodo, completeTodo, deleteTodo, reopenTodo } from "./actions.js"
import { clientFor, type TodoClient } from "./clients.js"
import { demoLists, MAX_OPEN_TODOS, type User } from "./schema.js"

const names: Record<User, string> = { alice: "Alice", bob: "Bob" }

/** A user's pane: opens the user's client, then shows it. */
export const Pane = ({ user }: { readonly user: User }) => {
  const [client, setClient] = useState<TodoClient | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  useEffect(() => {
    let live = true
    clientFor(user).then(
      (opened) => live && setClient(opened),
      (cause: unknown) => live && setError(cause instanceof Error ? cause.message : String(cause))
    )
    return () => {
      live = false
    }
  }, [user])
  return (
    <section className="pane" data-testid={`pane-${user}`} data-user={user}>
      {client === undefined
        ? (
          <>
            <h2>{names[user]}</h2>
            {error === undefined ? <p>Opening {names[user]}'s database…</p> : <p role="alert">Could not open: {error}</p>}
          </>
        )
        : (
          <RepriseProvider reprise={client}>
            <PaneBody user={user} />
          </RepriseProvider>
        )}
    </section>
  )
}

const PaneBody = ({ user }: { readonly user: User }) => {
  const reprise = useReprise<TodoClient>()
  const status = useSyncStatus()
  const [online, setOnline] = useState(true)
  const lists = useLiveQuery<{ id: string; name: string }>("SELECT id, name FROM lists ORDER BY created_at, id")
  useSeed(user, reprise, status.lastSyncAt !== null, lists?.length)
  const toggle = async () => {
    const next = !online
    setOnline(next)
    await reprise.setOnline(next)
  }
  return (
    <>
      <header className="pane-header">
        <h2>{names[user]}</h2>
        <span className={`status status-${status.connection}`} data-testid="connection">{status.connection}</span>
        <span className={`badge${status.pending > 0 ? " badge-pending" : ""}`} data-testid="pending" data-count={status.pending}>
          {status.pending} pending
        </span>
        {status.quarantined > 0 && <span className="badge badge-quarantined" data-testid="quarantined">{status.quarantined} refused</span>}
        <span className="synced-at" data-testid="caught-up" data-value={String(status.caughtUp)}>
          {status.caughtUp ? "in sync" : status.lastSyncAt === null ? "not synced yet" : "behind"}
        </span>
        <button type="button" data-testid="toggle-online" onClick={() => void toggle()}>
          {online ? "Go offline" : "Go online"}
        </button>
      </header>
      {status.lastError !== null && <p className="error" role="status">Sync: {status.lastError.message}</p>}
      {lists === undefined ? <p>Loading…</p> : lists.length === 0
        ? <p className="muted">No lists yet{user === "alice" ? " (Alice creates the demo's lists after her first sync)" : ""}.</p>
        : lists.map((list) => <TodoList key={list.id} id={list.id} name={list.name} />)}
      {user === "bob" && <Trespass />}
      <ActionLog />
    </>
  )
}

/** Alice creates the demo's lists (one action each) once her first sync finds none. */
const useSeed = (user: User, reprise: TodoClient, synced: boolean, lists: number | undefined) => {
  const seeded = useRef(false)
  useEffect(() => {
    if (user !== "alice" || !synced || lists !== 0 || seeded.current) return
    seeded.current = true
    void (async () => {
      for (const list of demoLists) {
        await reprise.actions.createList({ id: list.id, name: list.name })
        for (const title of list.todos) await reprise.actions.addTodo({ listId: list.id, title })
      }
    })()
  }, [user, reprise, synced, lists])
}

interface Todo {
  readonly id: string
  readonly title: string
  readonly done: boolean
}

const TodoList = ({ id, name }: { readonly id: string; readonly name: string }) => {
  const todos = useLiveQuery<Todo>("SELECT id, title, done FROM todos WHERE list_id = $1 ORDER BY created_at, id", [id])
  const open = todos?.filter((todo) => !todo.done).length ?? 0
  const complete = useAction(completeTodo)
  const reopen = useAction(reopenTodo)
  const remove = useAction(deleteTodo)
  return (
    <article className="list" data-testid={`list-${id}`} data-open={open}>
      <h3>
        {name} <span className={`count${open >= MAX_OPEN_TODOS ? " count-full" : ""}`}>{open}/{MAX_OPEN_TODOS} open</span>
      </h3>
      <ul>
        {(todos ?? []).map((todo) => (
          <li key={todo.id} data-testid="todo" data-title={todo.title} data-done={String(todo.done)} className={todo.done ? "done" : ""}>
            <label>
              <input
                type="checkbox"
                checked={todo.done}
                onChange={() => void (todo.done ? reopen.run({ id: todo.id }) : complete.run({ id: todo.id }))}
              />
              {todo.title}
            </label>
            <button type="button" className="delete" title="Delete" aria-label={`Delete ${todo.title}`} onClick={() => void remove.run({ id: todo.id })}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <NewTodo listId={id} />
    </article>
  )
}

const NewTodo = ({ listId }: { readonly listId: string }) => {
  const [title, setTitle] = useState("")
  const [note, setNote] = useState<string | undefined>(undefined)
  const add = useAction(addTodo)
  const submit = async (event: FormEvent) => {
    event.preventDefault()
    const result = await add.run({ listId, title })
    if (result === undefined) return
    setNote(result.added ? undefined : `The list is full: at most ${MAX_OPEN_TODOS} open todos.`)
    if (result.added) setTitle("")
  }
  return (
    <form className="new-todo" onSubmit={(event) => void submit(event)}>
      <input value={title} onChange={(event) => setTitle(event.target.value)} placeholder="New todo" aria-label="New todo" data-testid="new-todo" />
      <button type="submit" disabled={add.pending} data-testid="add">Add</button>
      {add.error !== null && <p role="alert" className="error">{add.error.message}</p>}
      {note !== undefined && <p role="alert" className="note">{note}</p>}
    </form>
  )
}

/**
 * Bob tries to write into Alice's private list, which his replica does not even know: the action
 * runs locally (the app's code has no idea who may write where), the server's row-level security
 * refuses it, and the client quarantines it, its local effect undone, with the server's reason.
 */
const Trespass = () => {
  const add = useAction(addTodo)
  return (
    <p className="trespass">
      <button type="button" data-testid="trespass" onClick={() => void add.run({ listId: "alice-private", title: "Bob was here" })}>
        Try to add a todo to Alice's private list
      </button>{" "}
      <span className="muted">(the server refuses it; see the log)</span>
    </p>
  )
}
