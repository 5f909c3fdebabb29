import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONSOLE_SQL } from '../src/ledger/console-sql.js';
import { intakeMessage, openTestLedger, type TestLedger } from './ledger-fixture.js';

/*
 * The console's questions to a real SQLite ledger: every statement walks an
 * index (the pages must stay fast on 10^7 rows; bench/console-pages measures
 * it), and the paged ones page without gaps or repeats.
 */

let now = Date.parse('2026-11-30T12:00:00Z');
const clock = { now: () => now };
let t: TestLedger;

beforeEach(() => {
  now = Date.parse('2026-11-30T12:00:00Z');
  t = openTestLedger(clock);
});
afterEach(() => t.close());

describe('console queries', () => {
  it('read through indexes only: no statement scans a whole table (EXPLAIN QUERY PLAN)', () => {
    const params = { now, since: now, limit: 10, at: now, id: 1, row: 1 };
    for (const [name, sql] of Object.entries(CONSOLE_SQL)) {
      const named = Object.fromEntries(Object.entries(params).filter(([key]) => sql.includes(`@${key}`)));
      const statement = t.db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
      const plan = (sql.includes('?') ? statement.all('x', named) : statement.all(named)) as { detail: string }[];
      for (const { detail } of plan) {
        // A SCAN is allowed only along an index (the partial ones hold just the queue).
        if (/^SCAN /.test(detail)) expect(detail, name).toMatch(/USING (COVERING )?INDEX/);
      }
      expect(plan.length, name).toBeGreaterThan(0);
    }
    const overview = t.db.prepare(`EXPLAIN QUERY PLAN ${CONSOLE_SQL.queuedBySetup}`).all({ now }) as { detail: string }[];
    expect(overview.map((row) => row.detail)).toEqual(['SCAN outbox USING COVERING INDEX outbox_due_by_setup']);
  });

  it('pages the queue in due order without gaps or repeats', async () => {
    const recipients = Array.from({ length: 7 }, (_, i) => `+452012345${i}`);
    for (const [i, recipient] of recipients.entries()) {
      await t.ledger.acceptMessage(intakeMessage([recipient], { sendAt: now + (i % 3) * 60_000 }));
    }
    const seen: { at: number; id: number }[] = [];
    let after: { at: number; id: number } | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await t.ledger.consoleQuery({ kind: 'queue', now, limit: 3, ...(after ? { after } : {}) });
      seen.push(...result.waiting.map((r) => ({ at: r.nextAttemptAt ?? 0, id: r.outboxId })));
      if (!result.next) break;
      after = result.next;
    }
    expect(new Set(seen.map((r) => r.id)).size).toBe(7);
    expect(seen).toEqual([...seen].sort((a, b) => a.at - b.at || a.id - b.id));
    expect(seen.map((r) => r.at)).toEqual([0, 0, 0, 1, 1, 2, 2].map((minutes) => now + minutes * 60_000));
  });

  it('counts the queue per setup (due, scheduled, deferred) and the last hour\'s outcomes by reason', async () => {
    await t.ledger.acceptMessage(intakeMessage(['+4520123450']));
    await t.ledger.acceptMessage(intakeMessage(['+4520123451'], { sendAt: now + 3_600_000, setupId: 'billing' }));
    await t.ledger.acceptMessage(intakeMessage(['+4520123452']));
    const [claimed] = await t.ledger.claimDue(1, 60_000);
    await t.ledger.recordFailure(claimed?.outboxId ?? 0, 'provider: failed (E7)');
    const overview = await t.ledger.consoleQuery({ kind: 'overview', now, sinceMs: 3_600_000 });
    expect(overview.setups).toEqual([
      { setupId: 'alerts', queued: 1, scheduled: 0, deferred: 0, sending: 0, oldestQueuedAt: now },
      { setupId: 'billing', queued: 0, scheduled: 1, deferred: 0, sending: 0, oldestQueuedAt: now },
    ]);
    expect(overview.outcomes).toEqual([{ status: 'failed', reason: 'provider: failed (E7)', count: 1 }]);
    now += 3_600_001;
    expect((await t.ledger.consoleQuery({ kind: 'overview', now, sinceMs: 3_600_000 })).outcomes).toEqual([]);
  });

  it('finds a mail by queue id, and the mails of an SMTP transaction by the ref its reply quoted', async () => {
    const { queueId } = await t.ledger.acceptMessage(intakeMessage(['+4520123450'], { sessionRef: 'abc123.2' }));
    expect(await t.ledger.consoleQuery({ kind: 'find', text: queueId })).toEqual({ queueIds: [queueId], by: 'queue id' });
    expect(await t.ledger.consoleQuery({ kind: 'find', text: '[ref abc123.2]' })).toEqual({ queueIds: [queueId], by: 'ref' });
    expect(await t.ledger.consoleQuery({ kind: 'find', text: 'abc123.2' })).toEqual({ queueIds: [queueId], by: 'ref' });
    expect(await t.ledger.consoleQuery({ kind: 'find', text: 'abc123.3' })).toEqual({ queueIds: [], by: 'nothing' });
  });

  it('pages a number\'s history like `history --limit`, saying when there is more', async () => {
    for (let i = 0; i < 5; i++) {
      await t.ledger.acceptMessage(intakeMessage(['+4520123450']));
      now += 1000;
    }
    const first = await t.ledger.consoleQuery({ kind: 'history', recipient: '+4520123450', limit: 3, offset: 0, now });
    const second = await t.ledger.consoleQuery({ kind: 'history', recipient: '+4520123450', limit: 3, offset: 3, now });
    expect(first.more).toBe(true);
    expect(second.more).toBe(false);
    expect([...first.entries, ...second.entries].map((e) => e.at)).toEqual([4000, 3000, 2000, 1000, 0].map((d) => Date.parse('2026-11-30T12:00:00Z') + d));
  });
});
