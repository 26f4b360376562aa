/**
 * Why a schedule stops before its checks, and the crash the simulation injects into a replica.
 * The report names a stopped schedule by the error's message.
 *
 * @internal
 */
import * as Data from "effect/Data"
import type { CrashPoint } from "../Simulation.js"

/**
 * A crash the simulation injects inside a replica's operation, as a defect: the operation's
 * fiber dies with it and the scheduler restarts the replica. @internal
 */
export class SimulatedCrash extends Data.TaggedError("SimulatedCrash")<{ readonly point: CrashPoint }> {}

/** The schedule does not fit the configuration (its budgets, its faults, its seed). @internal */
export class InvalidSchedule extends Data.TaggedError("InvalidSchedule")<{ readonly issues: ReadonlyArray<string> }> {
  override get message() {
    return `invalid schedule: ${this.issues.join("; ")}`
  }
}

/** A replica's operation neither finished nor waited on the network or a timer in real time. @internal */
export class ReplicaStuck extends Data.TaggedError("ReplicaStuck")<{ readonly replica: number; readonly after: string }> {
  override get message() {
    return `replica ${this.replica} neither finished nor waited within ${this.after} (real time)`
  }
}

/** After healing, draining the messages and timers in flight never ended. @internal */
export class DrainLivelock extends Data.TaggedError("DrainLivelock")<{ readonly steps: number }> {
  override get message() {
    return "draining did not finish (livelock)"
  }
}

/** A replica holds a running operation that waits on nothing: the scheduler cannot go on. @internal */
export class BusyNotWaiting extends Data.TaggedError("BusyNotWaiting")<{ readonly replica: number }> {
  override get message() {
    return `replica ${this.replica} is busy but not waiting`
  }
}

/** The app's generator returned an action the configuration does not list (a defect of the app's test). @internal */
export class UnknownGeneratedAction extends Data.TaggedError("UnknownGeneratedAction")<{ readonly tag: string }> {
  override get message() {
    return `the generator returned ${this.tag}, which is not among the simulation's actions`
  }
}

/** A replica was asked to run an operation while it is down (a defect of the scheduler). @internal */
export class ReplicaDown extends Data.TaggedError("ReplicaDown")<{ readonly replica: number }> {
  override get message() {
    return `replica ${this.replica} was asked to run an operation while it is down`
  }
}

/** Why a schedule stopped early. @internal */
export type Stopped = InvalidSchedule | ReplicaStuck | DrainLivelock | BusyNotWaiting

/** Whether a failure is one of the kit's reasons to stop a schedule. @internal */
export const isStopped = (u: unknown): u is Stopped =>
  u instanceof InvalidSchedule || u instanceof ReplicaStuck || u instanceof DrainLivelock || u instanceof BusyNotWaiting

/** The oracle was asked to upload: it only ever replays the server's log (a defect of the kit). @internal */
export class OracleUploaded extends Data.TaggedError("OracleUploaded")<{ readonly userId: string }> {
  override get message() {
    return `the oracle of ${this.userId} tried to upload: it only replays the server's log`
  }
}
