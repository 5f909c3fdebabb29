import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';

/*
 * The ledger file is the memory of every opt-out. A ledger that vanished
 * (directory removed, file replaced) must never be silently swapped for a new,
 * empty one: the daemon notices, stops accepting and says so.
 */

export type LedgerFileProblem = { kind: 'missing' | 'not_writable'; message: string };

/** Whether `serve` may open the ledger: it must exist (creating one is `mail2sms migrate`'s job) and be writable by this user. */
export function ledgerFileProblem(path: string, configFile: string): LedgerFileProblem | undefined {
  if (!existsSync(path)) {
    return {
      kind: 'missing',
      message: `no ledger at ${path}: create it with \`mail2sms migrate -c ${configFile}\` (serve never starts on a new, empty ledger in place of one that is gone; restore a backup if it was lost)`,
    };
  }
  for (const target of [path, dirname(path)]) {
    try {
      accessSync(target, constants.R_OK | constants.W_OK);
    } catch {
      const user = userInfo();
      return {
        kind: 'not_writable',
        message: `ledger ${target} is not writable by user ${user.username} (uid ${user.uid}); SQLite needs to write the file and create its journal next to it: chown or chmod it for this user`,
      };
    }
  }
  return undefined;
}

export interface LedgerFileWatch {
  /** undefined while the file is the one opened; otherwise what happened to it. Cheap (one stat): called before every answer. */
  problem(): string | undefined;
  stop(): void;
}

/**
 * Remembers which file (device and inode) the ledger opened and checks it on a
 * timer and on demand; `onLost` runs once when it is gone or replaced.
 */
export function watchLedgerFile(path: string, options: { intervalMs: number; onLost(problem: string): void }): LedgerFileWatch {
  const identity = statSync(path);
  let lost: string | undefined;

  function problem(): string | undefined {
    if (lost) return lost;
    let now;
    try {
      now = statSync(path);
    } catch {
      lost = `ledger file ${path} has vanished`;
    }
    if (now && (now.ino !== identity.ino || now.dev !== identity.dev)) lost = `ledger file ${path} was replaced by another file`;
    if (lost) options.onLost(lost);
    return lost;
  }

  const timer = setInterval(problem, options.intervalMs);
  timer.unref();
  return { problem, stop: () => clearInterval(timer) };
}
