import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import type { Db } from '../src/ledger/sqlite/db.js';
import { intakeMessage, openTestLedger, type TestLedger } from './ledger-fixture.js';
import type { ConsentStore } from '../src/ledger/consent.js';
import { createConsentStore } from '../src/ledger/sqlite/consent.js';
import type { IntakeMessage, Ledger, RecipientRules } from '../src/ledger/types.js';
import { measureSms } from '../src/message/encoding.js';

/*
 * The organisation-wide rules (consent, caps, cooldown across channels)
 * against a real SQLite file, with the clock moved by hand.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const N = '+4520123456';
let db: Db;
let ledger: Ledger;
let store: ConsentStore;
let t: TestLedger;
const clock = createManualClock(Date.parse('2026-11-02T09:00:00Z'));

beforeEach(() => {
  clock.set(Date.parse('2026-11-02T09:00:00Z'));
  t = openTestLedger(clock);
  ({ db, ledger } = t);
  store = createConsentStore(db);
});
afterEach(() => t.close());

const alert = (over: Partial<RecipientRules> = {}): RecipientRules => ({
  setupId: 'alerts',
  cooldownMs: HOUR,
  purpose: null,
  dailyLimit: null,
  numberDailyLimit: null,
  ...over,
});
const marketing = (purpose = 'newsletter', maxSilenceMs: number | null = 180 * DAY, over: Partial<RecipientRules> = {}): RecipientRules =>
  alert({ setupId: 'news', cooldownMs: null, purpose: { name: purpose, maxSilenceMs }, ...over });

const mail = (recipients: string[], rules: RecipientRules, over: Partial<IntakeMessage> = {}): IntakeMessage =>
  intakeMessage(recipients, { setupId: rules.setupId, rules, ...over });

async function decide(rules: RecipientRules, number = N) {
  const outcome = await ledger.acceptMessage(mail([number], rules));
  return outcome.decisions[0];
}

/** Accept, claim and mark sent: an SMS that really went out now. */
async function sendNow(rules: RecipientRules, number = N): Promise<void> {
  const d = await decide(rules, number);
  expect(d?.outcome).toBe('queued');
  const [claimed] = await ledger.claimDue(1, MINUTE);
  if (!claimed) throw new Error('nothing claimed');
  await ledger.recordSent(claimed.outboxId, `p-${claimed.outboxId}`);
}

const optIn = (purpose: string, at = clock.now(), number = N) =>
  ledger.changeConsent([{ recipient: number, purpose, action: 'opt_in', at, source: 'test', evidence: 'web form' }]);
const stop = (number = N) => ledger.changeConsent([{ recipient: number, action: 'opt_out', source: 'sms', evidence: 'STOP' }]);
const start = (number = N) => ledger.changeConsent([{ recipient: number, action: 'opt_in', source: 'sms', evidence: 'START' }]);

describe('cooldown across channels', () => {
  it.each([
    ['5 minutes after a campaign SMS', 5 * MINUTE, 'suppressed'],
    ['one ms before the interval ends', HOUR - 1, 'suppressed'],
    ['exactly one interval later (half-open)', HOUR, 'queued'],
    ['after the interval', HOUR + MINUTE, 'queued'],
  ] as const)('an email %s under a 1h cooldown: %s', async (_name, after, outcome) => {
    const campaignAt = clock.now();
    await ledger.recordExternalSends([{ recipient: N, at: campaignAt, channel: 'campaign', ref: 'cmp-1' }]);
    clock.set(campaignAt + after);
    const d = await decide(alert());
    expect(d?.outcome).toBe(outcome);
    if (outcome === 'suppressed') {
      expect(d).toMatchObject({ reason: 'cooldown', blockedUntil: campaignAt + HOUR });
    }
  });

  it('a send reported twice with the same ref counts once', async () => {
    const first = await ledger.recordExternalSends([{ recipient: N, at: clock.now(), channel: 'api', ref: 'x1' }]);
    const again = await ledger.recordExternalSends([
      { recipient: N, at: clock.now(), channel: 'api', ref: 'x1' },
      { recipient: N, at: clock.now(), channel: 'api', ref: 'x2' },
    ]);
    expect(first).toEqual({ recorded: 1, duplicates: 0 });
    expect(again).toEqual({ recorded: 1, duplicates: 1 });
  });

  it('failed and suppressed sends do not count', async () => {
    await decide(alert());
    const [claimed] = await ledger.claimDue(1, MINUTE);
    await ledger.recordFailure(claimed!.outboxId, 'HTTP 400');
    expect((await decide(alert()))?.outcome).toBe('queued');
  });

  it('another channel sending after intake suppresses the queued row at send time', async () => {
    expect((await decide(alert()))?.outcome).toBe('queued');
    await ledger.recordExternalSends([{ recipient: N, at: clock.now(), channel: 'automation' }]);
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
    const [row] = await ledger.outbox({ recipient: N });
    expect(row).toMatchObject({ status: 'suppressed', reason: 'cooldown' });
  });
});

