import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/core/clock.js';
import type { IntakeMessage, Ledger, RecipientRules } from '../../src/ledger/types.js';
import { measureSms } from '../../src/message/encoding.js';

/*
 * The ledger contract: what every implementation must do, written against the
 * Ledger interface only (no SQL, no files). test/contract/*.test.ts run it on
 * each implementation; a new backend passes this before it is wired in.
 */

export type ManualClock = ReturnType<typeof createManualClock>;
export interface ContractLedger {
  ledger: Ledger;
  close(): Promise<void>;
}
export type OpenLedger = (clock: ManualClock) => Promise<ContractLedger>;

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const T0 = Date.UTC(2026, 5, 1, 10, 0, 0); // a Monday, 12:00 in Copenhagen

let serial = 0;
const alertRules = (over: Partial<RecipientRules> = {}): RecipientRules => ({
  setupId: 'alerts', cooldownMs: 10 * MIN, purpose: null, dailyLimit: null, numberDailyLimit: null, ...over,
});
function mail(recipients: string[], over: Partial<IntakeMessage> = {}): IntakeMessage {
  serial++;
  const text = over.text ?? 'Server down';
  return {
    setupId: 'alerts', senderName: 'Example', mailFrom: 'ops@example.test', headerMessageId: `<c${serial}@example.test>`, bodyHash: `h${serial}`,
    clientIp: '127.0.0.1', sessionRef: `s.${serial}`, text, measure: measureSms(text), recipients, rules: alertRules(), stopClauseAppended: false,
    ...over,
  };
}

