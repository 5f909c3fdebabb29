import { closeSync, mkdtempSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchLedgerFile, type LedgerFileWatch } from '../src/ledger/sqlite/file-guard.js';
import { waitFor } from './helpers.js';

/*
 * The ledger file guard notices a ledger that vanished or was replaced from
 * inotify, not from a stat per answer: the timer here is set far beyond the
 * test, so only the watch can tell.
 */
const NEVER = 3_600_000;

describe('ledger file guard', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  function setUp(): { dir: string; path: string; lost: string[]; watch: LedgerFileWatch } {
    const dir = mkdtempSync(join(tmpdir(), 'mail2sms-guard-'));
    const path = join(dir, 'ledger.db');
    writeFileSync(path, 'ledger');
    // Held open like SQLite holds it: an unlink then leaves the inode alive.
    const fd = openSync(path, 'r');
    const lost: string[] = [];
    const watch = watchLedgerFile(path, { intervalMs: NEVER, onLost: (problem) => lost.push(problem) });
    cleanups.push(() => {
      watch.stop();
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    });
    return { dir, path, lost, watch };
  }

  it('answers nothing while the file is the one opened, even after it is written to', async () => {
    const { path, lost, watch } = setUp();
    writeFileSync(path, 'a checkpoint wrote here');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(watch.problem()).toBeUndefined();
    expect(lost).toEqual([]);
  });

  it('an unlinked ledger (still open) is reported by the watch, without an answer asking', async () => {
    const { path, lost, watch } = setUp();
    unlinkSync(path);
    await waitFor(() => lost.length > 0, 'the watch to report the unlink', 5_000);
    expect(lost).toEqual([`ledger file ${path} has vanished`]);
    expect(watch.problem()).toBe(`ledger file ${path} has vanished`);
  });

  it('another file renamed over the ledger is reported as a replacement', async () => {
    const { dir, path, lost, watch } = setUp();
    writeFileSync(join(dir, 'other.db'), 'an empty ledger');
    renameSync(join(dir, 'other.db'), path);
    await waitFor(() => lost.length > 0, 'the watch to report the replacement', 5_000);
    expect(watch.problem()).toBe(`ledger file ${path} was replaced by another file`);
    expect(lost).toHaveLength(1);
  });

  it('a ledger moved away is reported as vanished', async () => {
    const { dir, path, lost } = setUp();
    renameSync(path, join(dir, 'moved.db'));
    await waitFor(() => lost.length > 0, 'the watch to report the move', 5_000);
    expect(lost).toEqual([`ledger file ${path} has vanished`]);
  });
});