describe('opt-out and opt-in', () => {
  it('opt-out beats everything: alerts, marketing with an opt-in, any setup', async () => {
    await optIn('newsletter');
    await stop();
    expect(await decide(alert())).toMatchObject({ outcome: 'suppressed', reason: 'opted_out' });
    expect(await decide(marketing())).toMatchObject({ outcome: 'suppressed', reason: 'opted_out' });
    expect(await decide(alert({ setupId: 'other', cooldownMs: null }))).toMatchObject({ outcome: 'suppressed', reason: 'opted_out' });
  });

  it('alerts need no opt-in; marketing does, per purpose', async () => {
    expect((await decide(alert({ cooldownMs: null })))?.outcome).toBe('queued');
    expect(await decide(marketing('newsletter'))).toMatchObject({ outcome: 'suppressed', reason: 'no_consent' });
    await optIn('offers');
    expect(await decide(marketing('newsletter'))).toMatchObject({ outcome: 'suppressed', reason: 'no_consent' });
    expect((await decide(marketing('offers')))?.outcome).toBe('queued');
  });

  it('START after STOP restores the earlier opt-ins', async () => {
    await optIn('newsletter');
    await stop();
    expect((await decide(marketing()))?.reason).toBe('opted_out');
    await start();
    expect((await decide(marketing()))?.outcome).toBe('queued');
  });

  it('a revoked purpose opt-in is no consent, with the revocation in the detail', async () => {
    await optIn('newsletter');
    await ledger.changeConsent([{ recipient: N, purpose: 'newsletter', action: 'opt_out', source: 'cli', evidence: 'phone call' }]);
    const d = await decide(marketing());
    expect(d).toMatchObject({ outcome: 'suppressed', reason: 'no_consent' });
    expect(d?.detail).toContain('revoked');
  });

  it('a STOP after intake suppresses the queued row at send time and frees its reservation', async () => {
    expect((await decide(alert()))?.outcome).toBe('queued');
    await stop();
    expect(await ledger.claimDue(5, MINUTE)).toEqual([]);
    const [row] = await ledger.outbox({ recipient: N });
    expect(row).toMatchObject({ status: 'suppressed', reason: 'opted_out' });
    expect(db.prepare(`SELECT state FROM sends WHERE recipient = ?`).pluck().all(N)).toEqual(['released']);
  });
});

describe('stale consent', () => {
  const maxSilence = 180 * DAY;
  it.each([
    ['one ms before max_silence', maxSilence - 1, 'queued'],
    ['exactly at max_silence', maxSilence, 'suppressed'],
    ['long after', 2 * maxSilence, 'suppressed'],
  ] as const)('an opt-in with no SMS since, %s: %s', async (_name, after, outcome) => {
    await optIn('newsletter');
    clock.advance(after);
    const d = await decide(marketing('newsletter', maxSilence));
    expect(d?.outcome).toBe(outcome);
    if (outcome === 'suppressed') expect(d?.reason).toBe('stale_consent');
  });

  it('an SMS sent under the purpose keeps the opt-in fresh; one under another purpose does not', async () => {
    await optIn('newsletter');
    await optIn('offers');
    await optIn('offers', clock.now(), '+4520123457');
    clock.advance(100 * DAY);
    await sendNow(marketing('newsletter', maxSilence));
    await sendNow(marketing('offers', null), '+4520123457'); // another number: no effect on N
    clock.advance(100 * DAY); // 200 days after the opt-in, 100 after the last newsletter
    expect((await decide(marketing('newsletter', maxSilence)))?.outcome).toBe('queued');
    expect((await decide(marketing('offers', maxSilence)))?.reason).toBe('stale_consent');
  });

  it('off (null) never goes stale', async () => {
    await optIn('newsletter');
    clock.advance(3650 * DAY);
    expect((await decide(marketing('newsletter', null)))?.outcome).toBe('queued');
  });
});

describe('flood caps', () => {
  it('a setup daily_limit suppresses beyond the limit, cooldown off, and says when it frees up', async () => {
    const rules = alert({ cooldownMs: null, dailyLimit: 3 });
    const first = clock.now();
    for (let i = 0; i < 3; i++) {
      expect((await decide(rules, `+452012345${i}`))?.outcome).toBe('queued');
      clock.advance(MINUTE);
    }
    const d = await decide(rules, '+4520123459');
    expect(d).toMatchObject({ outcome: 'suppressed', reason: 'daily_limit', blockedUntil: first + DAY });
    clock.set(first + DAY + 1);
    expect((await decide(rules, '+4520123459'))?.outcome).toBe('queued');
  });

  it('the per-number cap counts every setup and channel', async () => {
    const rules = alert({ cooldownMs: null, numberDailyLimit: 2 });
    await ledger.recordExternalSends([{ recipient: N, at: clock.now(), channel: 'campaign' }]);
    expect((await decide(rules))?.outcome).toBe('queued');
    expect(await decide({ ...rules, setupId: 'other' })).toMatchObject({ outcome: 'suppressed', reason: 'number_daily_limit' });
    expect((await decide(rules, '+4520123457'))?.outcome).toBe('queued');
  });

  it('every suppression has its row, reason and event', async () => {
    await stop();
    await decide(alert());
    const row = db.prepare(`SELECT o.status, o.reason, e.detail FROM outbox o JOIN events e ON e.outbox_id = o.id WHERE o.recipient = ?`).get(N);
    expect(row).toMatchObject({ status: 'suppressed', reason: 'opted_out', detail: expect.stringContaining('opted_out: opted out at') });
  });
});

