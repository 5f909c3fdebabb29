import { StorageError } from '../core/errors.js';
import { watchLedgerFile } from '../ledger/sqlite/file-guard.js';
import { openPostgresLedger } from '../ledger/postgres/open.js';
import type { SendGuard } from '../ledger/postgres/ledger.js';
import { describeTarget } from '../ledger/postgres/pool.js';
import type { PgSession } from '../ledger/postgres/session.js';
import { purgePostgres } from '../ledger/postgres/purge.js';
import { openDatabase } from '../ledger/sqlite/db.js';
import type { PurgeReport } from '../ledger/purge.js';
import { purgeSqlite } from '../ledger/sqlite/purge.js';
import { startLedgerThread } from '../ledger/sqlite/thread.js';
import type { Ledger } from '../ledger/types.js';
import { createClaimPolicy } from '../dispatch/claim-policy.js';
import type { Config } from '../config/load.js';
import type { Wiring } from './steps.js';

export interface OpenedLedger {
  ledger: Ledger;
  /** The ledger as SMTP intake sees it: every call first checks that the SQLite file is still the one we opened. */
  intakeLedger: IntakeLedger;
  /** Why the ledger file cannot be used now (SQLite only), for health. */
  fileProblem(): string | undefined;
  /** Resolves if the ledger can no longer be used (the SQLite thread died). */
  failed: Promise<Error>;
  guardSend?: SendGuard;
  session?: PgSession;
}

export type IntakeLedger = Pick<Ledger, 'acceptMessage' | 'checkRecipient' | 'groupMembers' | 'contactsByNumber'>;

interface Backend {
  ledger: Ledger;
  migrations: { applied: string[]; version: number };
  failed: Promise<Error>;
  guardSend?: SendGuard;
  session?: PgSession;
  /** storage.retention: deletes finished rows older than `cutoff` (src/ledger/purge.ts). */
  purge(cutoff: number): Promise<PurgeReport>;
  close(): Promise<void>;
}

export function storageLabel(config: Config): string {
  return config.storage.type === 'sqlite' ? config.storage.path : `postgres ${describeTarget(config.storage.url)}`;
}

/** Opens the ledger, watches its file, and starts retention; each registers its stop. */
export async function openLedgerStep(w: Wiring): Promise<OpenedLedger> {
  const config = w.config();
  const backend = await openBackend(config, w);
  const { applied, version } = backend.migrations;
  if (applied.length > 0) w.logger.info({ applied, version }, 'database migrated');
  w.steps.add('ledger', () => backend.close());
  const fileProblem = watchFile(w);
  if (config.storage.retentionMs !== null) startRetention(w, backend, config.storage.retentionMs);
  return {
    ledger: backend.ledger,
    intakeLedger: guardedIntake(backend.ledger, fileProblem),
    fileProblem,
    failed: backend.failed,
    ...(backend.guardSend ? { guardSend: backend.guardSend } : {}),
    ...(backend.session ? { session: backend.session } : {}),
  };
}

/** SQLite in its own thread, or PostgreSQL in this one (its I/O is asynchronous already). */
async function openBackend(config: Config, w: Wiring): Promise<Backend> {
  const storage = config.storage;
  if (storage.type === 'postgres') {
    const pg = await openPostgresLedger({
      url: storage.url, pool: storage.pool, clock: w.clock, logger: w.logger.child({ stage: 'ledger' }), claimPolicy: createClaimPolicy(),
      receiptGraceMs: config.main.dispatch.receipt_grace,
    });
    // A database that goes away makes calls fail (451 to clients, retries in dispatch) until it is back; nothing to die of.
    return {
      ledger: pg.ledger, migrations: pg.migrations, failed: new Promise<Error>(() => undefined), guardSend: pg.ledger.guardSend, session: pg.session,
      purge: (cutoff) => purgePostgres(pg.pool, cutoff), close: pg.close,
    };
  }
  const thread = await startLedgerThread({
    path: storage.path,
    bookkeepingDelayMs: storage.bookkeepingDelayMs,
    receiptGraceMs: config.main.dispatch.receipt_grace,
    logLevel: config.main.log.level,
    logger: w.logger,
    clock: w.clock,
  });
  const purge = async (cutoff: number) => {
    // Its own connection: the ledger thread keeps writing meanwhile (WAL; busy_timeout covers the short waits).
    const db = openDatabase(storage.path);
    try {
      return purgeSqlite(db, cutoff);
    } finally {
      db.close();
    }
  };
  return { ledger: thread, migrations: thread.migrations, failed: thread.failed, purge, close: () => thread.close() };
}

/** A SQLite ledger is a file that must stay the one we opened; PostgreSQL has no file to watch. */
function watchFile(w: Wiring): () => string | undefined {
  const config = w.config();
  if (config.storage.type !== 'sqlite') return () => undefined;
  const watch = watchLedgerFile(config.storage.path, {
    intervalMs: 1000,
    onLost: (problem) => w.logger.fatal({ storage: config.storagePath }, `${problem}; refusing mail with 451 until restarted on the right file (restore it from a backup)`),
  });
  w.steps.add('ledger file watch', () => watch.stop());
  return () => watch.problem();
}

/** Intake checks the file before every answer: a 250 into a deleted ledger would be a lie. */
function guardedIntake(ledger: Ledger, fileProblem: () => string | undefined): IntakeLedger {
  const guardFile = async () => {
    const problem = fileProblem();
    if (problem) throw new StorageError(problem);
  };
  return {
    groupMembers: (...args) => guardFile().then(() => ledger.groupMembers(...args)),
    contactsByNumber: (...args) => guardFile().then(() => ledger.contactsByNumber(...args)),
    acceptMessage: (message) => guardFile().then(() => ledger.acceptMessage(message)),
    checkRecipient: (recipient, rules) => guardFile().then(() => ledger.checkRecipient(recipient, rules)),
  };
}

/** storage.retention: a purge a minute after start, then daily. */
function startRetention(w: Wiring, backend: Backend, retentionMs: number): void {
  const run = () => {
    const cutoff = w.clock.now() - retentionMs;
    backend.purge(cutoff).then(
      (report) => w.logger.info({ cutoff: new Date(cutoff).toISOString(), deleted: report }, 'retention: finished rows purged; consent events kept'),
      (error: unknown) => w.logger.error({ err: error }, 'retention purge failed; tried again tomorrow'),
    );
  };
  const first = setTimeout(run, 60_000);
  const daily = setInterval(run, 86_400_000);
  first.unref();
  daily.unref();
  w.steps.add('retention', () => {
    clearTimeout(first);
    clearInterval(daily);
  });
}
