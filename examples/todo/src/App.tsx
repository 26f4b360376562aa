/** The page: what the demo shows, and one pane per user. */
import { Pane } from "./Pane.js"
import { MAX_OPEN_TODOS } from "./schema.js"

/** Alice and Bob, side by side, each with a client of their own. */
export const App = () => (
  <main>
    <header className="intro">
      <h1>Reprise: two replicas, one truth</h1>
      <p>
        Alice and Bob each run the app with their own database (PGlite in this browser's IndexedDB). Take one offline,
        edit on both sides, bring it back: Reprise rolls back to the common history and replays every action in one
        order, so the app's own rules still hold. Try: a list holds at most {MAX_OPEN_TODOS} open todos (add the last
        free place on both sides while one is offline), and completing a todo the other side deleted does nothing.
        Alice's private list never reaches Bob.
      </p>
    </header>
    <div className="panes">
      <Pane user="alice" />
      <Pane user="bob" />
    </div>
  </main>
)
