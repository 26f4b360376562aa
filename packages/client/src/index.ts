/**
 * `@reprise/client`: the client an app opens (`Client.layer`), where it keeps its data
 * (`Storage`), its schema (`Migrations`), its database (`ClientDatabase`) and what it holds
 * (`Inspect`).
 */
export * as Client from "./Client.js"
export * as ClientDatabase from "./ClientDatabase.js"
export * as Errors from "./errors.js"
export * as Inspect from "./Inspect.js"
export * as Migrations from "./Migrations.js"
export * as Storage from "./Storage.js"
