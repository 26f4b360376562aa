/**
 * `@reprise/sync-suite`: the sync engine's end-to-end scenarios, for every transport to run.
 * Private: a test package, so that neither the client nor the server library depends on the
 * other.
 */
export * as SyncSuite from "./SyncSuite.js"
