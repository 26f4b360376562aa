/**
 * `@reprise/server/testing`: the server side of `@reprise/core/testing`'s simulation.
 *
 * @example
 * ```ts
 * import { Simulation } from "@reprise/core/testing"
 * import { SimulationServer } from "@reprise/server/testing"
 * const simulator = yield* Simulation.make({ ..., server: SimulationServer.driver() })
 * ```
 */
export * as SimulationServer from "./SimulationServer.js"
