/**
 * `@reprise/core/testing`: a seeded convergence simulation for an app's actions, with a
 * fault-injecting in-memory network between replicas and the server's sync service. See
 * docs/testing-your-actions.md.
 */
export * as SimRandom from "./SimRandom.js"
export * as Simulation from "./Simulation.js"
