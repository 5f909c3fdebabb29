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
    const params = { now, since: now, limit: 10, at: now, id: 1, row: 1, r: '+4520123450', arm: 3, seq: 1, skip: 0, take: 1 };
    for (const [name, sql] of Object.entries(CONSOLE_SQL)) {
      const named = Object.fromEntries(Object.entries(params).filter(([key]) => sql.includes(`@${key}`)));
      const statement = t.db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
      const plan = (sql.includes('?') ? statement.all('x', named) : statement.all(named)) as { detail: string }[];
      // Subqueries the plan names (a page of rows read through an index) may be scanned: they are the page.
      const subqueries = new Set(plan.map((row) => /^(?:CO-ROUTINE|MATERIALIZE) (\S+)$/.exec(row.detail)?.[1]).filter(Boolean));
      for (const { detail } of plan) {
        // A SCAN is allowed only along an index (the partial ones hold just the queue).
        const scanned = /^SCAN (\S+)/.exec(detail)?.[1];
        if (scanned && !subqueries.has(scanned) && !/^\(subquery-\d+\)$/.test(scanned)) expect(detail, name).toMatch(/USING (COVERING )?INDEX/);
      }
      expect(plan.length, name).toBeGreaterThan(0);
    }
    const overview = t.db.prepare(`EXPLAIN QUERY PLAN ${CONSOLE_SQL.queuedBySetup}`).all({ now }) as { detail: string }[];
    // The queue through its partial index; a row not yet due looks up its message by primary key (queue-state.ts).
    expect(overview.map((row) => row.detail)).toEqual([
      'MATERIALIZE q', 'SCAN o USING INDEX outbox_due_by_setup', 'CORRELATED SCALAR SUBQUERY 1',
      'SEARCH messages USING INDEX sqlite_autoindex_messages_1 (id=?)', 'SCAN q', 'USE TEMP B-TREE FOR GROUP BY',
    ]);
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

  it('counts the queue per setup (due, scheduled, deferred, retrying) and the last hour\'s outcomes by reason; the oldest is of rows due now', async () => {
    await t.ledger.acceptMessage(intakeMessage(['+4520123450']));
    await t.ledger.acceptMessage(intakeMessage(['+4520123451'], { sendAt: now + 3_600_000, setupId: 'billing' }));
    await t.ledger.acceptMessage(intakeMessage(['+4520123452']));
    const [claimed] = await t.ledger.claimDue(1, 60_000);
    await t.ledger.recordFailure(claimed?.outboxId ?? 0, 'provider: failed (E7)');
    const overview = await t.ledger.consoleQuery({ kind: 'overview', now, sinceMs: 3_600_000 });
    expect(overview.setups).toEqual([
      { setupId: 'alerts', queued: 1, scheduled: 0, deferred: 0, retrying: 0, sending: 0, oldestQueuedAt: now },
      // Nothing of billing is due: no "oldest queued row" while due now is 0 (issue 29).
      { setupId: 'billing', queued: 0, scheduled: 1, deferred: 0, retrying: 0, sending: 0, oldestQueuedAt: null },
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

  it('pages a number\'s history by key: no gaps or repeats, ties in the same millisecond included, an old page number lands where it did', async () => {
    const T = Date.parse('2026-11-30T12:00:00Z');
    for (let i = 0; i < 5; i++) {
      // Two mails in the same millisecond each time: their entries share `at` and are told apart by the key's last parts.
      await t.ledger.acceptMessage(intakeMessage(['+4520123450']));
      await t.ledger.acceptMessage(intakeMessage(['+4520123450']));
      now += 1000;
    }
    await t.ledger.recordExternalSends([{ recipient: '+4520123450', at: T + 2000, channel: 'campaign', ref: 'c-1' }]);
    const all = await t.ledger.consoleQuery({ kind: 'history', recipient: '+4520123450', limit: 100, now });
    expect(all.entries).toHaveLength(11);
    expect(all.next).toBeUndefined();
    const paged: typeof all.entries = [];
    let before: typeof all.next;
    for (let page = 0; page < 10; page++) {
      const result = await t.ledger.consoleQuery({ kind: 'history', recipient: '+4520123450', limit: 3, now, ...(before ? { before } : {}) });
      paged.push(...result.entries);
      if (!result.next) break;
      before = result.next;
    }
    expect(paged).toEqual(all.entries);
    expect(all.entries.map((e) => e.at)).toEqual([4, 4, 3, 3, 2, 2, 2, 1, 1, 0, 0].map((s) => T + s * 1000));
    // `?page=3` of 3 entries a page: the entries after the first 6, as OFFSET gave them.
    const third = await t.ledger.consoleQuery({ kind: 'history', recipient: '+4520123450', limit: 3, now, skip: 6 });
    expect(third.entries).toEqual(all.entries.slice(6, 9));
    expect(third.next).toBeDefined();
  });
});
