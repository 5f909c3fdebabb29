import { Writable } from 'node:stream';
import type { Config } from '../config/load.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/log.js';
import { createClaimPolicy } from '../dispatch/claim-policy.js';
import type { LedgerDeps } from '../ledger/backend.js';
import { openLedger } from '../ledger/open.js';
import type { Ledger } from '../ledger/types.js';

export interface CliLedgerOptions {
  /** No SQLite file yet: make an empty, migrated one (a first import or consent change) rather than exit 69. */
  create?: boolean;
}

/** What a command's ledger runs with: the system clock (or explain's `now`), no log, dispatch's claim rules. */
export const cliLedgerDeps = (clock = systemClock): LedgerDeps => ({ clock, logger: silentLogger(), claimPolicy: createClaimPolicy() });

/**
 * Runs `use` with the ledger (through the same interface the daemon uses) and
 * closes it after, whatever happens. Works while the daemon runs: SQLite
 * serialises the two writers; PostgreSQL is shared anyway.
 */
export async function withCliLedger<T>(config: Config, use: (ledger: Ledger) => Promise<T>, options: CliLedgerOptions = {}): Promise<T> {
  const ledger = await openLedger(config.storage).open(cliLedgerDeps(), options);
  try {
    return await use(ledger);
  } finally {
    await ledger.close();
  }
}

export const silentLogger = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
