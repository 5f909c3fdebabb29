import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { MigrationReport } from './migrations.js';
import type { PurgeReport } from './purge.js';
import type { ClaimPolicy, Ledger } from './types.js';
import type { LedgerReads } from './read-gate.js';

/*
 * What a storage backend offers the daemon and the CLI, whichever it is:
 * open.ts picks one from the settings, and nothing outside src/ledger/ asks
 * which. Where the backends differ (SQLite is a file in this process's
 * thread, PostgreSQL a server shared by several daemons), the difference is a
 * capability here (an optional member, or a method that says it cannot), not
 * a branch on the storage type in the caller.
 */

/** storage in the main config, as the ledger needs it (config/load.ts builds it). */
export type StorageSettings =
  | { type: 'sqlite'; path: string; bookkeepingDelayMs: number; retentionMs: number | null }
  | { type: 'postgres'; url: string; pool: number; retentionMs: number | null };

/**
 * Wraps one provider call under the number's lock: resolves `{ sent: false }`
 * without calling when the number is opted out, whichever daemon committed it
 * (postgres/ledger.ts).
 */
export type SendGuard = <T>(recipient: string, send: () => Promise<T>) => Promise<{ sent: true; value: T } | { sent: false }>;

/** With several daemons on one ledger, the one that may dispatch (a provider rate limit is one budget). */
export interface DispatcherElection {
  /** True while this daemon holds the dispatcher lock on a live connection. */
  isLeader(): boolean;
  /** Takes the dispatcher lock if nobody holds it; true if this daemon holds it now. */
  tryLead(): Promise<boolean>;
}

/** What explain asks: the rules' read-only verdict, contacts, and reply forwards. It never writes. */
export type ReadOnlyLedger = Pick<Ledger, 'checkRecipient' | 'groupMembers' | 'contactsByNumber' | 'forwardedReply'>;

/** What every ledger a process opens needs from it. */
export interface LedgerDeps {
  clock: Clock;
  logger: Logger;
  /** Dispatch's claim rules (a SQLite ledger thread builds its own: a function cannot cross to a thread). */
  claimPolicy: ClaimPolicy;
}

export interface ServeDeps extends LedgerDeps {
  /** How long a receipt for an id not known yet stays parked (dispatch.receipt_grace). */
  receiptGraceMs: number;
  /** The daemon's log level, for a ledger that logs from a thread of its own. */
  logLevel: string;
}

/** A ledger file that is watched: `problem` is undefined while it is the file that was opened. */
export interface FileWatch {
  problem(): string | undefined;
  stop(): void;
}

/** The daemon's ledger, and what comes with it on this backend. */
export interface ServedLedger {
  ledger: Ledger;
  migrations: MigrationReport;
  /** Resolves if the ledger can no longer be used (the SQLite thread died); never on PostgreSQL, whose calls fail until it is back. */
  failed: Promise<Error>;
  /** What health calls the ledger when a read fails ("ledger thread" where it runs in one). */
  healthName: string;
  /** The console's reads, on connections of their own (started on the first page): a slow page never holds intake's commits. */
  consoleReads: LedgerReads;
  /** A ledger that is a file: watch that it stays the one opened (`onLost` once when it does not). */
  watchFile?(onLost: (problem: string) => void): FileWatch;
  guardSend?: SendGuard;
  election?: DispatcherElection;
  /** storage.retention: deletes finished rows older than `cutoff`, beside the running ledger. */
  purge(cutoff: number): Promise<PurgeReport>;
  close(): Promise<void>;
}

/** What `migrate --from-sqlite` copied, table by table. */
export interface CopyReport {
  file: string;
  copied: Record<string, number>;
}

export interface LedgerBackend {
  /** For the console's status: which backend, and where (the file, or host:port; never a password). */
  readonly where: { backend: 'sqlite' | 'postgres'; path: string };
  /** Where, for logs and the pid file line: the file, or "postgres host:port". */
  readonly label: string;
  /** Whether a ledger is there yet (a SQLite file is made by `migrate`; a database is assumed). */
  exists(): boolean;
  /** Why `serve` must not start on it (a SQLite file missing or not writable); undefined when it may. */
  serveProblem(configFile: string): string | undefined;
  /** The daemon's ledger, migrated. */
  serve(deps: ServeDeps): Promise<ServedLedger>;
  /** A command's ledger, migrated, through the same interface the daemon uses; `create`: make a SQLite file that is not there yet. */
  open(deps: LedgerDeps, options?: { create?: boolean }): Promise<Ledger>;
  /** explain's ledger at `now`: never writes, migrates nothing. */
  openReadOnly(deps: LedgerDeps): Promise<ReadOnlyLedger & { close(): Promise<void> }>;
  /** Applies the migrations (`migrated` is told before anything else happens), then copies a SQLite ledger in if asked. */
  migrate(options: { fromSqlite?: string; migrated(report: MigrationReport): void }): Promise<CopyReport | undefined>;
  /** A consistent copy into `destination` (a new file, 0600), while the daemon runs. */
  backup(destination: string): Promise<{ source: string; pages: number }>;
  /** `mail2sms purge`: finished rows older than `cutoff`. */
  purge(cutoff: number): Promise<PurgeReport>;
}
