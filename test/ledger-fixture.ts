import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Clock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { migrate, openDatabase, type Db } from '../src/ledger/sqlite/db.js';
import { createClaimPolicy } from '../src/dispatch/claim-policy.js';
import { createSqliteLedger, type SqliteLedgerDeps } from '../src/ledger/sqlite/ledger.js';
import type { IntakeMessage, Ledger } from '../src/ledger/types.js';
import { measureSms } from '../src/message/encoding.js';

/** A logger that writes nowhere. */
export const quietLogger = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });

export interface TestLedger {
  dir: string;
  db: Db;
  ledger: Ledger;
  close(): Promise<void>;
}

/** A real ledger on a fresh SQLite file in a temp dir, driven by the given clock. */
export function openTestLedger(clock: Clock, options: Partial<Pick<SqliteLedgerDeps, 'receiptGraceMs' | 'bookkeepingDelayMs'>> = {}): TestLedger {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-ledger-'));
  const db = openDatabase(join(dir, 'ledger.db'));
  migrate(db);
  const ledger = createSqliteLedger({ db, clock, logger: quietLogger(), claimPolicy: createClaimPolicy(), ...options });
  return {
    dir,
    db,
    ledger,
    async close() {
      await ledger.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let serial = 0;

/** An accepted mail as intake hands it to the ledger: an alert with no rules but what `over` adds. */
export function intakeMessage(recipients: string[], over: Partial<IntakeMessage> = {}): IntakeMessage {
  serial++;
  const setupId = over.setupId ?? 'alerts';
  const text = over.text ?? 'Server down';
  return {
    setupId,
    senderName: 'Example',
    mailFrom: 'ops@example.test',
    headerMessageId: `<m${serial}@example.test>`,
    bodyHash: `hash${serial}`,
    clientIp: '127.0.0.1',
    sessionRef: `s.${serial}`,
    text,
    measure: measureSms(text),
    recipients,
    rules: { setupId, cooldownMs: null, purpose: null, dailyLimit: null, numberDailyLimit: null },
    stopClauseAppended: false,
    ...over,
  };
}
