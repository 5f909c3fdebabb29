/*
 * The smallest durable ledger a mail could have, for the stack-floor targets
 * of bench/postfix.ts (served by bench/bare-smtp-server.ts --store ...): one
 * STRICT table (a text primary key, the queue id, and one secondary index) in
 * a SQLite file, WAL, synchronous=FULL, every write that arrives within one
 * turn of the event loop in one transaction, each caller answered only after
 * that commit. The idea of src/ledger/sqlite/group-commit.ts in its fewest
 * lines, not an import of it: the floor must not carry the daemon's costs.
 *
 * In a worker thread (`--store sqlite`) the SMTP thread posts the turn's mails
 * as one message and gets one message back per commit; inline
 * (`--store sqlite-inline`) the SMTP thread commits itself.
 */
import Database from 'better-sqlite3';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/** One mail as stored: [queue id, sender, recipient, body sha256 hex, body text, received_at ms]. */
export type FloorRow = [string, string, string, string, string, number];

export interface FloorStore {
  /** Resolves once the row is committed and fsynced. */
  store(row: FloorRow): Promise<void>;
  close(): Promise<void>;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS mails (
    queue_id    TEXT PRIMARY KEY,
    sender      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    body_hash   TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS mails_recipient ON mails(recipient, received_at);`;

function openFloorDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA);
  return db;
}

/** Commits each turn's rows in one transaction; `committed(n)` after each commit of n rows. */
function createTurnCommit(db: Database.Database, committed: (n: number) => void): { add(rows: FloorRow[]): void } {
  const insert = db.prepare('INSERT INTO mails (queue_id, sender, recipient, body_hash, body, received_at) VALUES (?, ?, ?, ?, ?, ?)');
  const insertAll = db.transaction((rows: FloorRow[]) => {
    for (const row of rows) insert.run(row);
  });
  let waiting: FloorRow[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const rows = waiting;
    waiting = [];
    insertAll(rows);
    committed(rows.length);
  };
  return {
    add(rows) {
      for (const row of rows) waiting.push(row);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}

/** Callers waiting for their commit, in the order their rows were added (commits keep that order). */
function createWaiters(): { push(resolve: () => void): void; release(n: number): void } {
  let queue: (() => void)[] = [];
  return {
    push: (resolve) => void queue.push(resolve),
    release(n) {
      const done = queue.slice(0, n);
      queue = queue.slice(n);
      for (const resolve of done) resolve();
    },
  };
}

/** The SMTP thread commits (no worker, no messages): the lower bound. */
export function createInlineStore(path: string): FloorStore {
  const db = openFloorDb(path);
  const waiters = createWaiters();
  const commit = createTurnCommit(db, (n) => waiters.release(n));
  return {
    store: (row) => new Promise<void>((resolve) => {
      waiters.push(resolve);
      commit.add([row]);
    }),
    close: async () => void db.close(),
  };
}

/** A worker thread commits; the turn's rows go to it as one message, each commit comes back as one. */
export function createWorkerStore(path: string): FloorStore {
  const worker = new Worker(new URL(import.meta.url), { workerData: { path } });
  const waiters = createWaiters();
  worker.on('message', (n: number) => waiters.release(n));
  let outgoing: FloorRow[] = [];
  const post = () => {
    const rows = outgoing;
    outgoing = [];
    worker.postMessage(rows);
  };
  return {
    store: (row) => new Promise<void>((resolve) => {
      waiters.push(resolve);
      if (outgoing.push(row) === 1) setImmediate(post);
    }),
    async close() {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('close');
      await exited;
    },
  };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const db = openFloorDb((workerData as { path: string }).path);
  const commit = createTurnCommit(db, (n) => port.postMessage(n));
  port.on('message', (message: FloorRow[] | 'close') => {
    if (message !== 'close') return commit.add(message);
    // Every row was answered before the server closed, so nothing is waiting.
    db.close();
    port.close();
  });
}
