/**
 * A vitest reporter for `scripts/vitest-run.mjs`: when the run ends, writes how it ended and how
 * many tests passed, failed and were skipped to the file named by REPRISE_VITEST_RESULT, so the
 * script can tell a finished run from one that stopped early, and a run that tested something
 * from one that did not.
 */
import * as fs from "node:fs"
import process from "node:process"

export default class VitestResultReporter {
  onTestRunEnd(testModules, unhandledErrors, reason) {
    const file = process.env["REPRISE_VITEST_RESULT"]
    if (file === undefined || file === "") return
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 }
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        counts[state] = (counts[state] ?? 0) + 1
      }
    }
    fs.writeFileSync(
      file,
      JSON.stringify({ reason, files: testModules.length, errors: unhandledErrors.length, ...counts })
    )
  }
}
