#!/usr/bin/env node
// Thin entry: the CLI lives in src/cli, compiled to dist/ by `npm run build`
// (which `npm ci` and `npm ci --omit=dev` run through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Before anything native loads: on an older Node, better-sqlite3 would fail with an
// ABI error (or worse), so say in one line what to install instead.
const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeMajor < 24) {
  process.stderr.write(
    `mail2sms: needs Node.js 24 LTS or newer; this is Node.js ${process.versions.node}. ` +
      'Install Node.js 24, or in the checkout run `. scripts/node24.sh` (it fetches Node.js 24 from the npm registry) and then `npm ci`.\n',
  );
  process.exit(69);
}

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.stderr.write(
    `mail2sms: not built: ${fileURLToPath(entry)} is missing.\n` +
      `Run \`npm ci\` (or \`npm ci --omit=dev\` for production) or \`npm run build\` in ${root}.\n`,
  );
  process.exit(70);
}

// `mail2sms consent export | head`: the reader went away; that is the end of the output, not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv);
