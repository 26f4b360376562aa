/**
 * Hooks over the Reprise client in context (`RepriseProvider`): live queries (PGlite's live
 * extension through `@electric-sql/pglite-react`), running an action with its pending and error
 * state, the sync status, and the quarantine.
 */
import { useLiveQuery as usePGliteLiveQuery } from "@electric-sql/pglite-react"
import { type Reprise, RepriseError } from "@reprise/client"
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react"
import { useReprise } from "./Provider.js"

type ArgsOf<X> = Reprise.ArgsOf<X>
type ResultOf<X> = Reprise.ResultOf<X>

/**
 * The rows of a live query on the client's database, re-rendered after every change that
 * affects them; `undefined` until the first result. `params` are compared by value, so an
 * inline array does not restart the query.
 *
 * @example
 * ```tsx
 * const todos = useLiveQuery<{ id: string; title: string }>("SELECT id, title FROM todos WHERE list = $1", [list])
 * if (todos === undefined) return <Spinner />
 * ```
 */
export const useLiveQuery = <Row extends object = Record<string, unknown>>(
  sql: string,
  params: ReadonlyArray<unknown> = []
): ReadonlyArray<Row> | undefined => {
  useReprise()
  const stable = useStableParams(params)
  return usePGliteLiveQuery<Row>(sql, stable)?.rows
}

/** The state of `useAction`. */
export interface ActionState<X extends Reprise.AnyAction> {
  /**
   * Runs the action with its schema's input. Resolves with its result, or `undefined` when it
   * failed (the error is then in `error`): it never rejects, so `onClick={() => run(args)}` is safe.
   */
  readonly run: (args: ArgsOf<X>) => Promise<ResultOf<X> | undefined>
  /** Whether a run is under way. */
  readonly pending: boolean
  /** The last run's error (a `RepriseError` with its typed `tag`); cleared when a run starts. */
  readonly error: RepriseError | null
  /** Clears `error`. */
  readonly reset: () => void
}

/** Runs `action` on the client in context, with its pending and error state. */
export const useAction = <X extends Reprise.AnyAction>(action: X): ActionState<X> => {
  const reprise = useReprise()
  const [running, setRunning] = useState(0)
  const [error, setError] = useState<RepriseError | null>(null)
  const mounted = useMounted()
  const run = useCallback(async (args: ArgsOf<X>): Promise<ResultOf<X> | undefined> => {
    setError(null)
    setRunning((n) => n + 1)
    try {
      return await reprise.run(action, args) as ResultOf<X>
    } catch (cause) {
      if (mounted.current) setError(RepriseError.from(cause))
      return undefined
    } finally {
      if (mounted.current) setRunning((n) => n - 1)
    }
  }, [reprise, action, mounted])
  const reset = useCallback(() => setError(null), [])
  return { run, pending: running > 0, error, reset }
}

/** The sync status (connection, pending and quarantined counts, last sync, last error), re-rendered on change. */
export const useSyncStatus = (): Reprise.Status => {
  const reprise = useReprise()
  return useSyncExternalStore(reprise.status.subscribe, () => reprise.status.current, () => reprise.status.current)
}

/** The state of `useQuarantine`. */
export interface QuarantineState {
  /** The actions the server rejected, in global order; `undefined` until first read. */
  readonly actions: ReadonlyArray<Reprise.QuarantinedAction> | undefined
  /** Drops one for good. */
  readonly discard: (id: string) => Promise<void>
  /** Sends one back to the pending queue (applied again locally, uploaded by the next sync). */
  readonly retry: (id: string) => Promise<void>
  /** The last error of a read, discard or retry. */
  readonly error: RepriseError | null
}

/** The quarantine (R-REC-3), read again whenever the status's quarantined count changes. */
export const useQuarantine = (): QuarantineState => {
  const reprise = useReprise()
  const status = useSyncStatus()
  const [actions, setActions] = useState<ReadonlyArray<Reprise.QuarantinedAction> | undefined>(undefined)
  const [error, setError] = useState<RepriseError | null>(null)
  const [revision, setRevision] = useState(0)
  const mounted = useMounted()
  useEffect(() => {
    reprise.quarantine.list().then(
      (list) => mounted.current && setActions(list),
      (cause: unknown) => mounted.current && setError(RepriseError.from(cause))
    )
  }, [reprise, status.quarantined, revision, mounted])
  const act = useCallback((f: (id: string) => Promise<void>) => async (id: string) => {
    try {
      await f(id)
    } catch (cause) {
      if (mounted.current) setError(RepriseError.from(cause))
    } finally {
      if (mounted.current) setRevision((n) => n + 1)
    }
  }, [mounted])
  const discard = useMemo(() => act(reprise.quarantine.discard), [act, reprise])
  const retry = useMemo(() => act(reprise.quarantine.retry), [act, reprise])
  return { actions, discard, retry, error }
}

/** Whether the component is still mounted (so late promises do not set state after unmount). */
const useMounted = () => {
  const mounted = useRef(true)
  useEffect(() => {
    mounted.current = true
    return () => {
      mounted.current = false
    }
  }, [])
  return mounted
}

/** `params` as an array whose identity changes only when its values do. */
const useStableParams = (params: ReadonlyArray<unknown>): Array<unknown> => {
  const ref = useRef<Array<unknown>>([...params])
  const key = JSON.stringify(params)
  const last = useRef(key)
  if (last.current !== key) {
    last.current = key
    ref.current = [...params]
  }
  return ref.current
}
