import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase, type Db } from '../src/ledger/sqlite/db.js';
import { intakeMessage, openTestLedger, type TestLedger } from './ledger-fixture.js';
import type { IntakeMessage, Ledger } from '../src/ledger/types.js';

/*
 * The ledger rules against a real SQLite file, with the clock moved by hand.
 */

const MINUTE = 60_000;
let db: Db;
let ledger: Ledger;
let t: TestLedger;
const clock = createManualClock();

beforeEach(() => {
  t = openTestLedger(clock);
  ({ db, ledger } = t);
});
afterEach(() => t.close());

function mail(recipients: string[], cooldownMs: number | null = 10 * MINUTE, overrides: Partial<IntakeMessage> = {}): IntakeMessage {
  return intakeMessage(recipients, { rules: { setupId: 'alerts', cooldownMs, purpose: null, dailyLimit: null, numberDailyLimit: null }, ...overrides });
}

async function sendNow(number: string): Promise<void> {
  await ledger.acceptMessage(mail([number]));
  const [claimed] = await ledger.claimDue(1, MINUTE);
  if (!claimed) throw new Error('nothing claimed');
  await ledger.recordSent(claimed.outboxId, `p-${claimed.outboxId}`);
}

describe('cooldown', () => {
  it.each([
    ['one minute later', 1 * MINUTE, 'suppressed'],
    ['one ms before the interval ends', 10 * MINUTE - 1, 'suppressed'],
    ['exactly one interval later (half-open)', 10 * MINUTE, 'queued'],
    ['after the interval', 11 * MINUTE, 'queued'],
  ] as const)('a send to the number %s: %s', async (_name, after, outcome) => {
    const start = clock.now();
    await sendNow('+4520123456');
    clock.set(start + after);
    const result = await ledger.acceptMessage(mail(['+4520123456']));
    expect(result.decisions[0]?.outcome).toBe(outcome);
    if (outcome === 'suppressed') expect(result.decisions[0]?.blockedUntil).toBe(start + 10 * MINUTE);
  });

  it('a reservation still queued blocks, whatever its age', async () => {
    await ledger.acceptMessage(mail(['+4520123456']));
    clock.advance(60 * MINUTE);
    const result = await ledger.acceptMessage(mail(['+4520123456']));
    expect(result.decisions[0]).toMatchObject({ recipient: '+4520123456', outcome: 'suppressed', reason: 'cooldown', detail: 'cooldown: an earlier SMS to this number is still pending' });
    expect(result.decisions[0]?.blockedUntil).toBeUndefined();
  });

  it('a row that fails permanently releases its reservation', async () => {
    await ledger.acceptMessage(mail(['+4520123456']));
    const [claimed] = await ledger.claimDue(1, MINUTE);
    await ledger.recordFailure(claimed!.outboxId, 'provider answered 400');
    const result = await ledger.acceptMessage(mail(['+4520123456']));
    expect(result.decisions[0]?.outcome).toBe('queued');
  });

  it('with cooldown off the mail is queued but still reserves against other setups', async () => {
    const off = await ledger.acceptMessage(mail(['+4520123456'], null));
    const off2 = await ledger.acceptMessage(mail(['+4520123456'], null));
    expect([off.decisions[0]?.outcome, off2.decisions[0]?.outcome]).toEqual(['queued', 'queued']);
    const strict = await ledger.acceptMessage(mail(['+4520123456']));
    expect(strict.decisions[0]?.outcome).toBe('suppressed');
  });

  it('concurrent mails in one group commit: the first reserves, the rest are suppressed', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => ledger.acceptMessage(mail(['+4520123456']))));
    expect(results.filter((r) => r.decisions[0]?.outcome === 'queued')).toHaveLength(1);
    expect(new Set(results.map((r) => r.queueId)).size).toBe(20);
  });

  it('another number is not affected', async () => {
    await sendNow('+4520123456');
    const result = await ledger.acceptMessage(mail(['+4540123456']));
    expect(result.decisions[0]?.outcome).toBe('queued');
  });
});

describe('retried mail', () => {
  it('within 24 h returns the original queue id; after 24 h it is a new mail', async () => {
    const original = mail(['+4520123456'], null);
    const first = await ledger.acceptMessage(original);
    const retry = await ledger.acceptMessage({ ...original, sessionRef: 'other' });
    expect(retry).toMatchObject({ queueId: first.queueId, duplicate: true });
    clock.advance(24 * 60 * MINUTE + 1);
    const late = await ledger.acceptMessage(original);
    expect(late.duplicate).toBe(false);
  });

  it('a different body with the same Message-ID is not a retry', async () => {
    const original = mail(['+4520123456'], null);
    await ledger.acceptMessage(original);
    const changed = await ledger.acceptMessage({ ...original, bodyHash: 'other' });
    expect(changed.duplicate).toBe(false);
  });
});

describe('dispatch leases', () => {
  it('a lease that ends is claimed again with the same idempotency key and the next attempt', async () => {
    await ledger.acceptMessage(mail(['+4520123456']));
    const [first] = await ledger.claimDue(5, MINUTE);
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
    clock.advance(MINUTE);
    const [again] = await ledger.claimDue(5, MINUTE);
    expect(again).toMatchObject({ outboxId: first!.outboxId, idempotencyKey: first!.idempotencyKey, attempt: 2 });
  });

  it('a retry is due only at its next attempt time', async () => {
    await ledger.acceptMessage(mail(['+4520123456']));
    const [claimed] = await ledger.claimDue(1, MINUTE);
    await ledger.recordRetry(claimed!.outboxId, 'provider answered 503', clock.now() + 5000);
    expect(await ledger.claimDue(1, MINUTE)).toEqual([]);
    expect(await ledger.nextDueAt()).toBe(clock.now() + 5000);
    clock.advance(5000);
    expect(await ledger.claimDue(1, MINUTE)).toHaveLength(1);
  });
});

describe('migrations', () => {
  it('are applied once and recorded', () => {
    expect(migrate(db).applied).toEqual([]);
    const rows = db.prepare('SELECT version, name FROM schema_migrations').all();
    expect(rows).toEqual([
      { version: 1, name: '0001_initial.sql' },
      { version: 2, name: '0002_consent.sql' },
      { version: 3, name: '0003_dispatch.sql' },
      { version: 4, name: '0004_contacts.sql' },
      { version: 5, name: '0005_console.sql' },
      { version: 6, name: '0006_automations.sql' },
      { version: 7, name: '0007_ledger_cost.sql' },
      { version: 9, name: '0009_steps_from_outbox.sql' },
      { version: 10, name: '0010_reply_threads.sql' },
    ]);
  });

  it('refuse a database written by a newer version', () => {
    db.prepare("INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 0)").run();
    expect(() => migrate(db)).toThrow(/migration\(s\) 999 .* newer version/);
  });
});

describe('the ledger file', () => {
  it('is opened with the settings durability and speed depend on: WAL, a synced commit, a page cache of 64 MiB', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mail2sms-open-'));
    const opened = openDatabase(join(dir, 'ledger.db'));
    try {
      expect(opened.pragma('journal_mode', { simple: true })).toBe('wal');
      // 2 = FULL: the WAL is synced before a commit returns, so before any 250 (group-commit.ts lowers it only for batches nobody waits on).
      expect(opened.pragma('synchronous', { simple: true })).toBe(2);
      expect(opened.pragma('cache_size', { simple: true })).toBe(-65536);
    } finally {
      opened.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
