#!/usr/bin/env node
// Shim: the compiled CLI lives in dist/ (npm run build).
import { main } from '../dist/cli.js';
main(process.argv);
