/**
 * `RepriseProvider`: makes a Reprise client (the promise facade, `createReprise`) available to
 * the hooks below it, and gives its PGlite instance to `@electric-sql/pglite-react`'s provider,
 * so `useLiveQuery` (and pglite-react's own hooks) run on the client's database.
 *
 * @example
 * ```tsx
 * const reprise = await createReprise({ storage: "idb://todos", migrations, tables: ["todos"], actions, userId })
 * createRoot(document.getElementById("root")!).render(
 *   <RepriseProvider reprise={reprise}><App /></RepriseProvider>
 * )
 * ```
 */
import { PGliteProvider } from "@electric-sql/pglite-react"
import type { Reprise } from "@reprise/client"
import { createContext, type ReactNode, useContext } from "react"

/** A facade with any actions: what the hooks need of it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyReprise = Reprise.Reprise<any>

const RepriseContext = createContext<AnyReprise | undefined>(undefined)

/** The props of `RepriseProvider`. */
export interface RepriseProviderProps {
  /** The client, from `createReprise(...)`; the app opens it (and closes it) itself. */
  readonly reprise: AnyReprise
  readonly children?: ReactNode
}

/** Provides `reprise` to the hooks in `children` (and its PGlite to pglite-react's). */
export const RepriseProvider = ({ children, reprise }: RepriseProviderProps) => (
  <RepriseContext.Provider value={reprise}>
    <PGliteProvider db={reprise.pglite}>{children}</PGliteProvider>
  </RepriseContext.Provider>
)

/**
 * The client given to the nearest `RepriseProvider`. Pass your app's type to get its action
 * functions typed: `useReprise<typeof reprise>()`.
 */
export const useReprise = <R extends AnyReprise = AnyReprise>(): R => {
  const reprise = useContext(RepriseContext)
  if (reprise === undefined) {
    throw new Error(
      "No Reprise client here: wrap your app in <RepriseProvider reprise={await createReprise(...)}> " +
        "(from @reprise/react) before using its hooks."
    )
  }
  return reprise as R
}
