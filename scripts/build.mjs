#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci`): compiles with tsc and records a
// successful build for scripts/build-if-stale.mjs. A production install
// (`npm ci --omit=dev`) has no dev dependencies, which bench/ imports (the
// reply-stripping bench compares with planer and email-reply-parser): it
// compiles src/ only (tsconfig.prod.json), which is all the daemon and CLI need.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const devInstalled = Object.keys(pkg.devDependencies ?? {}).every((name) => existsSync(join(root, 'node_modules', name, 'package.json')));
const project = devInstalled ? 'tsconfig.json' : 'tsconfig.prod.json';
if (!devInstalled) process.stderr.write('mail2sms: production install (no dev dependencies): building src/ only\n');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { cwd: root, stdio: 'inherit' });
} catch {
  process.exit(1);
}
writeFileSync(join(root, 'dist', '.build-stamp'), `${new Date().toISOString()} ${project}\n`);
