import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/core/log.js';
import { startLedgerThread } from '../../src/ledger/sqlite/thread.js';
import { openTestLedger } from '../ledger-fixture.js';
import { ledgerContract } from './ledger-contract.js';

// The SQLite ledger as tests use it (in this thread) and as the daemon runs it (its own thread, the daemon's clock carried along).
ledgerContract('SQLite', async (clock) => openTestLedger(clock));

ledgerContract('SQLite in the ledger thread', async (clock) => {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-contract-'));
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
  const ledger = await startLedgerThread({ path: join(dir, 'ledger.db'), bookkeepingDelayMs: 5, logLevel: 'silent', logger, clock });
  return {
    ledger,
    async close() {
      await ledger.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
