#!/usr/bin/env node
// Thin entry: the CLI lives in src/cli (compiled to dist by `npm run build`,
// which `npm ci` runs through the prepare script).
import { runCli } from '../dist/src/cli/main.js';

process.exitCode = await runCli(process.argv);
