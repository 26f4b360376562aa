/**
 * A client's action log, through the facade's inspector (`reprise.inspect`) and quarantine (no
 * SQL on Reprise's tables): each action's tag, args, HLC and author, pending or synced (with its
 * server sequence), the quarantined ones with the server's reason, and the last sync's report.
 *
 * Which actions a reconcile rolled back and replayed: the API reports how many
 * (`SyncReport.replayed`, shown as the last sync's report), not which. This log derives which
 * from the algorithm's definition (R-SYNC-2, R-SYNC-4): an action from elsewhere that arrives
 * with an HLC earlier than actions this replica already held is put in its place, so every held
 * action after it in the global order was rolled back and replayed. The marks say they are
 * derived, comparing the log before and after each change.
 */
import type { Inspect } from "@reprise/client"
import { useReprise, useSyncStatus } from "@reprise/react"
import { useCallback, useEffect, useRef, useState } from "react"
import type { TodoClient } from "./clients.js"

type ActionInfo = Inspect.ActionInfo
type Quarantined = Awaited<ReturnType<TodoClient["quarantine"]["list"]>>[number]
type LastSync = Awaited<ReturnType<TodoClient["inspect"]["lastSync"]>>

interface Snapshot {
  readonly pending: ReadonlyArray<ActionInfo>
  readonly synced: ReadonlyArray<ActionInfo>
  readonly quarantined: ReadonlyArray<Quarantined>
  readonly lastSync: LastSync
}

/** How many actions the log shows until "show all". */
const LATEST = 8

/** An HLC (`<wall ms>.<counter>.<node>`) as its wall time of day and counter; the full one in its title. */
const shortHlc = (hlc: string) => {
  const [wall, counter] = hlc.split(".")
  const ms = Number(wall)
  if (!Number.isFinite(ms)) return hlc
  const time = new Date(ms).toISOString().slice(11, 23)
  return `${time}${counter !== undefined && Number(counter) > 0 ? `+${Number(counter)}` : ""}`
}
const argsText = (args: unknown) => JSON.stringify(args)

/** The log of the client in context; collapsed until opened. */
export const ActionLog = () => {
  const reprise = useReprise<TodoClient>()
  const status = useSyncStatus()
  const [open, setOpen] = useState(false)
  const [snapshot, setSnapshot] = useState<Snapshot | undefined>(undefined)
  const seen = useRef(new Map<string, string>())
  const replayed = useRef(new Map<string, string>())

  const queue = useRef<Promise<void>>(Promise.resolve())

  // One read at a time, so each compares with the one before it.
  const read = useCallback(async () => {
    const [pending, synced, quarantined, lastSync] = await Promise.all([
      reprise.inspect.pending(),
      reprise.inspect.synced(),
      reprise.quarantine.list(),
      reprise.inspect.lastSync()
    ])
    const before = seen.current
    const arrived = synced.filter((action) => !action.own && !before.has(action.id))
    if (before.size > 0 && arrived.length > 0) {
      const earliest = arrived.map((action) => action.hlc).reduce((a, b) => (a < b ? a : b))
      const first = arrived.find((action) => action.hlc === earliest)
      for (const [id, hlc] of before) {
        if (hlc > earliest) replayed.current.set(id, first === undefined ? "an earlier action" : `${first.tag} by ${first.userId ?? "?"}`)
      }
    }
    const next = new Map<string, string>()
    for (const action of [...synced, ...pending]) next.set(action.id, action.hlc)
    seen.current = next
    setSnapshot({ pending, synced, quarantined, lastSync })
  }, [reprise])
  const load = useCallback(() => {
    queue.current = queue.current.then(read).catch(() => undefined)
    return queue.current
  }, [read])

  // Reload on every status change (actions, syncs, connection) and, while open, every second.
  useEffect(() => {
    void load()
  }, [load, status])
  useEffect(() => {
    if (!open) return
    const timer = setInterval(() => void load(), 1000)
    return () => clearInterval(timer)
  }, [load, open])

  // In the server's order (sorted here too: see the report in /work/helpers/D1-bugs.md), then
  // the pending ones in upload order.
  const all = snapshot === undefined
    ? []
    : [...[...snapshot.synced].sort((a, b) => (a.serverSeq ?? 0) - (b.serverSeq ?? 0)), ...snapshot.pending]
  // The newest first; the older ones behind "show all".
  const [showAll, setShowAll] = useState(false)
  const newest = [...all].reverse()
  const rows = showAll ? newest : newest.slice(0, LATEST)
  const last = snapshot?.lastSync
  return (
    <details className="log" data-testid="log" onToggle={(event) => setOpen((event.target as HTMLDetailsElement).open)}>
      <summary>
        Action log ({all.length}{snapshot !== undefined && snapshot.quarantined.length > 0 ? `, ${snapshot.quarantined.length} refused` : ""})
      </summary>
      {last !== null && last !== undefined && (
        <p className="last-sync" data-testid="last-sync">
          Last sync:{" "}
          {last.ok
            ? `fetched ${last.report.fetched}, uploaded ${last.report.uploaded}, reconciled ${last.report.reconciled}, ` +
              `replayed ${last.report.replayed}, corrections ${last.report.corrections}`
            : `failed (${last.error.tag}): ${last.error.message}`}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>#</th>
            <th>action</th>
            <th>args</th>
            <th>HLC</th>
            <th>by</th>
            <th>state</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((action) => {
            const replayedAfter = replayed.current.get(action.id)
            return (
              <tr key={action.id} data-testid="log-entry" data-tag={action.tag} data-state={action.synced ? "synced" : "pending"}>
                <td>{action.serverSeq ?? ""}</td>
                <td>{action.kind === "action" ? action.tag : `${action.kind}: ${action.tag}`}</td>
                <td className="args">{argsText(action.args)}</td>
                <td className="hlc" title={action.hlc}>{shortHlc(action.hlc)}</td>
                <td>{action.own ? "this replica" : action.userId ?? "?"}</td>
                <td>
                  <span className={action.synced ? "state-synced" : "state-pending"}>{action.synced ? "synced" : "pending"}</span>
                  {replayedAfter !== undefined && (
                    <span
                      className="state-replayed"
                      data-testid="replayed"
                      title={`Derived: rolled back and replayed when ${replayedAfter} arrived before it in the global order`}
                    >
                      {" "}rolled back + replayed
                    </span>
                  )}
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {newest.length > LATEST && (
        <button type="button" className="link" onClick={() => setShowAll(!showAll)}>
          {showAll ? "Show the latest only" : `Show all ${newest.length}`}
        </button>
      )}
      {(snapshot?.quarantined ?? []).length > 0 && <h4>Refused by the server (quarantined, local effects undone)</h4>}
      {(snapshot?.quarantined ?? []).map((action) => (
        <div key={action.id} data-testid="log-entry" data-tag={action.tag} data-state="quarantined" className="quarantined">
          <code>{action.tag}</code> <code className="args">{argsText(action.args)}</code> <span className="hlc">{shortHlc(action.hlc)}</span>
          <p>
            <strong>{action.reason}</strong>: {action.detail}{" "}
            <button type="button" data-testid="discard" onClick={() => void reprise.quarantine.discard(action.id).then(load)}>
              Discard
            </button>
          </p>
        </div>
      ))}
    </details>
  )
}
