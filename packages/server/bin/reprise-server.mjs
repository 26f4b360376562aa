#!/usr/bin/env node
// The `reprise-server` command. The package ships TypeScript sources, so tsx's loader is
// registered first; src/cli/main.ts then runs the command line.
import { register } from "tsx/esm/api"

register()
await import("../src/cli/main.ts")