export function ledgerContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    let clock: ManualClock;
    let handle: ContractLedger;
    let ledger: Ledger;
    beforeEach(async () => {
      clock = createManualClock(T0);
      handle = await open(clock);
      ledger = handle.ledger;
    });
    afterEach(() => handle.close());

    /** Claims everything due and records it sent: the SMS left. */
    async function sendAllDue(): Promise<string[]> {
      const claimed = await ledger.claimDue(100, MIN);
      for (const sms of claimed) await ledger.recordSent(sms.outboxId, `p-${sms.idempotencyKey}`);
      return claimed.map((sms) => sms.recipient);
    }

    describe('intake decisions', () => {
      it('queues each recipient once, after the commit, under one queue id', async () => {
        const outcome = await ledger.acceptMessage(mail(['+4520000001', '+4520000002']));
        expect(outcome.duplicate).toBe(false);
        expect(outcome.decisions.map((d) => d.outcome)).toEqual(['queued', 'queued']);
        const rows = await ledger.outbox({ queueId: outcome.queueId });
        expect(rows.map((r) => [r.recipient, r.status])).toEqual([['+4520000001', 'queued'], ['+4520000002', 'queued']]);
      });

      it('cooldown: a second mail inside the interval is suppressed with when it ends; exactly one interval later it goes', async () => {
        await ledger.acceptMessage(mail(['+4520000003']));
        expect(await sendAllDue()).toEqual(['+4520000003']);
        clock.advance(5 * MIN);
        const second = await ledger.acceptMessage(mail(['+4520000003']));
        expect(second.decisions[0]).toMatchObject({ outcome: 'suppressed', reason: 'cooldown', blockedUntil: T0 + 10 * MIN });
        clock.set(T0 + 10 * MIN); // half-open: a send exactly one interval ago no longer blocks
        expect((await ledger.acceptMessage(mail(['+4520000003']))).decisions[0]?.outcome).toBe('queued');
      });

      it('fifty parallel mails to one number: exactly one is queued', async () => {
        const outcomes = await Promise.all(Array.from({ length: 50 }, () => ledger.acceptMessage(mail(['+4520000004']))));
        const queued = outcomes.flatMap((o) => o.decisions).filter((d) => d.outcome === 'queued');
        expect(queued).toHaveLength(1);
        expect((await ledger.outbox({ recipient: '+4520000004' })).filter((r) => r.status === 'suppressed')).toHaveLength(49);
      });

      it('a retried mail within 24 h gets the original queue id and no new row; after 24 h it is new', async () => {
        const first = mail(['+4520000005'], { rules: alertRules({ cooldownMs: null }) });
        const original = await ledger.acceptMessage(first);
        const retried = await ledger.acceptMessage({ ...first });
        expect(retried).toMatchObject({ duplicate: true, queueId: original.queueId });
        clock.advance(24 * 60 * MIN + 1);
        expect((await ledger.acceptMessage({ ...first })).duplicate).toBe(false);
      });

      it('a retry that adds a recipient: the known one is a duplicate, the new one queued under a new queue id', async () => {
        const first = mail(['+4520000033'], { rules: alertRules({ cooldownMs: null }) });
        const original = await ledger.acceptMessage(first);
        const retried = await ledger.acceptMessage({ ...first, recipients: ['+4520000033', '+4520000034'] });
        expect(retried.duplicate).toBe(false);
        expect(retried.queueId).not.toBe(original.queueId);
        expect(retried.decisions).toEqual([{ recipient: '+4520000033', outcome: 'duplicate' }, { recipient: '+4520000034', outcome: 'queued' }]);
        expect((await ledger.outbox({ queueId: retried.queueId })).map((r) => r.recipient)).toEqual(['+4520000034']);
      });

      it('a setup daily_limit counts the recipients before, in the same mail; a number cap and the cooldown hold per number', async () => {
        const capped = alertRules({ cooldownMs: null, dailyLimit: 2 });
        const outcome = await ledger.acceptMessage(mail(['+4520000035', '+4520000036', '+4520000037'], { rules: capped }));
        expect(outcome.decisions.map((d) => [d.outcome, d.reason])).toEqual([['queued', undefined], ['queued', undefined], ['suppressed', 'daily_limit']]);
        const perNumber = alertRules({ cooldownMs: null, numberDailyLimit: 1 });
        await ledger.acceptMessage(mail(['+4520000038'], { rules: perNumber }));
        const second = await ledger.acceptMessage(mail(['+4520000038', '+4520000039'], { rules: perNumber }));
        expect(second.decisions.map((d) => [d.recipient, d.outcome, d.reason])).toEqual([
          ['+4520000038', 'suppressed', 'number_daily_limit'], ['+4520000039', 'queued', undefined],
        ]);
        const rows = await ledger.outbox({ queueId: second.queueId });
        expect(rows.map((r) => [r.recipient, r.status, r.reason])).toEqual([['+4520000038', 'suppressed', 'number_daily_limit'], ['+4520000039', 'queued', null]]);
      });

      it('the STOP clause reaches a number once per period: the next SMS within it goes without, another number still gets it', async () => {
        const withClause = { text: 'Disk full. Reply STOP to opt out', stopClauseAppended: true, stopClauseOnce: { periodMs: 30 * 24 * 60 * MIN, text: 'Disk full' } };
        const rules = alertRules({ cooldownMs: null });
        await ledger.acceptMessage(mail(['+4520000040'], { ...withClause, rules }));
        clock.advance(MIN);
        await ledger.acceptMessage(mail(['+4520000040', '+4520000041'], { ...withClause, rules }));
        const texts = (await ledger.claimDue(10, MIN)).map((sms) => [sms.recipient, sms.text]);
        expect(texts).toEqual([
          ['+4520000040', 'Disk full. Reply STOP to opt out'], ['+4520000040', 'Disk full'], ['+4520000041', 'Disk full. Reply STOP to opt out'],
        ]);
      });

      it('a mail to 120 numbers (a large group) decides each: the one in its cooldown suppressed, the others queued', async () => {
        await ledger.acceptMessage(mail(['+4520001000']));
        const outcome = await ledger.acceptMessage(mail(Array.from({ length: 120 }, (_, i) => `+452000${1000 + i}`)));
        expect(outcome.decisions.filter((d) => d.outcome === 'queued')).toHaveLength(119);
        expect(outcome.decisions[0]).toMatchObject({ recipient: '+4520001000', outcome: 'suppressed', reason: 'cooldown' });
        expect(await ledger.outbox({ queueId: outcome.queueId })).toHaveLength(120);
      });

      it('checkRecipient answers without reserving', async () => {
        expect(await ledger.checkRecipient('+4520000006', alertRules())).toEqual({ allowed: true });
        expect(await ledger.checkRecipient('+4520000006', alertRules())).toEqual({ allowed: true });
        expect((await ledger.acceptMessage(mail(['+4520000006']))).decisions[0]?.outcome).toBe('queued');
        expect(await ledger.checkRecipient('+4520000006', alertRules())).toMatchObject({ allowed: false, reason: 'cooldown' });
      });
    });

    describe('consent and other channels', () => {
      it('an opt-out blocks every setup; a marketing setup also needs the opt-in for its own purpose', async () => {
        const marketing = alertRules({ setupId: 'news', cooldownMs: null, purpose: { name: 'newsletter', maxSilenceMs: null } });
        expect(await ledger.checkRecipient('+4520000007', marketing)).toMatchObject({ allowed: false, reason: 'no_consent' });
        await ledger.changeConsent([{ recipient: '+4520000007', purpose: 'newsletter', action: 'opt_in', source: 'test' }]);
        expect(await ledger.checkRecipient('+4520000007', marketing)).toEqual({ allowed: true });
        expect(await ledger.checkRecipient('+4520000007', { ...marketing, purpose: { name: 'offers', maxSilenceMs: null } })).toMatchObject({ reason: 'no_consent' });
        await ledger.changeConsent([{ recipient: '+4520000007', action: 'opt_out', source: 'test' }]);
        expect(await ledger.checkRecipient('+4520000007', alertRules())).toMatchObject({ allowed: false, reason: 'opted_out' });
      });

      it('a send reported by another channel counts for the cooldown; a repeated ref counts once', async () => {
        const sends = [{ recipient: '+4520000008', at: T0 - MIN, channel: 'api' as const, ref: 'crm-1' }];
        expect(await ledger.recordExternalSends(sends)).toEqual({ recorded: 1, duplicates: 0 });
        expect(await ledger.recordExternalSends(sends)).toEqual({ recorded: 0, duplicates: 1 });
        expect((await ledger.acceptMessage(mail(['+4520000008']))).decisions[0]).toMatchObject({ outcome: 'suppressed', reason: 'cooldown' });
      });

      it('an inbound STOP opts the number out; the same webhook twice acts once; a queued SMS is then suppressed at send time', async () => {
        await ledger.acceptMessage(mail(['+4520000009'], { rules: alertRules({ cooldownMs: null }) }));
        const stop = { providerId: 'in-1', from: '+4520000009', to: undefined, text: 'STOP', receivedAt: T0, kind: 'opt_out' as const, keyword: 'STOP' };
        expect((await ledger.recordInbound(stop)).duplicate).toBe(false);
        expect((await ledger.recordInbound(stop)).duplicate).toBe(true);
        expect(await ledger.claimDue(10, MIN)).toEqual([]);
        expect((await ledger.outbox({ recipient: '+4520000009' }))[0]).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
      });

      it('consentOf gives the state per purpose and every change; consentEvents pages the audit trail by id and recorded time', async () => {
        expect(await ledger.consentOf('+4520000030')).toEqual({ current: [], events: [] });
        await ledger.changeConsent([{ recipient: '+4520000030', purpose: 'newsletter', action: 'opt_in', source: 'form', evidence: 'form #1', at: T0 - MIN }]);
        clock.advance(MIN);
        await ledger.changeConsent([{ recipient: '+4520000031', action: 'opt_out', source: 'call' }, { recipient: '+4520000030', action: 'opt_out', source: 'sms' }]);
        const shown = await ledger.consentOf('+4520000030');
        expect(shown.current).toEqual([
          { purpose: '', state: 'opt_out', since: T0 + MIN, source: 'sms' },
          { purpose: 'newsletter', state: 'opt_in', since: T0 - MIN, source: 'form' },
        ]);
        expect(shown.events.map((e) => [e.purpose, e.action, e.previous, e.evidence, e.at, e.recordedAt])).toEqual([
          ['newsletter', 'opt_in', null, 'form #1', T0 - MIN, T0],
          ['', 'opt_out', null, null, T0 + MIN, T0 + MIN],
        ]);
        const all = await ledger.consentEvents({ limit: 10 });
        expect(all.map((e) => e.recipient)).toEqual(['+4520000030', '+4520000031', '+4520000030']);
        const [first, ...rest] = all;
        expect(await ledger.consentEvents({ afterId: first!.id, limit: 1 })).toEqual([rest[0]]);
        expect(await ledger.consentEvents({ since: T0 + MIN, limit: 10 })).toEqual(rest);
        expect(await ledger.consentEvents({ since: T0 + MIN, afterId: rest[1]!.id, limit: 10 })).toEqual([]);
      });
    });

    describe('claims and leases', () => {
      it('a claimed row is leased: not claimed twice, then claimed again with the same idempotency key when the lease ends', async () => {
        await ledger.acceptMessage(mail(['+4520000010']));
        const [first] = await ledger.claimDue(10, MIN);
        expect(await ledger.claimDue(10, MIN)).toEqual([]);
        clock.advance(MIN);
        const [again] = await ledger.claimDue(10, MIN);
        expect(again).toMatchObject({ outboxId: first?.outboxId, idempotencyKey: first?.idempotencyKey, attempt: 2 });
      });

      it('a scheduled row is not due before its time, and nextDueAt says when', async () => {
        await ledger.acceptMessage(mail(['+4520000011'], { sendAt: T0 + 30 * MIN }));
        expect(await ledger.claimDue(10, MIN)).toEqual([]);
        expect(await ledger.nextDueAt()).toBe(T0 + 30 * MIN);
        clock.set(T0 + 30 * MIN);
        expect((await ledger.claimDue(10, MIN)).map((s) => s.recipient)).toEqual(['+4520000011']);
      });

      it('the claim applies the expiry and the sending window', async () => {
        await ledger.acceptMessage(mail(['+4520000012'], { expiresAt: T0 + MIN }));
        const saturdays = { timezone: 'Europe/Copenhagen', days: ['sat' as const], start: 9 * 60, end: 17 * 60, holidays: [] };
        await ledger.acceptMessage(mail(['+4520000013'], { sendingWindow: saturdays }));
        clock.advance(MIN);
        expect(await ledger.claimDue(10, MIN)).toEqual([]);
        expect((await ledger.outbox({ recipient: '+4520000012' }))[0]?.status).toBe('expired');
        const deferred = await ledger.outbox({ recipient: '+4520000013' });
        expect(deferred[0]?.status).toBe('queued');
        expect(await ledger.nextDueAt()).toBe(Date.UTC(2026, 5, 6, 7, 0, 0)); // Saturday 09:00 CEST
      });

      it('a retry is due at its next attempt; a permanent failure releases the cooldown reservation', async () => {
        await ledger.acceptMessage(mail(['+4520000014']));
        const [sms] = await ledger.claimDue(10, MIN);
        await ledger.recordRetry(sms!.outboxId, 'HTTP 503', T0 + 2 * MIN);
        expect(await ledger.claimDue(10, MIN)).toEqual([]);
        clock.set(T0 + 2 * MIN);
        const [retried] = await ledger.claimDue(10, MIN);
        await ledger.recordFailure(retried!.outboxId, 'HTTP 400');
        expect((await ledger.outbox({ recipient: '+4520000014' }))[0]).toMatchObject({ status: 'failed', reason: 'HTTP 400' });
        expect((await ledger.acceptMessage(mail(['+4520000014']))).decisions[0]?.outcome).toBe('queued');
      });
    });

    describe('receipts in any order', () => {
      it('a delivered row carries no stale retry reason', async () => {
        await ledger.acceptMessage(mail(['+4520000029']));
        const [sms] = await ledger.claimDue(10, MIN);
        await ledger.recordRetry(sms!.outboxId, 'HTTP 503: busy', T0);
        const [again] = await ledger.claimDue(10, MIN);
        await ledger.recordSent(again!.outboxId, 'stale-1');
        expect((await ledger.outbox({ recipient: '+4520000029' }))[0]).toMatchObject({ status: 'sent', reason: null });
        await ledger.applyReceipt({ providerMessageId: 'stale-1', status: 'delivered', rawBody: '{}' });
        expect((await ledger.outbox({ recipient: '+4520000029' }))[0]).toMatchObject({ status: 'delivered', reason: null });
      });

      it('a receipt that beats the send is parked, then applied when the id is recorded', async () => {
        await ledger.acceptMessage(mail(['+4520000015']));
        const [sms] = await ledger.claimDue(10, MIN);
        expect(await ledger.applyReceipt({ providerMessageId: 'early-1', status: 'delivered', rawBody: '{}' })).toBe('parked');
        await ledger.recordSent(sms!.outboxId, 'early-1');
        expect((await ledger.outbox({ recipient: '+4520000015' }))[0]?.status).toBe('delivered');
      });

      it('parts in any order: delivered when every part is; repeats change nothing; never backwards', async () => {
        await ledger.acceptMessage(mail(['+4520000016']));
        const [sms] = await ledger.claimDue(10, MIN);
        await ledger.recordSent(sms!.outboxId, 'multi-1', 3);
        const part = (n: number) => ({ providerMessageId: 'multi-1', status: 'delivered' as const, part: n, parts: 3, rawBody: `{"part":${n}}` });
        expect(await ledger.applyReceipt(part(3))).toBe('partial');
        expect(await ledger.applyReceipt(part(3))).toBe('duplicate');
        expect(await ledger.applyReceipt(part(1))).toBe('partial');
        expect(await ledger.applyReceipt(part(2))).toBe('applied');
        expect(await ledger.applyReceipt({ providerMessageId: 'multi-1', status: 'failed', rawBody: '{}' })).toBe('stale');
        expect((await ledger.outbox({ recipient: '+4520000016' }))[0]?.status).toBe('delivered');
      });
    });

    describe('looking things up and fixing them by hand', () => {
      const by = { who: 'ops', why: 'customer asked' };

      it('mailStatus gives each recipient with its receipts and events', async () => {
        const { queueId } = await ledger.acceptMessage(mail(['+4520000020', '+4520000021'], { subject: 'Disk' }));
        const [first] = await ledger.claimDue(1, MIN);
        await ledger.recordSent(first!.outboxId, 'st-1');
        await ledger.applyReceipt({ providerMessageId: 'st-1', status: 'delivered', rawBody: '{}' });
        const status = await ledger.mailStatus(queueId);
        expect(status).toMatchObject({ queueId, setupId: 'alerts', mailFrom: 'ops@example.test', subject: 'Disk', text: 'Server down' });
        expect(status?.recipients.map((r) => [r.recipient, r.status])).toEqual([['+4520000020', 'delivered'], ['+4520000021', 'queued']]);
        expect(status?.recipients[0]?.receipts).toMatchObject([{ status: 'delivered', outcome: 'applied' }]);
        expect(status?.recipients[0]?.events.map((e) => e.type)).toEqual(['claimed', 'sent', 'delivered']);
        expect(await ledger.mailStatus('NOSUCHID')).toBeUndefined();
      });

      it('every attempt keeps its steps in mailStatus and the console, in order: retried, lease run out, failed by its receipt, retried by hand', async () => {
        const { queueId } = await ledger.acceptMessage(mail(['+4520000026']));
        const [first] = await ledger.claimDue(1, MIN);
        await ledger.recordRetry(first!.outboxId, 'HTTP 503', T0 + MIN);
        clock.advance(MIN);
        expect(await ledger.claimDue(1, MIN)).toHaveLength(1);
        clock.advance(2 * MIN);
        const [third] = await ledger.claimDue(1, MIN);
        expect(third).toMatchObject({ attempt: 3, leaseExpired: true });
        await ledger.recordSent(third!.outboxId, 'steps-1', 2);
        clock.advance(MIN);
        expect(await ledger.applyReceipt({ providerMessageId: 'steps-1', status: 'failed', errorCode: 'E1', part: 2, parts: 2, rawBody: '{}' })).toBe('applied');
        expect((await ledger.retryFailed(queueId, undefined, by)).retried).toEqual(['+4520000026']);
        clock.advance(MIN);
        const [fourth] = await ledger.claimDue(1, MIN);
        await ledger.recordSent(fourth!.outboxId, 'steps-2');
        const steps = [
          ['claimed', 'attempt 1', T0], ['retry', `HTTP 503; next attempt ${new Date(T0 + MIN).toISOString()}`, T0],
          ['claimed', 'attempt 2', T0 + MIN], ['claimed', 'attempt 3', T0 + 3 * MIN], ['sent', 'provider id steps-1 (2 parts)', T0 + 3 * MIN],
          ['failed', 'part 2/2 E1', T0 + 4 * MIN], ['retry requested', 'by ops: customer asked', T0 + 4 * MIN],
          ['claimed', 'attempt 4', T0 + 5 * MIN], ['sent', 'provider id steps-2', T0 + 5 * MIN],
        ];
        const status = await ledger.mailStatus(queueId);
        expect(status?.recipients[0]?.events.map((e) => [e.type, e.detail, e.at])).toEqual(steps);
        const page = await ledger.consoleQuery({ kind: 'mail', queueId, eventLimit: 100 });
        expect(page.events.map((e) => [e.type, e.detail, e.at])).toEqual(steps);
        expect(page.events.map((e) => e.outboxId)).toEqual(steps.map(() => fourth!.outboxId));
      });

      it('listQueue says why each row waits: due, scheduled, deferred by a window, retrying; and lists failed rows', async () => {
        await ledger.acceptMessage(mail(['+4520000022']));
        await ledger.acceptMessage(mail(['+4520000023'], { sendAt: T0 + 60 * MIN }));
        await ledger.acceptMessage(mail(['+4520000024'], { sendingWindow: { timezone: 'Europe/Copenhagen', days: ['sat'], start: 540, end: 1020, holidays: [] } }));
        await ledger.acceptMessage(mail(['+4520000025']));
        for (const sms of await ledger.claimDue(10, MIN)) {
          if (sms.recipient === '+4520000025') await ledger.recordRetry(sms.outboxId, 'HTTP 503', T0 + 5 * MIN);
          if (sms.recipient === '+4520000022') await ledger.recordFailure(sms.outboxId, 'HTTP 400');
        }
        const states = Object.fromEntries((await ledger.listQueue({ limit: 10 })).map((e) => [e.recipient, e.state]));
        expect(states).toEqual({ '+4520000023': 'scheduled', '+4520000024': 'deferred', '+4520000025': 'retrying' });
        expect((await ledger.listQueue({ limit: 10, state: 'failed' })).map((e) => e.recipient)).toEqual(['+4520000022']);
        expect((await ledger.listQueue({ limit: 10, state: 'scheduled' })).map((e) => e.recipient)).toEqual(['+4520000023']);
        expect(await ledger.listQueue({ limit: 10, setupId: 'other' })).toEqual([]);
        // The console's overview counts the same states (issue 29: it called the window's row "scheduled").
        const overview = await ledger.consoleQuery({ kind: 'overview', now: T0, sinceMs: 60 * MIN });
        expect(overview.setups).toEqual([{ setupId: 'alerts', queued: 0, scheduled: 1, deferred: 1, retrying: 1, sending: 0, oldestQueuedAt: null }]);
      });

      it('cancel ends a scheduled SMS as suppressed (cancelled), frees its cooldown, and leaves sent ones alone', async () => {
        const { queueId } = await ledger.acceptMessage(mail(['+4520000026'], { sendAt: T0 + 60 * MIN }));
        expect(await ledger.cancel(queueId, undefined, by)).toEqual({ cancelled: ['+4520000026'], notCancelled: [] });
        expect((await ledger.outbox({ queueId }))[0]).toMatchObject({ status: 'suppressed', reason: 'cancelled' });
        expect((await ledger.acceptMessage(mail(['+4520000026']))).decisions[0]?.outcome).toBe('queued');
        const sent = await ledger.acceptMessage(mail(['+4520000027']));
        await sendAllDue();
        expect(await ledger.cancel(sent.queueId, '+4520000027', by)).toEqual({ cancelled: [], notCancelled: [{ recipient: '+4520000027', status: 'sent' }] });
        expect((await ledger.mailStatus(queueId))?.recipients[0]?.events).toMatchObject([{ type: 'cancelled', detail: 'by ops: customer asked' }]);
      });

      it('retryFailed queues a failed row again under the same idempotency key', async () => {
        const { queueId } = await ledger.acceptMessage(mail(['+4520000028']));
        const [first] = await ledger.claimDue(10, MIN);
        await ledger.recordFailure(first!.outboxId, 'HTTP 400');
        expect(await ledger.retryFailed(queueId, undefined, by)).toEqual({ retried: ['+4520000028'], notRetried: [] });
        const [again] = await ledger.claimDue(10, MIN);
        expect(again).toMatchObject({ outboxId: first?.outboxId, idempotencyKey: first?.idempotencyKey, attempt: 2 });
        expect(await ledger.retryFailed(queueId, undefined, by)).toEqual({ retried: [], notRetried: [{ recipient: '+4520000028', status: 'sending' }] });
      });
    });

    describe('reports and history', () => {
      it('a report is due once every row is final, and is marked once', async () => {
        const { queueId } = await ledger.acceptMessage(mail(['+4520000017'], { reportMode: 'all' }));
        expect(await ledger.dueReports(10, T0 - 60 * MIN)).toEqual([]);
        const [sms] = await ledger.claimDue(10, MIN);
        await ledger.recordSent(sms!.outboxId, 'rep-1');
        await ledger.applyReceipt({ providerMessageId: 'rep-1', status: 'delivered', rawBody: '{}' });
        const [report] = await ledger.dueReports(10, T0 - 60 * MIN);
        expect(report).toMatchObject({ queueId, mode: 'all', outcomes: [{ recipient: '+4520000017', status: 'delivered' }] });
        expect(await ledger.markReported(queueId, 'sent')).toBe(true);
        expect(await ledger.markReported(queueId, 'sent')).toBe(false);
        expect(await ledger.dueReports(10, T0)).toEqual([]);
      });

      it('lastSmsTo finds the newest SMS sent to a number from an email, with that mail', async () => {
        expect(await ledger.lastSmsTo('+4520000018')).toBeUndefined();
        const { queueId } = await ledger.acceptMessage(mail(['+4520000018'], { subject: 'Disk' }));
        await sendAllDue();
        expect(await ledger.lastSmsTo('+4520000018')).toMatchObject({ queueId, mailFrom: 'ops@example.test', subject: 'Disk', setupId: 'alerts' });
      });

      it('numberHistory lists a number\'s SMS, reported sends, consent and inbound SMS, newest first, up to the limit', async () => {
        const { queueId } = await ledger.acceptMessage(mail(['+4520000032'], { text: 'Disk full' }));
        await sendAllDue();
        clock.advance(MIN);
        await ledger.recordExternalSends([{ recipient: '+4520000032', at: T0 + MIN, channel: 'campaign', ref: 'c-9' }]);
        clock.advance(MIN);
        await ledger.recordInbound({ providerId: 'in-h', from: '+4520000032', to: undefined, text: 'STOP', receivedAt: T0 + 2 * MIN, kind: 'opt_out', keyword: 'STOP' });
        const history = await ledger.numberHistory('+4520000032', 10);
        expect(history.map((e) => [e.kind, e.at])).toEqual([['consent', T0 + 2 * MIN], ['inbound', T0 + 2 * MIN], ['send', T0 + MIN], ['sms', T0]]);
        expect(history[3]).toMatchObject({ queueId, status: 'sent', text: 'Disk full', sentAt: T0, mailFrom: 'ops@example.test' });
        expect(history[3]?.summary).toBe(`email from ops@example.test via setup alerts: sent; sent ${new Date(T0).toISOString()} — "Disk full"`);
        expect(history[2]).toMatchObject({ summary: 'SMS sent by channel campaign (ref c-9)', channel: 'campaign', ref: 'c-9' });
        expect(await ledger.numberHistory('+4520000032', 2)).toEqual(history.slice(0, 2));
      });

      it('times come from the caller\'s clock', async () => {
        clock.set(T0 + 123_456);
        const { queueId } = await ledger.acceptMessage(mail(['+4520000019']));
        expect((await ledger.outbox({ queueId }))[0]?.createdAt).toBe(T0 + 123_456);
      });
    });

    describe('contacts and groups', () => {
      const contact = (id: string, number: string, groups: string[] = [], fields: Record<string, string> = {}) => ({ id, number, groups, fields });

      it('imports a source by id: added, updated, unchanged; replace removes what the file no longer lists, other sources stay', async () => {
        expect(await ledger.importContacts('members', [contact('a', '+4520000101', ['board'], { first_name: 'Anna' }), contact('b', '+4520000102')], false))
          .toEqual({ added: 2, updated: 0, unchanged: 0, removed: 0 });
        await ledger.importContacts('staff', [contact('s', '+4520000103')], false);
        clock.advance(MIN);
        expect(await ledger.importContacts('members', [contact('a', '+4520000101', ['board'], { first_name: 'Anne' }), contact('b', '+4520000102')], true))
          .toEqual({ added: 0, updated: 1, unchanged: 1, removed: 0 });
        expect(await ledger.importContacts('members', [contact('b', '+4520000102')], true)).toEqual({ added: 0, updated: 0, unchanged: 1, removed: 1 });
        expect((await ledger.listContacts()).map((c) => [c.source, c.id])).toEqual([['members', 'b'], ['staff', 's']]);
      });

      it('finds and deletes by number or id; a contact keeps its groups and fields', async () => {
        await ledger.importContacts('members', [contact('p1', '+4520000111', ['board', 'coaches'], { first_name: 'Carl', team: 'U14' }), contact('p2', '+4520000111', [], { first_name: 'Carla' })], false);
        const [first] = await ledger.findContacts({ id: 'p1' });
        expect(first).toMatchObject({ source: 'members', number: '+4520000111', groups: ['board', 'coaches'], fields: { first_name: 'Carl', team: 'U14' }, createdAt: T0 });
        expect((await ledger.findContacts({ number: '+4520000111' })).map((c) => c.id)).toEqual(['p1', 'p2']);
        expect(await ledger.deleteContacts({ id: 'p2' })).toBe(1);
        expect(await ledger.deleteContacts({ number: '+4520000111' })).toBe(1);
        expect(await ledger.findContacts({ number: '+4520000111' })).toEqual([]);
      });

      it('group members: all, a fixed group, and where (any of the values, every field, trimmed and in any case), in import order', async () => {
        await ledger.importContacts('members', [
          contact('a', '+4520000121', ['board'], { team: 'U14', status: 'active' }),
          contact('b', '+4520000122', [], { team: ' u14', status: 'inactive' }),
          contact('c', '+4520000123', ['board'], { team: 'A', status: 'active' }),
          contact('d', '+4520000124', [], { status: 'active' }),
        ], false);
        const numbers = (members: { number: string }[]) => members.map((m) => m.number);
        expect(numbers(await ledger.groupMembers({ kind: 'all' }))).toEqual(['+4520000121', '+4520000122', '+4520000123', '+4520000124']);
        expect(numbers(await ledger.groupMembers({ kind: 'fixed', name: 'board' }))).toEqual(['+4520000121', '+4520000123']);
        expect(numbers(await ledger.groupMembers({ kind: 'where', where: { team: ['U14'] } }))).toEqual(['+4520000121', '+4520000122']);
        expect(numbers(await ledger.groupMembers({ kind: 'where', where: { team: ['u14', 'A'], status: ['Active'] } }))).toEqual(['+4520000121', '+4520000123']);
        expect(await ledger.groupMembers({ kind: 'where', where: { team: ['B'] } })).toEqual([]);
        expect(await ledger.contactsByNumber(['+4520000123', '+4520000199'])).toEqual([{ number: '+4520000123', source: 'members', id: 'c', fields: { team: 'A', status: 'active' } }]);
      });

      it('importing contacts never changes consent', async () => {
        await ledger.changeConsent([{ recipient: '+4520000131', action: 'opt_out', source: 'sms' }]);
        await ledger.importContacts('members', [contact('x', '+4520000131', ['board'])], true);
        expect((await ledger.acceptMessage(mail(['+4520000131']))).decisions[0]).toMatchObject({ outcome: 'suppressed', reason: 'opted_out' });
      });

      it('a recipient of its own: its text is sent, its groups kept; intake\'s suppressions are recorded without asking the rules', async () => {
        const personal = [
          { groups: ['board'], sms: { text: 'Hi Anna', measure: measureSms('Hi Anna'), stopClauseAppended: false } },
          { groups: ['board'], suppress: { reason: 'merge_field_missing' as const, detail: 'no first_name' } },
        ];
        const outcome = await ledger.acceptMessage(mail(['+4520000141', '+4520000142'], { text: 'Hi {{first_name}}', personal }));
        expect(outcome.decisions).toEqual([
          { recipient: '+4520000141', outcome: 'queued' },
          { recipient: '+4520000142', outcome: 'suppressed', reason: 'merge_field_missing', detail: 'no first_name' },
        ]);
        const claimed = await ledger.claimDue(10, MIN);
        expect(claimed.map((c) => [c.recipient, c.text])).toEqual([['+4520000141', 'Hi Anna']]);
        expect((await ledger.outbox({ queueId: outcome.queueId })).map((r) => [r.status, r.reason])).toEqual([['sending', null], ['suppressed', 'merge_field_missing']]);
      });
    });

    describe('automation runs', () => {
      const key = (at: number) => ({ automationId: 'birthday', scheduledAt: at, runBy: 'schedule' as const });
      const run = (recipients: string[]) => mail(recipients, { mailFrom: '', headerMessageId: undefined, subject: 'Birthday greeting', sessionRef: 'automation:birthday' });

      it('a run and its outbox rows are written once under (automation, occurrence); the same occurrence again writes nothing', async () => {
        const first = await ledger.startRun(key(T0), run(['+4520000201', '+4520000202']));
        expect(first.outcome).toBe('ran');
        expect(first.run).toMatchObject({ automationId: 'birthday', scheduledAt: T0, outcome: 'ran', runBy: 'schedule', recipients: 2, queued: 2, suppressed: 0 });
        const again = await ledger.startRun({ ...key(T0), runBy: 'manual' }, run(['+4520000201', '+4520000202']));
        expect(again).toMatchObject({ outcome: 'already-ran', run: { queueId: first.run.queueId, runBy: 'schedule' } });
        expect((await ledger.outbox()).map((r) => r.queueId)).toEqual([first.run.queueId, first.run.queueId]);
      });

      it('two starts of one occurrence at once: one runs, the other gets already-ran and writes nothing', async () => {
        const [a, b] = await Promise.all([ledger.startRun(key(T0), run(['+4520000203'])), ledger.startRun(key(T0), run(['+4520000203']))]);
        expect([a.outcome, b.outcome].sort()).toEqual(['already-ran', 'ran']);
        expect(await ledger.outbox({ recipient: '+4520000203' })).toHaveLength(1);
      });

      it('each recipient is decided by the rules: a number that got an SMS an hour ago is suppressed by a 1 d cooldown, with the reason kept', async () => {
        await ledger.acceptMessage(mail(['+4520000204']));
        await sendAllDue();
        clock.advance(60 * MIN);
        const started = await ledger.startRun(key(T0 + 60 * MIN), { ...run(['+4520000204', '+4520000205']), rules: alertRules({ cooldownMs: DAY }) });
        expect(started.outcome === 'ran' && started.decisions.map((d) => [d.recipient, d.outcome, d.reason])).toEqual([['+4520000204', 'suppressed', 'cooldown'], ['+4520000205', 'queued', undefined]]);
        expect(started.run).toMatchObject({ recipients: 2, queued: 1, suppressed: 1 });
        const history = await ledger.consoleQuery({ kind: 'history', recipient: '+4520000204', limit: 10, now: clock.now() });
        expect(history.entries.find((e) => e.kind === 'suppressed')?.summary).toContain('automation "Birthday greeting" (birthday) via setup alerts');
      });

      it('missed occurrences are recorded once each (with an event); a missed occurrence never runs afterwards; history and the last run per automation', async () => {
        expect(await ledger.recordMissed('birthday', [T0 - 2 * DAY, T0 - DAY], 'daemon down')).toEqual([T0 - 2 * DAY, T0 - DAY]);
        expect(await ledger.recordMissed('birthday', [T0 - DAY], 'daemon down')).toEqual([]);
        expect((await ledger.startRun(key(T0 - DAY), run(['+4520000206']))).outcome).toBe('already-ran');
        await ledger.startRun(key(T0), run(['+4520000206']));
        await ledger.startRun({ ...key(T0), automationId: 'renewal' }, run(['+4520000207']));
        const history = await ledger.runHistory('birthday', 10);
        expect(history.map((r) => [r.scheduledAt, r.outcome, r.detail])).toEqual([[T0, 'ran', null], [T0 - DAY, 'missed', 'daemon down'], [T0 - 2 * DAY, 'missed', 'daemon down']]);
        expect((await ledger.lastRuns()).map((r) => [r.automationId, r.scheduledAt, r.outcome])).toEqual([['birthday', T0, 'ran'], ['renewal', T0, 'ran']]);
      });
    });

    describe('the operations console (read-only)', () => {
      it('finds a mail by queue id or SMTP ref, shows its rows, and pages the queue and a number\'s history', async () => {
        const { queueId } = await ledger.acceptMessage(mail(['+4520000021', '+4520000022'], { sessionRef: 'conn7.3' }));
        await ledger.acceptMessage(mail(['+4520000023'], { sendAt: T0 + 60 * MIN }));
        await ledger.recordExternalSends([{ recipient: '+4520000021', at: T0 - MIN, channel: 'campaign', ref: 'c-1' }]);
        expect(await ledger.consoleQuery({ kind: 'find', text: queueId })).toEqual({ queueIds: [queueId], by: 'queue id' });
        expect(await ledger.consoleQuery({ kind: 'find', text: '[ref conn7.3]' })).toEqual({ queueIds: [queueId], by: 'ref' });
        const shown = await ledger.consoleQuery({ kind: 'mail', queueId, eventLimit: 100 });
        expect(shown.message).toMatchObject({ queueId, sessionRef: 'conn7.3', text: 'Server down' });
        expect(shown.rows.map((r) => [r.recipient, r.status])).toEqual([['+4520000021', 'queued'], ['+4520000022', 'queued']]);

        const first = await ledger.consoleQuery({ kind: 'queue', now: T0, limit: 2 });
        expect(first.next).toBeDefined();
        const rest = await ledger.consoleQuery({ kind: 'queue', now: T0, limit: 10, ...(first.next ? { after: first.next } : {}) });
        expect([...first.waiting, ...rest.waiting].map((r) => r.recipient)).toEqual(['+4520000021', '+4520000022', '+4520000023']);
        expect(rest.next).toBeUndefined();

        // By key (the next page starts after the last entry's key), and an old page number lands on the same page.
        const page1 = await ledger.consoleQuery({ kind: 'history', recipient: '+4520000021', limit: 1, now: T0 });
        const page2 = await ledger.consoleQuery({ kind: 'history', recipient: '+4520000021', limit: 1, now: T0, ...(page1.next ? { before: page1.next } : {}) });
        expect([page1.next !== undefined, page2.next]).toEqual([true, undefined]);
        expect([...page1.entries, ...page2.entries].map((e) => e.kind)).toEqual(['sms', 'send']);
        expect(await ledger.consoleQuery({ kind: 'history', recipient: '+4520000021', limit: 1, now: T0, skip: 1 })).toEqual(page2);
        expect(await ledger.consoleQuery({ kind: 'history', recipient: '+4520000021', limit: 1, now: T0, skip: 2 })).toEqual({ entries: [] });

        const overview = await ledger.consoleQuery({ kind: 'overview', now: T0, sinceMs: 60 * MIN });
        expect(overview.setups).toEqual([{ setupId: 'alerts', queued: 2, scheduled: 1, deferred: 0, retrying: 0, sending: 0, oldestQueuedAt: T0 }]);
      });
    });
  });
}
