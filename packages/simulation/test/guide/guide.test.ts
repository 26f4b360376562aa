/**
 * docs/testing-your-actions.md prints stock.test.ts verbatim: the guide's example is the file
 * CI runs, so it cannot drift.
 */
import { assert, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))

it("the guide's example is stock.test.ts, verbatim", () => {
  const guide = fs.readFileSync(path.join(here, "../../../../docs/testing-your-actions.md"), "utf8")
  const match = /<!-- example:start -->\n```ts\n([\s\S]*?)```\n<!-- example:end -->/.exec(guide)
  assert.isNotNull(match, "the guide lost its example markers")
  assert.strictEqual(match![1], fs.readFileSync(path.join(here, "stock.test.ts"), "utf8"))
})
