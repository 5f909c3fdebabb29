import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countStatements, countStatementsPerSms } from '../bench/statements.js';
import { createManualClock } from '../src/core/clock.js';
import { migrate, openDatabase, type Db } from '../src/ledger/sqlite/db.js';
import { readMigrations } from '../src/ledger/migrations.js';
import type { IntakeMessage, Ledger, Receipt } from '../src/ledger/types.js';
import { createClaimPolicy } from '../src/dispatch/claim-policy.js';
import { createSqliteLedger } from '../src/ledger/sqlite/ledger.js';
import { createBatcher } from '../src/ledger/sqlite/thread-protocol.js';
import { intakeMessage, openTestLedger, quietLogger, type TestLedger } from './ledger-fixture.js';

/*
 * What an SMS costs the ledger (issue 17): the statements it runs, that each
 * hot one walks an index, and the one-row-per-part receipts still combining
 * parts in any order, parked or not. Real SQLite files; no timings.
 */

const MINUTE = 60_000;
const clock = createManualClock();
let t: TestLedger;
let db: Db;
let ledger: Ledger;
beforeEach(() => {
  t = openTestLedger(clock);
  ({ db, ledger } = t);
});
afterEach(() => t.close());

/** Every rule on: consent for a purpose with max_silence, both daily caps, a cooldown, the STOP clause once per period. */
function strictMail(recipient: string, over: Partial<IntakeMessage> = {}): IntakeMessage {
  return intakeMessage([recipient], {
    rules: { setupId: 'news', cooldownMs: 10 * MINUTE, purpose: { name: 'news', maxSilenceMs: 180 * 1440 * MINUTE }, dailyLimit: 1000, numberDailyLimit: 100 },
    stopClauseAppended: true,
    stopClauseOnce: { periodMs: 30 * 1440 * MINUTE, text: 'Sale today' },
    ...over,
  });
}

const part = (id: string, n: number, status: Receipt['status'] = 'delivered'): Receipt => ({ providerMessageId: id, status, part: n, parts: 3, rawBody: `{"id":"${id}","part":${n},"s":"${status}"}` });

describe('the hot statements', () => {
  it('every statement of intake, claim, send and receipts (every rule on) searches an index; none scans a table', async () => {
    // A second ledger on the same file, its statements prepared through the counter.
    const seen = countStatements(db);
    const ledger = createSqliteLedger({ db, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() });
    const numbers = ['+4520000101', '+4520000102', '+4520000103'];
    await ledger.changeConsent(numbers.map((recipient) => ({ recipient, purpose: 'news', action: 'opt_in' as const, at: clock.now(), source: 'test' })));
    for (const [i, recipient] of numbers.entries()) {
      await ledger.acceptMessage(strictMail(recipient));
      const [sms] = await ledger.claimDue(10, MINUTE);
      if (!sms) throw new Error('nothing claimed');
      if (i === 0) expect(await ledger.applyReceipt(part(`cost-${i}`, 1))).toBe('parked');
      await ledger.recordSent(sms.outboxId, `cost-${i}`, 3);
      for (const n of [2, 3]) await ledger.applyReceipt(part(`cost-${i}`, n));
      // The same mail again (a client's retry), and a second one the cooldown holds back.
      await ledger.acceptMessage(strictMail(recipient));
      await ledger.checkRecipient(recipient, strictMail(recipient).rules);
    }
    // Everything that finds rows: reads, updates and deletes, inserts that also read (RETURNING a subquery).
    const findsRows = (sql: string) => /^(SELECT|UPDATE|DELETE)/.test(sql) || (sql.startsWith('INSERT') && / RETURNING /.test(sql));
    const plans = [...seen.bySql.keys()]
      .filter(findsRows)
      .map((sql) => ({ sql, plan: (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(paramsOf(sql)) as { detail: string }[]).map((r) => r.detail) }));
    expect(plans.length).toBeGreaterThan(10);
    // A SCAN of a table (not of a subquery's result, materialized or not, or a constant row) reads every row of it.
    const subqueries = (plan: string[]) => plan.flatMap((d) => /^(?:MATERIALIZE|CO-ROUTINE) (\w+)/.exec(d)?.[1] ?? []);
    const tableScan = (d: string, results: string[]) =>
      /^SCAN (?!CONSTANT ROW|\(subquery|json_each|one\b)\w+( |$)(?!.*USING (COVERING )?INDEX)/.test(d) && !results.includes(d.split(' ')[1] ?? '');
    const scans = plans.filter((p) => p.plan.some((d) => tableScan(d, subqueries(p.plan))));
    expect(scans).toEqual([]);
  });
});

/** Null for every parameter: EXPLAIN QUERY PLAN needs them bound, not their values. */
function paramsOf(sql: string): Record<string, null> | null[] {
  const named = [...sql.matchAll(/@(\w+)/g)].map((m) => m[1] as string);
  if (named.length > 0) return Object.fromEntries(named.map((name) => [name, null]));
  return Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => null);
}

