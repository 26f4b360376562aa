/**
 * `@reprise/react`: React bindings for a Reprise client (the promise facade): `RepriseProvider`,
 * and hooks for live queries, actions (pending and error state), the sync status and the
 * quarantine.
 */
export { type AnyReprise, RepriseProvider, type RepriseProviderProps, useReprise } from "./Provider.js"
export { type ActionState, type QuarantineState, useAction, useLiveQuery, useQuarantine, useSyncStatus } from "./hooks.js"
