import { chmodSync, copyFileSync, existsSync, linkSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Helpers for tests that run mail2sms as real OS processes (restart, kill -9). */

// One free-port finder for the tests and the bench (which cannot import from test/).
export { freePort } from '../bench/throwaway-postgres.js';

/**
 * This node, where another user (nobody, for tests that run as the service
 * user) can run it: the one running may live under /root/.cache. A hard link
 * when it can be one, else a copy.
 */
export function nodeAnyUserCanRun(): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-node-'));
  chmodSync(dir, 0o755);
  const path = join(dir, 'node');
  try {
    linkSync(process.execPath, path);
  } catch {
    copyFileSync(process.execPath, path);
    chmodSync(path, 0o755);
  }
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Proc {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first JSON log line whose msg matches. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Whether the ledger the config given with -c names is there already. */
function ledgerExists(args: string[]): boolean {
  const at = args.findIndex((arg) => arg === '-c' || arg === '--config');
  const file = at === -1 ? undefined : args[at + 1];
  if (!file) return false;
  const storage = (parse(readFileSync(file, 'utf8')) as { storage?: { path?: string } }).storage?.path;
  return storage !== undefined && existsSync(resolve(dirname(file), storage));
}

export function startProcess(args: string[]): Proc {
  // `serve` never creates a ledger: like `npm start`, create it first (a restart finds it there).
  if (args[0] === 'serve' && !ledgerExists(args)) execFileSync(process.execPath, ['bin/mail2sms.js', 'migrate', ...args.slice(1)], { stdio: 'ignore' });
  const child = spawn(process.execPath, ['bin/mail2sms.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const watchers: { msg: string; resolve: (v: Record<string, unknown>) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    for (const watcher of [...watchers]) {
      if (parsed.msg === watcher.msg) {
        watchers.splice(watchers.indexOf(watcher), 1);
        watcher.resolve(parsed);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    waitForLog(msg, timeoutMs = 20_000) {
      const seen = lines.map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return undefined;
        }
      }).find((p) => p?.msg === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; output:\n${lines.join('\n')}`)), timeoutMs);
        watchers.push({ msg, resolve: (v) => (clearTimeout(timer), resolve(v)) });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`process exited (${code}) before "${msg}"; output:\n${lines.join('\n')}`));
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