describe('statements per SMS', () => {
  it('one SMS end to end (intake, claim, sent, three part receipts) runs at most 20 statements', async () => {
    // 35 before issue 17; bench/statements.ts prints the breakdown.
    const count = await countStatementsPerSms(20, 5);
    expect(count.total).toBeLessThanOrEqual(20);
    // Intake: the message (and the retried-mail check), the number's facts in one read, the outbox row, the reservation.
    expect(count.perSms.intake).toBeLessThanOrEqual(4);
    // Three part receipts: one row each, decided as it is stored, and a read of it back; plus what the last one settles.
    expect(count.perSms.receipts).toBeLessThanOrEqual(8);
    // The claim: one scan for leases run out and due rows, the lease, its row and message, the consent re-check; no event rows.
    expect([count.perSms.claim, count.perSms.sent]).toEqual([5, 3]);
  });
});

describe('one row per part receipt', () => {
  async function sentSms(recipient: string, providerMessageId: string, early: Receipt[] = []): Promise<number> {
    await ledger.acceptMessage(intakeMessage([recipient]));
    const [sms] = await ledger.claimDue(10, MINUTE);
    if (!sms) throw new Error('nothing claimed');
    for (const r of early) expect(await ledger.applyReceipt(r)).toBe('parked');
    await ledger.recordSent(sms.outboxId, providerMessageId, 3);
    return sms.outboxId;
  }
  const outcomes = (id: string) => db.prepare('SELECT part, outcome FROM receipts WHERE provider_message_id = ? ORDER BY id').all(id);

  it('parts that beat the send are parked, counted when the send is recorded, and the last part settles the row', async () => {
    await sentSms('+4520000201', 'pp-1', [part('pp-1', 3), part('pp-1', 1)]);
    expect((await ledger.outbox({ recipient: '+4520000201' }))[0]?.status).toBe('sent');
    expect(await ledger.applyReceipt(part('pp-1', 1, 'failed'))).toBe('duplicate');
    expect(await ledger.applyReceipt(part('pp-1', 2))).toBe('applied');
    expect((await ledger.outbox({ recipient: '+4520000201' }))[0]?.status).toBe('delivered');
    expect(outcomes('pp-1')).toEqual([
      { part: 3, outcome: 'parked, then partial' },
      { part: 1, outcome: 'parked, then partial' },
      { part: 1, outcome: 'duplicate' },
      { part: 2, outcome: 'applied' },
    ]);
    expect(db.prepare('SELECT count(*) FROM receipt_parts').pluck().get()).toBe(0);
  });

  it('every part parked: the send applies them in order and the row ends delivered', async () => {
    await sentSms('+4520000202', 'pp-2', [part('pp-2', 2), part('pp-2', 3), part('pp-2', 1)]);
    expect((await ledger.outbox({ recipient: '+4520000202' }))[0]?.status).toBe('delivered');
    expect(outcomes('pp-2').map((r) => (r as { outcome: string }).outcome)).toEqual(['parked, then partial', 'parked, then partial', 'parked, then applied']);
  });

  it('a failed part settles the row as failed, naming the part, and releases the reservation; later parts change nothing', async () => {
    const outboxId = await sentSms('+4520000203', 'pp-3');
    expect(await ledger.applyReceipt(part('pp-3', 1))).toBe('partial');
    expect(await ledger.applyReceipt(part('pp-3', 3, 'failed'))).toBe('applied');
    expect(await ledger.applyReceipt(part('pp-3', 2))).toBe('stale');
    expect((await ledger.outbox({ recipient: '+4520000203' }))[0]).toMatchObject({ status: 'failed', reason: 'provider: failed (part 3/3)' });
    expect(db.prepare('SELECT state FROM sends WHERE outbox_id = ?').pluck().get(outboxId)).toBe('released');
  });
});

