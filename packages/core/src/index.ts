/**
 * `@reprise/core`: the data model, hybrid logical clocks, actions and their deterministic
 * execution, and the SQL that captures and applies row patches.
 */
export * as Action from "./Action.js"
export * as ActionExecutor from "./ActionExecutor.js"
export * as ActionIds from "./ActionIds.js"
export * as ActionRegistry from "./ActionRegistry.js"
export * as CorrectionPlanner from "./CorrectionPlanner.js"
export * as Hlc from "./Hlc.js"
export * as Patch from "./Patch.js"
export * as Quarantine from "./Quarantine.js"
export * as RpcTransport from "./RpcTransport.js"
export * as SqlCapabilities from "./SqlCapabilities.js"
export * as SqlArray from "./SqlArray.js"
export * as SyncEngine from "./SyncEngine.js"
export * as SyncPlanner from "./SyncPlanner.js"
export * as SyncProtocol from "./SyncProtocol.js"
export * as SyncRpc from "./SyncRpc.js"
export * as SyncServer from "./SyncServer.js"
export * as SyncSchema from "./SyncSchema.js"
export * as SyncTransport from "./SyncTransport.js"
export * as Tracking from "./Tracking.js"
