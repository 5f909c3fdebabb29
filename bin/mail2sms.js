#!/usr/bin/env node
// Thin entry: the CLI lives in src/cli, compiled to dist/ by `npm run build`
// (which `npm ci` and `npm ci --omit=dev` run through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
