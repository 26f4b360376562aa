#!/usr/bin/env node
// `pnpm demo`: Reprise's todo demo (server/demo.ts). The packages ship TypeScript sources, so
// tsx's loader is registered first.
import process from "node:process"
import { register } from "tsx/esm/api"

register()
const { main } = await import("./server/demo.ts")
try {
  await main(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`reprise demo: error: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
