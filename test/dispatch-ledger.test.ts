import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import type { Db } from '../src/ledger/sqlite/db.js';
import { intakeMessage, openTestLedger, type TestLedger } from './ledger-fixture.js';
import type { Ledger } from '../src/ledger/types.js';
import { sendingWindowSchema } from '../src/core/sending-window.js';

/*
 * What the ledger decides when a row is about to be sent, and what receipts
 * do to it: freshness, sending windows, scheduling, fairness between setups,
 * parked and multipart receipts, unknown outcomes. Real SQLite, a hand-moved clock.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
let db: Db;
let ledger: Ledger;
let t: TestLedger;
const clock = createManualClock();
const GRACE = 10 * MINUTE;

beforeEach(() => {
  clock.set(Date.parse('2026-11-20T19:30:00Z')); // Friday 20:30 in Copenhagen
  t = openTestLedger(clock, { receiptGraceMs: GRACE });
  ({ db, ledger } = t);
});
afterEach(() => t.close());

const mail = intakeMessage;
const events = (type: string) => db.prepare('SELECT detail FROM events WHERE type = ? ORDER BY id').pluck().all(type) as string[];

describe('freshness (max_age)', () => {
  it('a row not sent by its expiry ends expired with the reason, and frees its reservation', async () => {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123456'], { expiresAt: clock.now() + HOUR }));
    clock.advance(HOUR);
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
    const [row] = await ledger.outbox({ queueId });
    expect(row).toMatchObject({ status: 'expired', reason: expect.stringContaining('max_age: not sent by') });
    expect(db.prepare('SELECT state FROM sends').pluck().all()).toEqual(['released']);
  });

  it('one ms before the expiry it is still sent', async () => {
    await ledger.acceptMessage(mail(['+4520123456'], { expiresAt: clock.now() + HOUR }));
    clock.advance(HOUR - 1);
    expect(await ledger.claimDue(5, MINUTE)).toHaveLength(1);
  });
});

describe('sending windows', () => {
  const window = sendingWindowSchema.parse({ timezone: 'Europe/Copenhagen', days: 'mon-fri', hours: '08:00-20:00' });

  it('defers a row outside the window to the next opening, visibly, and sends it then', async () => {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123456'], { sendingWindow: window }));
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
    const monday8 = Date.parse('2026-11-23T07:00:00Z');
    expect(events('deferred')).toEqual([`outside the sending window; next opening ${new Date(monday8).toISOString()}`]);
    expect(await ledger.nextDueAt()).toBe(monday8);
    const [row] = await ledger.outbox({ queueId });
    expect(row).toMatchObject({ status: 'queued', attempts: 0 });
    clock.set(monday8 - 1);
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
    clock.set(monday8);
    expect(await ledger.claimDue(5, MINUTE)).toHaveLength(1);
  });

  it('a row that would expire before the window opens expires at its expiry, not on Monday', async () => {
    const expiresAt = clock.now() + HOUR;
    await ledger.acceptMessage(mail(['+4520123456'], { sendingWindow: window, expiresAt }));
    await ledger.claimDue(5, MINUTE);
    expect(await ledger.nextDueAt()).toBe(expiresAt);
    clock.set(expiresAt);
    await ledger.claimDue(5, MINUTE);
    expect((await ledger.outbox())[0]?.status).toBe('expired');
  });
});

describe('scheduling (X-SMS-Send-At)', () => {
  it('is not due before its time', async () => {
    const sendAt = clock.now() + 2 * HOUR;
    await ledger.acceptMessage(mail(['+4520123456'], { sendAt }));
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
    clock.set(sendAt);
    expect(await ledger.claimDue(5, MINUTE)).toHaveLength(1);
  });
});

describe('fairness between setups', () => {
  it('a flood from one setup does not keep another setup waiting', async () => {
    const flood = Array.from({ length: 40 }, (_, i) => `+45201234${String(i).padStart(2, '0')}`);
    for (let i = 0; i < 40; i += 5) await ledger.acceptMessage(mail(flood.slice(i, i + 5), { setupId: 'bulk' }));
    clock.advance(1);
    await ledger.acceptMessage(mail(['+4520129999'], { setupId: 'alerts' }));
    const claimed = await ledger.claimDue(4, MINUTE);
    expect(claimed.map((c) => c.setupId).sort()).toEqual(['alerts', 'bulk', 'bulk', 'bulk']);
  });
});

describe('receipts', () => {
  async function sentRow(parts?: number): Promise<{ outboxId: number; queueId: string }> {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123456']));
    const [claimed] = await ledger.claimDue(1, MINUTE);
    await ledger.recordSent(claimed!.outboxId, `p-${queueId}`, parts);
    return { outboxId: claimed!.outboxId, queueId };
  }
  const receipt = (id: string, status: 'delivered' | 'failed' | 'expired' | 'rejected', extra: { part?: number; parts?: number; errorCode?: string } = {}) =>
    ledger.applyReceipt({ providerMessageId: id, status, rawBody: '{}', ...extra });

  it('a receipt that beats the send answer is parked, then applied when the id is known', async () => {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123456']));
    const [claimed] = await ledger.claimDue(1, MINUTE);
    expect(await receipt('early-1', 'delivered')).toBe('parked');
    await ledger.recordSent(claimed!.outboxId, 'early-1');
    expect((await ledger.outbox({ queueId }))[0]?.status).toBe('delivered');
    expect(db.prepare(`SELECT outcome FROM receipts`).pluck().all()).toEqual(['parked, then applied']);
  });

  it('an id still unknown after the grace period gets 404 (unknown); before it, parked', async () => {
    expect(await receipt('ghost', 'delivered')).toBe('parked');
    clock.advance(GRACE - 1);
    expect(await receipt('ghost', 'delivered')).toBe('parked');
    clock.advance(1);
    expect(await receipt('ghost', 'delivered')).toBe('unknown');
  });

  it('a 3-part SMS is delivered when every part is, in any order, and repeats change nothing', async () => {
    const { queueId } = await sentRow(3);
    expect(await receipt(`p-${queueId}`, 'delivered', { part: 2, parts: 3 })).toBe('partial');
    expect(await receipt(`p-${queueId}`, 'delivered', { part: 2, parts: 3 })).toBe('duplicate');
    expect(await receipt(`p-${queueId}`, 'delivered', { part: 3, parts: 3 })).toBe('partial');
    expect((await ledger.outbox({ queueId }))[0]?.status).toBe('sent');
    expect(await receipt(`p-${queueId}`, 'delivered', { part: 1, parts: 3 })).toBe('applied');
    expect((await ledger.outbox({ queueId }))[0]?.status).toBe('delivered');
  });

  it('a multipart SMS fails as soon as one part fails, with that part named, and a late delivered part is stale', async () => {
    const { queueId } = await sentRow(2);
    expect(await receipt(`p-${queueId}`, 'delivered', { part: 1, parts: 2 })).toBe('partial');
    expect(await receipt(`p-${queueId}`, 'failed', { part: 2, parts: 2, errorCode: 'ABSENT' })).toBe('applied');
    const [row] = await ledger.outbox({ queueId });
    expect(row).toMatchObject({ status: 'failed', reason: 'provider: failed (part 2/2 ABSENT)' });
    expect(await receipt(`p-${queueId}`, 'delivered', { part: 2, parts: 2 })).toBe('stale');
    expect(db.prepare('SELECT state FROM sends').pluck().all()).toEqual(['released']);
  });

  it.each(['expired', 'rejected'] as const)('%s ends the row with the reason and frees the reservation', async (status) => {
    const { queueId } = await sentRow();
    expect(await receipt(`p-${queueId}`, status, { errorCode: 'E42' })).toBe('applied');
    expect((await ledger.outbox({ queueId }))[0]).toMatchObject({ status, reason: `provider: ${status} (E42)` });
    expect(db.prepare('SELECT state FROM sends').pluck().all()).toEqual(['released']);
  });
});

describe('unknown outcomes', () => {
  it('recordUnknown ends the row unknown, final, and it counts as sent for the cooldown', async () => {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123456'], { onUnknown: 'fail' }));
    const [claimed] = await ledger.claimDue(1, MINUTE);
    expect(claimed?.onUnknown).toBe('fail');
    await ledger.recordUnknown(claimed!.outboxId, 'timeout after request was sent');
    expect((await ledger.outbox({ queueId }))[0]).toMatchObject({ status: 'unknown', reason: 'timeout after request was sent' });
    expect(db.prepare('SELECT state FROM sends').pluck().all()).toEqual(['sent']);
    clock.advance(2 * MINUTE);
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
  });
});

describe('rows waiting for later and the cooldown', () => {
  const window = sendingWindowSchema.parse({ timezone: 'Europe/Copenhagen', days: 'mon-fri', hours: '08:00-20:00' });
  const withCooldown = (setupId: string, over: Partial<Parameters<typeof intakeMessage>[1]> = {}) => ({
    setupId,
    rules: { setupId, cooldownMs: 10 * MINUTE, purpose: null, dailyLimit: null, numberDailyLimit: null },
    ...over,
  });

  it('a newsletter deferred to Monday does not hold back a Saturday alert to the same number', async () => {
    await ledger.acceptMessage(mail(['+4520123456'], withCooldown('news', { sendingWindow: window })));
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]); // deferred
    clock.set(Date.parse('2026-11-21T09:00:00Z')); // Saturday
    const alert = await ledger.acceptMessage(mail(['+4520123456'], withCooldown('alerts')));
    expect(alert.decisions[0]?.outcome).toBe('queued');
  });

  it('two rows deferred to the same opening: the older goes, the newer is suppressed by the cooldown at send time', async () => {
    const first = await ledger.acceptMessage(mail(['+4520123456'], withCooldown('news', { sendingWindow: window })));
    await ledger.claimDue(5, MINUTE); // deferred to Monday
    clock.advance(MINUTE);
    const second = await ledger.acceptMessage(mail(['+4520123456'], withCooldown('news', { sendingWindow: window })));
    expect(second.decisions[0]?.outcome).toBe('queued'); // the first is not due yet, so it does not block at intake
    await ledger.claimDue(5, MINUTE);
    clock.set(Date.parse('2026-11-23T07:00:00Z'));
    const claimed = await ledger.claimDue(5, MINUTE);
    expect(claimed.map((c) => c.queueId)).toEqual([first.queueId]);
    expect((await ledger.outbox({ queueId: second.queueId }))[0]).toMatchObject({ status: 'suppressed', reason: 'cooldown' });
  });

  it('a scheduled row blocks the cooldown only from its time on', async () => {
    const sendAt = clock.now() + 2 * HOUR;
    await ledger.acceptMessage(mail(['+4520123456'], withCooldown('alerts', { sendAt })));
    expect((await ledger.acceptMessage(mail(['+4520123456'], withCooldown('alerts')))).decisions[0]?.outcome).toBe('queued');
    clock.set(sendAt);
    expect((await ledger.acceptMessage(mail(['+4520123456'], withCooldown('alerts')))).decisions[0]?.outcome).toBe('suppressed');
  });
});

describe('a claim handed back untried', () => {
  it('keeps its attempt count, is due again at the given time, and leaves a held event', async () => {
    const { queueId } = await ledger.acceptMessage(mail(['+4520123456']));
    const [claimed] = await ledger.claimDue(1, MINUTE);
    expect(claimed?.attempt).toBe(1);
    await ledger.releaseClaim(claimed!.outboxId, 'an opt-out for this number was being recorded', clock.now() + 1000);
    expect((await ledger.outbox({ queueId }))[0]).toMatchObject({ status: 'queued', attempts: 0 });
    expect(events('held')).toEqual(['an opt-out for this number was being recorded']);
    expect(await ledger.claimDue(1, MINUTE)).toEqual([]);
    clock.advance(1000);
    expect((await ledger.claimDue(1, MINUTE))[0]?.attempt).toBe(1);
  });
});
