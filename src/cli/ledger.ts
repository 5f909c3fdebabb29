import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { Config } from '../config/load.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/log.js';
import { createClaimPolicy } from '../dispatch/claim-policy.js';
import { migrate, openDatabase } from '../ledger/db.js';
import { createSqliteLedger } from '../ledger/sqlite/ledger.js';
import type { Ledger } from '../ledger/types.js';
import { CliFailure } from './common.js';
import { EXIT } from './exit.js';

/**
 * The ledger for a CLI command, through the same interface the daemon uses.
 * Works while the daemon runs: SQLite serialises the two writers.
 */
export function openCliLedger(config: Config): Ledger {
  if (!existsSync(config.storagePath)) throw new CliFailure(`no ledger at ${config.storagePath} (run \`mail2sms migrate\` to create one)`, EXIT.unavailable);
  const db = openDatabase(config.storagePath);
  migrate(db);
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
  return createSqliteLedger({ db, clock: systemClock, logger, claimPolicy: createClaimPolicy() });
}

/** Runs `use` with the ledger and closes it after, whatever happens. */
export async function withCliLedger<T>(config: Config, use: (ledger: Ledger) => Promise<T>): Promise<T> {
  const ledger = openCliLedger(config);
  try {
    return await use(ledger);
  } finally {
    await ledger.close();
  }
}
