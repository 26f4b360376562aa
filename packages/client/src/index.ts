/**
 * `@reprise/client`: the client an app opens (`Client.layer`), where it keeps its data
 * (`Storage`), its schema (`Migrations`), its database (`ClientDatabase`) and what it holds
 * (`Inspect`).
 */
export * as Client from "./Client.js"
export * as ClientDatabase from "./ClientDatabase.js"
export * as Connection from "./Connection.js"
export * as Errors from "./errors.js"
export * as Inspect from "./Inspect.js"
export * as Migrations from "./Migrations.js"
export * as PromiseAction from "./PromiseAction.js"
export * as Reprise from "./Reprise.js"
export * as Storage from "./Storage.js"
export * as SyncLoop from "./SyncLoop.js"
export * as SyncStatus from "./SyncStatus.js"
export * as Transport from "./Transport.js"
// The promise facade, for apps without Effect: `import { defineAction, RepriseError } from "@reprise/client"`.
export { defineAction } from "./PromiseAction.js"
export { createReprise, type Reprise as RepriseClient } from "./Reprise.js"
export { isRepriseError, RepriseError } from "./internal/promiseErrors.js"
