/**
 * `@reprise/server`: validates and stores uploaded actions, assigns the server sequence, serves
 * fetches and materializes canonical tables by applying patches. Never runs app code.
 */
export * as InProcessTransport from "./InProcessTransport.js"
export * as Realtime from "./Realtime.js"
export * as Rls from "./Rls.js"
export * as ServerSchema from "./ServerSchema.js"
export * as SyncCodec from "./SyncCodec.js"
export * as SyncService from "./SyncService.js"
export * as Auth from "./Auth.js"
export * as SyncRpcServer from "./SyncRpcServer.js"
export * as EmbeddedDatabase from "./EmbeddedDatabase.js"