describe('migration 0007 on a ledger of the previous schema', () => {
  it('carries its reservations, sends and outbox rows forward: the cooldown, the cap and the STOP clause still see them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mail2sms-0007-'));
    const path = join(dir, 'ledger.db');
    try {
      const old = openDatabase(path);
      migrate(old, readMigrations().filter((m) => m.version < 7));
      const now = clock.now();
      old.prepare(`INSERT INTO messages (id, received_at, setup_id, mail_from, body_hash, sender_name, sms_text, encoding, segments, characters)
                   VALUES ('OLD1', ?, 'news', 'ops@example.test', 'h', 'Example', 'x', 'gsm7', 1, 1)`).run(now);
      const outbox = old.prepare(`INSERT INTO outbox (message_id, recipient, status, idempotency_key, created_at, updated_at, next_attempt_at, stop_clause, setup_id)
                                  VALUES ('OLD1', ?, ?, ?, ?, ?, ?, 1, 'news')`);
      const send = old.prepare(`INSERT INTO sends (recipient, channel, outbox_id, setup_id, state, reserved_at, sent_at) VALUES (?, 'email', ?, 'news', ?, ?, ?)`);
      // A queued row holding its reservation, and one sent a minute ago: both block a cooldown; two more sends fill a cap of 3.
      const queued = Number(outbox.run('+4520000301', 'queued', 'OLD1.0', now, now, now).lastInsertRowid);
      send.run('+4520000301', queued, 'reserved', now, null);
      const sent = Number(outbox.run('+4520000302', 'sent', 'OLD1.1', now - MINUTE, now - MINUTE, null).lastInsertRowid);
      send.run('+4520000302', sent, 'sent', now - MINUTE, now - MINUTE);
      for (const at of [now - 2 * MINUTE, now - 3 * MINUTE]) old.prepare(`INSERT INTO sends (recipient, channel, state, reserved_at, sent_at) VALUES ('+4520000302', 'api', 'sent', ?, ?)`).run(at, at);
      old.close();

      const db = openDatabase(path);
      expect(migrate(db).applied).toContain('0007_ledger_cost.sql');
      const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index'`).pluck().all() as string[];
      expect(indexes).toContain('sends_recipient_state');
      expect(indexes.filter((name) => ['sends_reserved', 'sends_recipient_reserved', 'outbox_stop_clause'].includes(name))).toEqual([]);
      const moved = createSqliteLedger({ db, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() });
      const rules = (numberDailyLimit: number | null) => ({ setupId: 'news', cooldownMs: 10 * MINUTE, purpose: null, dailyLimit: null, numberDailyLimit });
      expect(await moved.checkRecipient('+4520000301', rules(null))).toMatchObject({ allowed: false, reason: 'cooldown', until: null });
      expect(await moved.checkRecipient('+4520000302', rules(null))).toMatchObject({ allowed: false, reason: 'cooldown', until: now - MINUTE + 10 * MINUTE });
      expect(await moved.checkRecipient('+4520000302', rules(3))).toMatchObject({ allowed: false, reason: 'number_daily_limit', until: now - 3 * MINUTE + 1440 * MINUTE });
      expect(await moved.checkRecipient('+4520000302', rules(4))).toMatchObject({ allowed: false, reason: 'cooldown' });
      // The STOP clause once per period still finds the number's earlier clause (through outbox_recipient now).
      const clause = intakeMessage(['+4520000302'], { text: 'Sale STOP to 1234', stopClauseAppended: true, stopClauseOnce: { periodMs: 30 * 1440 * MINUTE, text: 'Sale' } });
      await moved.acceptMessage(clause);
      expect(db.prepare(`SELECT stop_clause FROM outbox WHERE recipient = '+4520000302' ORDER BY id DESC LIMIT 1`).pluck().get()).toBe(0);
      await moved.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('messages to the ledger thread', () => {
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('bookkeeping from separate tasks shares one message; an urgent call takes waiting bookkeeping along at once', async () => {
    const posts: string[][] = [];
    const post = createBatcher<string>((items) => posts.push(items), (item) => item.startsWith('receipt'));
    // Two timers due together run in one timers phase: two tasks, before the next check phase.
    await new Promise<void>((resolve) => {
      setTimeout(() => post('receipt 1'), 0);
      setTimeout(() => {
        post('receipt 2');
        resolve();
      }, 0);
    });
    expect(posts).toEqual([]);
    await tick();
    expect(posts).toEqual([['receipt 1', 'receipt 2']]);
    posts.length = 0;
    post('receipt 3');
    post('claim');
    await Promise.resolve();
    expect(posts).toEqual([['receipt 3', 'claim']]);
    await tick();
    expect(posts).toHaveLength(1);
  });
});
