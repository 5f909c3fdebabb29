import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import type { Db } from '../src/ledger/sqlite/db.js';
import { intakeMessage, openTestLedger, type TestLedger } from './ledger-fixture.js';
import { DUE_REPORTS_SQL } from '../src/ledger/notify-sql.js';
import type { IntakeMessage, Ledger } from '../src/ledger/types.js';
import { measureSms } from '../src/message/encoding.js';

/*
 * The ledger queries behind reports and reply forwarding, against a real SQLite
 * file with the clock moved by hand.
 */

const HOUR = 3_600_000;
let db: Db;
let ledger: Ledger;
let t: TestLedger;
const clock = createManualClock();

beforeEach(() => {
  t = openTestLedger(clock);
  ({ db, ledger } = t);
});
afterEach(() => t.close());

const mail = (recipients: string[], overrides: Partial<IntakeMessage> = {}): IntakeMessage =>
  intakeMessage(recipients, { senderName: '4570000001', subject: 'Server down', ...overrides });

/** Claims every due row and returns their outbox ids by recipient. */
async function claimAll(): Promise<Map<string, number>> {
  const claimed = await ledger.claimDue(100, HOUR);
  return new Map(claimed.map((c) => [c.recipient, c.outboxId]));
}

const receipt = (providerMessageId: string, status: 'delivered' | 'failed') => ledger.applyReceipt({ providerMessageId, status, rawBody: '{}' });
const sentBefore = () => clock.now() - HOUR;

describe('dueReports', () => {
  it('holds a report until every row is final, then lists every outcome once', async () => {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123401', '+4520123402'], { reportMode: 'failures' }));
    expect(await ledger.dueReports(10, sentBefore())).toEqual([]);

    const ids = await claimAll();
    expect(await ledger.dueReports(10, sentBefore())).toEqual([]); // sending
    await ledger.recordSent(ids.get('+4520123401') as number, 'p-1');
    await ledger.recordFailure(ids.get('+4520123402') as number, 'provider: number permanently unreachable');
    expect(await ledger.dueReports(10, sentBefore())).toEqual([]); // one waits for its receipt

    clock.advance(1000);
    await receipt('p-1', 'delivered');
    const [due, ...rest] = await ledger.dueReports(10, sentBefore());
    expect(rest).toEqual([]);
    expect(due).toMatchObject({ queueId, setupId: 'alerts', mailFrom: 'ops@example.test', subject: 'Server down', mode: 'failures' });
    expect(due?.headerMessageId).toMatch(/^<m\d+@example\.test>$/);
    expect(due?.outcomes.map((o) => [o.recipient, o.status, o.reason])).toEqual([
      ['+4520123401', 'delivered', null],
      ['+4520123402', 'failed', 'provider: number permanently unreachable'],
    ]);

    expect(await ledger.markReported(queueId, 'sent to ops@example.test')).toBe(true);
    expect(await ledger.markReported(queueId, 'again')).toBe(false);
    expect(await ledger.dueReports(10, sentBefore())).toEqual([]);
    expect(db.prepare(`SELECT detail FROM events WHERE message_id = ? AND type = 'report'`).pluck().all(queueId)).toEqual(['sent to ops@example.test']);
  });

  it('a row sent without a receipt holds the report only until report_timeout', async () => {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123403'], { reportMode: 'all' }));
    const ids = await claimAll();
    await ledger.recordSent(ids.get('+4520123403') as number, 'p-3');
    clock.advance(HOUR - 1);
    expect(await ledger.dueReports(10, sentBefore())).toEqual([]);
    clock.advance(1);
    const due = await ledger.dueReports(10, sentBefore());
    expect(due.map((d) => [d.queueId, d.outcomes[0]?.status])).toEqual([[queueId, 'sent']]);
  });

  it('suppressed-only mails are due at once; mails without a report mode never', async () => {
    const suppressedRules = { setupId: 'alerts', cooldownMs: HOUR, purpose: null, dailyLimit: null, numberDailyLimit: null };
    await ledger.acceptMessage(mail(['+4520123404'], { rules: suppressedRules }));
    const second = await ledger.acceptMessage(mail(['+4520123404'], { rules: suppressedRules, reportMode: 'failures' }));
    expect(second.decisions[0]?.outcome).toBe('suppressed');
    expect((await ledger.dueReports(10, sentBefore())).map((d) => d.queueId)).toEqual([second.queueId]);
  });

  it('returns at most `limit`, oldest first', async () => {
    const queued: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      const suppressedRules = { setupId: 'alerts', cooldownMs: HOUR, purpose: null, dailyLimit: null, numberDailyLimit: null };
      await ledger.acceptMessage(mail([`+452012341${i}`], { rules: suppressedRules }));
      queued.push((await ledger.acceptMessage(mail([`+452012341${i}`], { rules: suppressedRules, reportMode: 'all' }))).queueId);
    }
    expect((await ledger.dueReports(2, sentBefore())).map((d) => d.queueId)).toEqual(queued.slice(0, 2));
  });

  it('walks the partial index messages_report_pending (EXPLAIN QUERY PLAN)', () => {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${DUE_REPORTS_SQL}`).all({ limit: 10, sentBefore: 0 }) as { detail: string }[]).map((row) => row.detail);
    expect(plan.some((detail) => /SCAN m USING INDEX messages_report_pending/.test(detail))).toBe(true);
    // The per-message check goes through the outbox's message index, never a scan of the outbox.
    expect(plan.some((detail) => /outbox_message/.test(detail))).toBe(true);
    expect(plan.some((detail) => /^SCAN o\b/.test(detail))).toBe(false);
    expect(plan.some((detail) => /TEMP B-TREE/.test(detail))).toBe(false);
  });
});

describe('lastSmsTo', () => {
  it('finds the newest sent or delivered SMS from an email, with that mail', async () => {
    const n = '+4520123420';
    expect(await ledger.lastSmsTo(n)).toBeUndefined();
    const first = await ledger.acceptMessage(mail([n], { setupId: 'first' }));
    let ids = await claimAll();
    await ledger.recordSent(ids.get(n) as number, 'p-20');
    clock.advance(1000);
    const second = await ledger.acceptMessage(mail([n], { setupId: 'second', mailFrom: 'desk@example.test', subject: 'Callout' }));
    ids = await claimAll();
    await ledger.recordSent(ids.get(n) as number, 'p-21');
    await receipt('p-21', 'delivered');
    // Queued, not yet sent: it is not what the number answers.
    clock.advance(1000);
    await ledger.acceptMessage(mail([n], { setupId: 'third' }));

    const last = await ledger.lastSmsTo(n);
    expect(last).toMatchObject({ queueId: second.queueId, setupId: 'second', mailFrom: 'desk@example.test', subject: 'Callout', senderName: '4570000001' });
    expect(last?.queueId).not.toBe(first.queueId);
  });

  it('skips answers to keywords (no email behind them)', async () => {
    const n = '+4520123421';
    const original = await ledger.acceptMessage(mail([n]));
    let ids = await claimAll();
    await ledger.recordSent(ids.get(n) as number, 'p-30');
    clock.advance(1000);
    await ledger.recordInbound({
      providerId: 'in-1', from: n, to: undefined, text: 'HELP', receivedAt: clock.now(), kind: 'help',
      reply: { senderName: '4570000000', text: 'Reply STOP to opt out', measure: measureSms('Reply STOP to opt out') },
    });
    ids = await claimAll();
    await ledger.recordSent(ids.get(n) as number, 'p-31');
    expect((await ledger.lastSmsTo(n))?.queueId).toBe(original.queueId);
  });
});
