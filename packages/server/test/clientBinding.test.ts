/**
 * Client ids bound to users on the in-process server's PGlite (no RLS role): the first user to
 * upload under a client id owns it; another user's upload under it is `WrongClient`, nothing
 * written (R-SRV-7).
 */
import { layer } from "@effect/vitest"
import { PgliteClient } from "@reprise/sql-pglite"
import * as Effect from "effect/Effect"
import { bindingCases } from "./clientBindingCases.js"
import { setupServer } from "./suites/helpers.js"

layer(PgliteClient.layer({}), { excludeTestServices: true, timeout: "120 seconds" })("Client binding (PGlite)", (it) => {
  /** Verifies: R-SRV-7 (a client id belongs to the first user that uploads under it) */
  it.effect("another user's upload under a bound client id is WrongClient and writes nothing", () =>
    Effect.flatMap(setupServer(), bindingCases))
})
