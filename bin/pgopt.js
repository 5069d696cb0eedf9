#!/usr/bin/env node
// Shim: the compiled CLI lives in dist/ (npm run build).
import { setFlagsFromString } from 'node:v8';
// libpg-query is WebAssembly. V8's optimizing tier compiles it in the background while the first
// parse waits for it: about 150 ms of every run on a 2-core machine, more than pgopt's own work
// on a 20-object pack. The baseline tier alone parses as fast at the sizes pgopt reads
// (BENCHMARKS.md, "Cost per object", third stop). Set before the module is compiled: ensureParser
// loads it lazily.
setFlagsFromString('--liftoff-only');
const { main } = await import('../dist/cli.js');
main(process.argv);
