import { accessSync, constants, existsSync, statSync, watch, type FSWatcher } from 'node:fs';
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
  /** undefined while the file is the one opened; otherwise what happened to it. Called before every answer, so it costs nothing while inotify watches. */
  problem(): string | undefined;
  stop(): void;
}

/**
 * Remembers which file (device and inode) the ledger opened and checks it
 * whenever inotify reports anything about that inode (an unlink changes its
 * link count; a move or a rename over the path does too), on a timer, and
 * on demand; `onLost` runs once when it is gone or replaced. A stat before
 * every answer cost ~25 µs a mail; with the watch in place an answer only
 * reads the verdict. Where no watch can be set (the inotify limit, a
 * filesystem without it), every answer stats the path as before.
 */
export function watchLedgerFile(path: string, options: { intervalMs: number; onLost(problem: string): void }): LedgerFileWatch {
  const identity = statSync(path);
  let lost: string | undefined;

  function check(): string | undefined {
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

  let watcher: FSWatcher | undefined = watchInode(path, check, () => {
    watcher = undefined;
    check();
  });
  const timer = setInterval(check, options.intervalMs);
  timer.unref();
  return {
    problem: () => (watcher ? lost : check()),
    stop: () => {
      clearInterval(timer);
      watcher?.close();
    },
  };
}

/** inotify on the file itself; undefined where none can be set. `onFailed` when it stops working. */
function watchInode(path: string, onEvent: () => void, onFailed: () => void): FSWatcher | undefined {
  try {
    const watcher = watch(path, { persistent: false }, onEvent);
    watcher.on('error', () => {
      watcher.close();
      onFailed();
    });
    return watcher;
  } catch {
    return undefined;
  }
}
