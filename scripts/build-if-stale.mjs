#!/usr/bin/env node
// `npm start` runs this first: it compiles only when a source is newer than the
// last successful build, so a start with nothing changed costs no tsc run (~11 s).
// scripts/build.mjs records each successful build in dist/.build-stamp.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.build-stamp');
const inputs = ['src', 'bench', 'tsconfig.json', 'tsconfig.prod.json', 'package-lock.json'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted or renamed file changes its directory
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changed = Math.max(...inputs.map((input) => newestMtime(join(root, input))));
if (built > changed) process.exit(0);

process.stderr.write(built === 0 ? 'mail2sms: building (first start)\n' : 'mail2sms: sources changed since the last build; building\n');
const result = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
