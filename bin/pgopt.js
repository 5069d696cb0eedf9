#!/usr/bin/env node
// Shim: the compiled CLI lives in dist/ (npm run build).
import { setFlagsFromString } from 'node:v8';
// libpg-query is WebAssembly. V8's optimizing tier compiles it in the background while the first
// parse waits for it: about 150 ms of every run on a 2-core machine, more than pgopt's own work
// on a 20-object pack. The baseline tier alone parses as fast at the sizes pgopt reads
// (BENCHMARKS.md, "Cost per object", third stop). Set before the module is compiled: ensureParser
// loads it lazily.
setFlagsFromString('--liftoff-only');
// pg asks whether it runs in a Cloudflare Worker: through `navigator` where the runtime has one
// (Node 21+), else by building a fetch Response, which loads all of undici, http2 and tls on Node
// 20: about 30 ms of every command (BENCHMARKS.md, "Cost per object", fifth stop). The CLI is a
// Node process, so it says so the way Node 21 does; the library API leaves globals alone.
if (globalThis.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
  });
}
const { main } = await import('../dist/cli.js');
main(process.argv);
