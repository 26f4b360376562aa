/**
 * Who holds an embedded data directory: a lock file naming the live server process that uses
 * it, and the Postgres a killed server left running (found through Postgres's own
 * `postmaster.pid`), which the next server stops before starting its own.
 */
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"

const lockName = "server.pid"

/** Whether a process with this id exists (one we may not signal exists too). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * The command line of `pid` where the system shows it (`/proc`), else `undefined`: used to tell
 * a reused process id from the process that wrote a pid file.
 */
const commandLine = (pid: number): string | undefined => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\u0000", " ")
  } catch {
    return undefined
  }
}

const readPid = async (file: string): Promise<number | undefined> => {
  try {
    const first = (await fsp.readFile(file, "utf8")).split("\n")[0] ?? ""
    const pid = Number.parseInt(first.trim(), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Takes the data directory for this process: `undefined` when taken, else the id of the live
 * server process holding it. A lock whose process is gone (a killed server) is taken over.
 */
export const lock = async (root: string): Promise<number | undefined> => {
  const file = path.join(root, lockName)
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fsp.writeFile(file, `${process.pid}\n`, { flag: "wx", mode: 0o644 })
      return undefined
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    const holder = await readPid(file)
    if (holder === process.pid) return undefined
    if (holder !== undefined && isAlive(holder)) {
      const command = commandLine(holder)
      if (command === undefined || command.includes("reprise")) return holder
    }
    await fsp.rm(file, { force: true })
  }
  throw new Error(`could not take ${file}: it keeps reappearing`)
}

/** Gives the data directory up (only if this process holds it). */
export const unlock = async (root: string): Promise<void> => {
  const file = path.join(root, lockName)
  if ((await readPid(file)) === process.pid) await fsp.rm(file, { force: true })
}

const waitForExit = async (pid: number, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return !isAlive(pid)
}

/**
 * Stops the Postgres still running on `pgData` though no server holds it (its server was killed
 * with `kill -9`): a fast shutdown, then an immediate one if it does not end in 30 s. Returns
 * its process id, or `undefined` when none was running. Call only while holding the lock.
 */
export const stopOrphan = async (pgData: string): Promise<number | undefined> => {
  const pid = await readPid(path.join(pgData, "postmaster.pid"))
  if (pid === undefined || !isAlive(pid)) return undefined
  const command = commandLine(pid)
  if (command !== undefined && !command.includes(pgData)) return undefined // a reused process id
  process.kill(pid, "SIGINT")
  if (await waitForExit(pid, 30_000)) return pid
  process.kill(pid, "SIGQUIT")
  if (await waitForExit(pid, 10_000)) return pid
  throw new Error(`a Postgres left running on it (pid ${pid}) does not stop; stop it by hand`)
}
