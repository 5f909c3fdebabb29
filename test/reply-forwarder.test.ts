import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import type { Config } from '../src/config/load.js';
import type { Ledger } from '../src/ledger/types.js';
import { createRelay, type Relay } from '../src/notify/relay.js';
import { createReplyForwarder } from '../src/notify/reply-forwarder.js';
import { replyForwardSettings } from '../src/daemon/inbound-and-notify.js';
import { intakeMessage, openTestLedger, quietLogger, type TestLedger } from './ledger-fixture.js';
import { startSink, type Sink } from './smtp-sink.js';

/*
 * Which mail an SMS reply is forwarded under (audit item 10): the newest SMS to
 * the number, whether an email's or an automation's. A member who answers a
 * birthday automation's SMS is not forwarded to whoever mailed them weeks ago.
 * A real SQLite ledger, a real relay and a real SMTP server taking the forwards.
 */

const HOUR = 3_600_000;
const clock = createManualClock(Date.UTC(2026, 11, 1, 9));
const config = {
  main: { smtp: { hostname: 'gw.example.test' }, sms_domains: ['sms.example.test'] },
  setups: [{ id: 'club', forward_replies: true }],
  automations: [
    { id: 'birthday', reply_to: 'coach@club.example.test' },
    { id: 'reminder' },
  ],
} as unknown as Config;

let sink: Sink;
let relay: Relay;
let t: TestLedger;
let ledger: Ledger;

beforeAll(async () => {
  sink = await startSink();
  relay = createRelay({ host: '127.0.0.1', port: sink.port, starttls: 'off', from: 'mail2sms@gw.example.test', timeout: 5_000 }, { logger: quietLogger() });
});
afterAll(async () => {
  await relay.close();
  await sink.close();
});
beforeEach(() => {
  t = openTestLedger(clock);
  ledger = t.ledger;
  sink.received.length = 0;
});
afterEach(() => t.close());

async function sendAll(): Promise<void> {
  for (const claimed of await ledger.claimDue(100, HOUR)) await ledger.recordSent(claimed.outboxId, `p-${claimed.outboxId}`);
}

/** An email's SMS to `number`, then (an hour later) an automation's, both sent. */
async function emailThenAutomation(number: string, automationId: string): Promise<void> {
  await ledger.acceptMessage(intakeMessage([number], { setupId: 'club', mailFrom: 'old-sender@example.test', subject: 'Pitch booking' }));
  await sendAll();
  clock.advance(HOUR);
  const run = await ledger.startRun({ automationId, scheduledAt: clock.now(), runBy: 'schedule' }, intakeMessage([number], { setupId: 'club', mailFrom: '', subject: undefined }));
  expect(run.outcome).toBe('ran');
  await sendAll();
  clock.advance(HOUR);
}

async function replyFrom(number: string, text: string) {
  const stored = await ledger.recordInbound({ providerId: `in-${number}`, from: number, to: undefined, text, receivedAt: clock.now(), kind: 'none' });
  const forward = createReplyForwarder({ ledger, relay, getSettings: () => replyForwardSettings(config), logger: quietLogger() });
  return { inboundId: stored.inboundId, decision: await forward({ providerId: `in-${number}`, from: number, to: undefined, text, receivedAt: clock.now() }, stored.inboundId) };
}

describe('a reply to an automation SMS', () => {
  it('is not forwarded to the sender of an older, unrelated mail when the automation names no reply_to', async () => {
    const number = '+4520125001';
    await emailThenAutomation(number, 'reminder');
    expect((await ledger.lastSmsTo(number))?.automationId).toBe('reminder');
    const { decision } = await replyFrom(number, 'Who is this?');
    expect(decision).toBe('no_reply_to');
    expect(sink.received).toHaveLength(0);
  });

  it("goes to the automation's reply_to, and the forward is noted for the conversation check", async () => {
    const number = '+4520125002';
    await emailThenAutomation(number, 'birthday');
    const { decision, inboundId } = await replyFrom(number, 'Thanks coach!');
    expect(decision).toBe('forwarded');
    expect(sink.received.map((r) => r.rcptTo)).toEqual([['coach@club.example.test']]);
    const noted = await ledger.forwardedReply(inboundId);
    expect(noted).toMatchObject({ sender: number, forwardMailTo: 'coach@club.example.test', forwardSetup: 'club' });
    expect(sink.received[0]?.mail.messageId).toBe(`<sms-reply.${inboundId}.${noted?.forwardToken}@gw.example.test>`);
  });

  it("a reply after an email's SMS still goes to that email's sender", async () => {
    const number = '+4520125003';
    await ledger.acceptMessage(intakeMessage([number], { setupId: 'club', mailFrom: 'desk@example.test' }));
    await sendAll();
    const { decision } = await replyFrom(number, 'On it');
    expect(decision).toBe('forwarded');
    expect(sink.received.map((r) => r.rcptTo)).toEqual([['desk@example.test']]);
  });
});