describe('consent audit trail', () => {
  it('is append-only: no update or delete of a consent event', async () => {
    await stop();
    expect(() => db.prepare(`UPDATE consent_events SET action = 'opt_in'`).run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM consent_events').run()).toThrow(/append-only/);
  });

  it('records the previous state with every change and shows the current one', async () => {
    await optIn('newsletter');
    await stop();
    await start();
    const events = [...store.events({ recipient: N })];
    expect(events.map((e) => [e.purpose, e.action, e.previous])).toEqual([
      ['newsletter', 'opt_in', null],
      ['', 'opt_out', null],
      ['', 'opt_in', 'opt_out'],
    ]);
    expect(store.current(N).map((c) => [c.purpose, c.state])).toEqual([
      ['', 'opt_in'],
      ['newsletter', 'opt_in'],
    ]);
  });

  it('a batch of changes is all or nothing', () => {
    expect(() =>
      store.change(
        [
          { recipient: N, action: 'opt_out', source: 'import' },
          // @ts-expect-error an action the table refuses
          { recipient: N, action: 'maybe', source: 'import' },
        ],
        clock.now(),
      ),
    ).toThrow();
    expect([...store.events({})]).toEqual([]);
  });

  it('history lists sends, suppressions, consent and inbound SMS for one number, newest first', async () => {
    await sendNow(alert());
    clock.advance(MINUTE);
    await ledger.recordInbound({ providerId: 'in-1', from: N, to: undefined, text: 'STOP please', receivedAt: clock.now(), kind: 'opt_out', keyword: 'STOP' });
    clock.advance(MINUTE);
    await decide(alert());
    const kinds = store.history(N).map((h) => h.kind);
    expect(kinds.slice(0, 4)).toEqual(['suppressed', 'event', 'consent', 'inbound']);
    expect(kinds).toContain('sms');
    expect(store.history(N)[0]?.summary).toContain('suppressed (opted_out)');
  });
});

describe('inbound SMS', () => {
  const base = { from: N, to: '+4570000000', receivedAt: 0 } as const;

  it('a webhook delivered twice acts once', async () => {
    const first = await ledger.recordInbound({ ...base, providerId: 'in-7', text: 'STOP', receivedAt: clock.now(), kind: 'opt_out', keyword: 'STOP' });
    const again = await ledger.recordInbound({ ...base, providerId: 'in-7', text: 'STOP', receivedAt: clock.now(), kind: 'opt_out', keyword: 'STOP' });
    expect(first.duplicate).toBe(false);
    expect(again).toMatchObject({ duplicate: true, inboundId: first.inboundId });
    expect([...store.events({ recipient: N })]).toHaveLength(1);
  });

  it('an opt-in answer bypasses the cooldown and is recorded as a send', async () => {
    await sendNow(alert());
    await ledger.recordInbound({ ...base, providerId: 'in-8', text: 'STOP', receivedAt: clock.now(), kind: 'opt_out' });
    const reply = { senderName: '4570000000', text: 'Welcome back', measure: measureSms('Welcome back') };
    const outcome = await ledger.recordInbound({ ...base, providerId: 'in-9', text: 'START', receivedAt: clock.now(), kind: 'opt_in', reply });
    expect(outcome.replyQueueId).toBeDefined();
    const claimed = await ledger.claimDue(5, MINUTE);
    expect(claimed.map((c) => [c.recipient, c.text, c.senderName])).toEqual([[N, 'Welcome back', '4570000000']]);
    expect(db.prepare(`SELECT channel FROM sends WHERE recipient = ? ORDER BY id`).pluck().all(N)).toEqual(['email', 'keyword']);
  });
});

describe('STOP clause once per period', () => {
  it('a number that got the clause within the period gets the text without it; after the period, with it again', async () => {
    const withClause = 'Sale today\nReply STOP to opt out';
    const rules = marketing('newsletter', null);
    await optIn('newsletter');
    const message = () => mail([N], rules, { text: withClause, measure: measureSms(withClause), stopClauseAppended: true, stopClauseOnce: { periodMs: 30 * DAY, text: 'Sale today' } });
    const texts: string[] = [];
    for (const after of [0, 10 * DAY, 21 * DAY]) {
      clock.advance(after);
      await ledger.acceptMessage(message());
      const [claimed] = await ledger.claimDue(1, MINUTE);
      await ledger.recordSent(claimed!.outboxId, `p-${claimed!.outboxId}`);
      texts.push(claimed!.text);
    }
    expect(texts).toEqual([withClause, 'Sale today', withClause]);
  });
});
