import { StorageError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Db } from './db.js';

/*
 * Group commit: every write that arrives within one turn of the event loop
 * (mails whose DATA finished, sends recorded, receipts, claims) shares one
 * transaction and so one WAL fsync. Nobody is answered before that commit.
 * In the ledger thread a turn lasts as long as the previous commit, so the
 * batch grows with the load and the disk's latency.
 */

export interface WriteOptions {
  /** Commit on the next turn (someone waits: a client for its 250, dispatch for its claim). */
  urgent: boolean;
  /** Must be on disk before its promise resolves (an answer depends on it). */
  durable: boolean;
}

/** `now` is the time the write was asked for: the caller's clock, carried to the commit. */
export type Write = <T>(run: (now: number) => T, now: number, options: WriteOptions) => Promise<T>;

export interface GroupCommit {
  write: Write;
  /** Commits everything still waiting (on close). */
  drain(): void;
}

interface Pending {
  run(now: number): unknown;
  now: number;
  durable: boolean;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export interface GroupCommitDeps {
  db: Db;
  logger: Logger;
  /** How long writes nobody waits on may wait to share a commit with others (ms). */
  bookkeepingDelayMs: number;
  /** Upper bound of writes in one transaction. */
  maxBatch: number;
  /** Called after every commit (listeners decide whether anything was queued). */
  afterCommit(): void;
}

export function createGroupCommit(deps: GroupCommitDeps): GroupCommit {
  const { db, logger } = deps;
  let writes: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let synchronous: 'FULL' | 'NORMAL' = 'FULL';

  const runAll = db.transaction((batch: Pending[]) => batch.map((w) => w.run(w.now)));
  const runSingle = db.transaction((w: Pending) => w.run(w.now));

  // Prepared once: db.pragma() would compile the statement at every switch.
  const switchTo = { FULL: db.prepare('PRAGMA synchronous = FULL'), NORMAL: db.prepare('PRAGMA synchronous = NORMAL') };
  function setSynchronous(mode: 'FULL' | 'NORMAL'): void {
    if (mode === synchronous) return;
    switchTo[mode].run();
    synchronous = mode;
  }

  /**
   * On a full disk the WAL may be what fills it, and the checkpoint that would
   * let SQLite reuse it only runs after a successful commit. Copy it into the
   * database and truncate it, so the space is free for the next attempt.
   */
  function reclaimWal(): void {
    try {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
      logger.warn({ checkpoint: result }, 'disk full: checkpointed and truncated the WAL');
    } catch (error) {
      logger.error({ err: error }, 'disk full: could not checkpoint the WAL');
    }
  }

  function commitOneByOne(batch: Pending[]): void {
    // One bad write must not cost the others their commit.
    for (const w of batch) {
      try {
        setSynchronous(w.durable ? 'FULL' : 'NORMAL');
        w.resolve(runSingle(w));
      } catch (error) {
        w.reject(new StorageError(`ledger write failed: ${(error as Error).message}`, { cause: error }));
      }
    }
  }

  function flush(): void {
    clearTimeout(timer);
    timer = undefined;
    if (immediate) clearImmediate(immediate);
    immediate = undefined;
    const batch = writes.length > deps.maxBatch ? writes.splice(0, deps.maxBatch) : writes;
    if (batch === writes) writes = [];
    else schedule(true);
    if (batch.length === 0) return;
    // A batch that only claims rows or records sends needs no fsync of its own:
    // if the machine dies before the next durable commit syncs the WAL (which
    // carries it along), the rows are sent again under the same idempotency key.
    setSynchronous(batch.some((w) => w.durable) ? 'FULL' : 'NORMAL');
    let results: unknown[] | undefined;
    try {
      results = runAll(batch);
    } catch (error) {
      logger.warn({ err: error, batch: batch.length }, 'group commit failed; committing writes one by one');
      if ((error as { code?: string }).code === 'SQLITE_FULL') reclaimWal();
    }
    if (results) batch.forEach((w, i) => w.resolve(results[i]));
    else commitOneByOne(batch);
    deps.afterCommit();
  }

  // A client waits for intake and dispatch waits for claims: those commit on
  // the next turn of the event loop, together with whatever else arrived by
  // then. Bookkeeping nobody waits on (sent, retries, receipts) rides along,
  // or waits at most bookkeepingDelayMs.
  function schedule(urgent: boolean): void {
    if (immediate) return;
    if (urgent) {
      clearTimeout(timer);
      timer = undefined;
      immediate = setImmediate(flush);
    } else {
      timer ??= setTimeout(flush, deps.bookkeepingDelayMs);
    }
  }

  return {
    write<T>(run: (now: number) => T, now: number, options: WriteOptions): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        writes.push({ run, now, durable: options.durable, resolve: resolve as (value: unknown) => void, reject });
        schedule(options.urgent);
      });
    },
    drain() {
      while (writes.length > 0) flush();
    },
  };
}
