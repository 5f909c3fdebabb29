import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The ledger thread, the CLI and the crash tests run the compiled dist/, not the
 * source vitest loads: build it before any test, so a single test file run alone
 * (`npx vitest run test/pipeline.test.ts`) tests the current source. tsc is
 * incremental: when nothing changed this costs about a second.
 */
export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
}
