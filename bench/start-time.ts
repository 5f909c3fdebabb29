/*
 * Start to healthy: what `npm start` costs when nothing changed (the build is
 * skipped), measured from spawning the prestart check until GET /healthz
 * answers 200. The example config is copied with every port set to 0 and the
 * ledger in a temporary directory, so it runs next to a daemon on the usual ports.
 *
 *   npm run build && node dist/bench/start-time.js [--runs 5]
 *
 * Printed, not asserted: on a shared 2-core machine the numbers follow the load.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });

function exampleConfigWithFreePorts(dir: string): string {
  cpSync(join(ROOT, 'config', 'setups'), join(dir, 'setups'), { recursive: true });
  const main = readFileSync(join(ROOT, 'config', 'mail2sms.yaml'), 'utf8')
    .replace(/listen: 127\.0\.0\.1:\d+/g, 'listen: 127.0.0.1:0')
    .replace(/path: \.\.\/data\/mail2sms\.db/, `path: ${join(dir, 'mail2sms.db')}`);
  writeFileSync(join(dir, 'mail2sms.yaml'), main);
  return join(dir, 'mail2sms.yaml');
}

async function healthy(port: number): Promise<void> {
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function oneStart(configFile: string): Promise<{ total: number; ready: number; cpuMs: number }> {
  const t0 = performance.now();
  const child = spawn('sh', ['-c', `node scripts/build-if-stale.mjs && exec node bin/mail2sms.js serve -c '${configFile}'`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolvePort, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const line = buffer.split('\n').find((l) => l.includes('"mail2sms ready"'));
      if (line) resolvePort((JSON.parse(line) as { ports: { http: number } }).ports.http);
    });
    child.once('exit', (code) => reject(new Error(`daemon exited with ${code}`)));
  });
  const ready = performance.now() - t0;
  await healthy(port);
  const total = performance.now() - t0;
  const cpuMs = Number(readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(' ').slice(13, 15).reduce((a, b) => a + Number(b), 0)) * 10;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { total, ready, cpuMs };
}

const dir = mkdtempSync(join(tmpdir(), 'mail2sms-start-'));
try {
  const configFile = exampleConfigWithFreePorts(dir);
  const runs = Number(args.runs);
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await oneStart(configFile));
  for (const [i, r] of results.entries()) {
    console.log(`run ${i + 1}${i === 0 ? ' (creates the ledger)' : ''}: ready log ${r.ready.toFixed(0)} ms, /healthz 200 after ${r.total.toFixed(0)} ms, daemon CPU ${r.cpuMs} ms`);
  }
  const sorted = results.slice(1).map((r) => r.total).sort((a, b) => a - b);
  if (sorted.length > 0) console.log(`median start to healthy (existing ledger, nothing to build): ${sorted[Math.floor(sorted.length / 2)]?.toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
