/**
 * Where a client keeps its database. PGlite runs in memory, in a Node directory, in the
 * browser's IndexedDB (the browser default: it survives reloads and works on the main thread),
 * or in the Origin Private File System through access handles (faster, but only inside a
 * dedicated Worker).
 *
 * A `Storage` is a plain value; `dataDir` checks it against the platform it runs on and turns
 * it into PGlite's `dataDir`, so a spec that cannot work here (IndexedDB in Node, a directory in
 * a browser, an empty name) is a typed `InvalidStorage` before PGlite is started.
 *
 * @example
 * ```ts
 * Storage.indexedDb("notes-app")       // browser
 * Storage.directory("./data/notes")    // Node
 * Storage.memory()                     // tests
 * ```
 */
import * as Effect from "effect/Effect"
import { InvalidStorage } from "./errors.js"

/** Where PGlite keeps the client's data. */
export type Storage =
  | { readonly _tag: "Memory" }
  | { readonly _tag: "Directory"; readonly path: string }
  | { readonly _tag: "IndexedDb"; readonly name: string }
  | { readonly _tag: "Opfs"; readonly name: string }

/** In memory: gone when the client closes. For tests and throwaway sessions. */
export const memory = (): Storage => ({ _tag: "Memory" })

/** A directory on disk (Node); created when missing. */
export const directory = (path: string): Storage => ({ _tag: "Directory", path })

/** An IndexedDB database named `name` (browser; the default there). */
export const indexedDb = (name: string): Storage => ({ _tag: "IndexedDb", name })

/** A directory named `name` in the Origin Private File System (browser, inside a dedicated Worker only). */
export const opfs = (name: string): Storage => ({ _tag: "Opfs", name })

/**
 * Reads a storage spec written as PGlite's `dataDir`: `memory://`, `idb://name`,
 * `opfs-ahp://name`, `file://path` or a bare path.
 */
export const fromDataDir = (dataDir: string): Storage =>
  dataDir === "" || dataDir === "memory://" ? memory()
  : dataDir.startsWith("idb://") ? indexedDb(dataDir.slice("idb://".length))
  : dataDir.startsWith("opfs-ahp://") ? opfs(dataDir.slice("opfs-ahp://".length))
  : dataDir.startsWith("file://") ? directory(dataDir.slice("file://".length))
  : directory(dataDir)

/** A storage spec as a person reads it, for messages. */
export const describe = (storage: Storage): string => {
  switch (storage._tag) {
    case "Memory":
      return "memory"
    case "Directory":
      return `directory ${JSON.stringify(storage.path)}`
    case "IndexedDb":
      return `IndexedDB ${JSON.stringify(storage.name)}`
    case "Opfs":
      return `OPFS ${JSON.stringify(storage.name)}`
  }
}

/** Whether the data outlives the client (everything but memory). */
export const isPersistent = (storage: Storage): boolean => storage._tag !== "Memory"

/**
 * PGlite's `dataDir` for `storage` (undefined for memory), after checking that it can work on
 * this platform.
 */
export const dataDir = (storage: Storage): Effect.Effect<string | undefined, InvalidStorage> =>
  Effect.suspend(() => {
    const fail = (detail: string) => Effect.fail(new InvalidStorage({ storage: describe(storage), detail }))
    switch (storage._tag) {
      case "Memory":
        return Effect.succeed(undefined)
      case "Directory": {
        if (storage.path.trim() === "") return fail("the directory path is empty; give a path such as \"./data/my-app\"")
        if (inBrowser()) return fail("a directory needs Node's file system; in a browser use Storage.indexedDb(name)")
        return Effect.succeed(storage.path)
      }
      case "IndexedDb": {
        const problem = nameProblem(storage.name)
        if (problem !== undefined) return fail(problem)
        if (!hasGlobal("indexedDB")) {
          return fail("IndexedDB is not available here (Node has none); use Storage.directory(path) in Node")
        }
        return Effect.succeed(`idb://${storage.name}`)
      }
      case "Opfs": {
        const problem = nameProblem(storage.name)
        if (problem !== undefined) return fail(problem)
        if (!hasOpfs()) {
          return fail("the Origin Private File System is not available here (it needs a browser's navigator.storage); " +
            "use Storage.indexedDb(name) in a browser or Storage.directory(path) in Node")
        }
        if (!inWorker()) {
          return fail("PGlite's OPFS storage needs synchronous access handles, which browsers give only to dedicated " +
            "Workers: open the client inside a Worker, or use Storage.indexedDb(name) on the main thread")
        }
        return Effect.succeed(`opfs-ahp://${storage.name}`)
      }
    }
  })

const nameProblem = (name: string): string | undefined =>
  name.trim() === ""
    ? "the name is empty; give the app's database a name such as \"my-app\""
    : /[/\\]/.test(name)
    ? `the name ${JSON.stringify(name)} contains a slash; use a plain name such as "my-app"`
    : undefined

const hasGlobal = (name: string): boolean => (globalThis as Record<string, unknown>)[name] !== undefined

const inBrowser = (): boolean => hasGlobal("window") || inWorker()

const inWorker = (): boolean => {
  const scope = (globalThis as { readonly WorkerGlobalScope?: unknown }).WorkerGlobalScope
  return typeof scope === "function" && globalThis instanceof (scope as new() => object)
}

const hasOpfs = (): boolean => {
  const nav = (globalThis as { readonly navigator?: { readonly storage?: { readonly getDirectory?: unknown } } }).navigator
  return typeof nav?.storage?.getDirectory === "function"
}
