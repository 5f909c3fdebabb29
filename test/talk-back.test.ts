import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainMail } from '../src/cli/explain.js';
import { alertsSetup, queueIdOf, sendMail, simulatorMessages, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';
import { startSink, type Sink } from './smtp-sink.js';

/*
 * Two-way SMS by email, end to end: an SMS reply arrives (the simulator plays
 * the phone), is forwarded by email (the notify relay is an SMTP sink), the
 * person answers that email over SMTP, and the answer reaches the same phone
 * as an SMS, past the setup's cooldown, with the quoted text stripped.
 */

const PHONE = '+4520124001';
const REPLY_SENDER = '4570000002';
let sink: Sink;
let dirs: TestDirs;
let t: TestDaemon;

beforeAll(async () => {
  sink = await startSink();
  dirs = writeConfig({
    main: {
      notify: { relay: { host: '127.0.0.1', port: sink.port, starttls: 'off', from: 'mail2sms@gw.example.test', timeout: '5s' }, report_batch_delay: '1h' },
      consent: { reply_sender: REPLY_SENDER, opt_out_confirmation_text: 'You will get no more SMS from us.' },
    },
    setups: [
      alertsSetup({ id: 'desk', senders: ['desk@example.test'], sender_name: REPLY_SENDER, forward_replies: true, cooldown: '1h' }),
      alertsSetup({ id: 'other', senders: ['other@example.test'], sender_name: REPLY_SENDER, cooldown: '1h' }),
    ],
  });
  t = await startTestDaemon(dirs);
});
afterAll(async () => {
  await t?.stop();
  await sink?.close();
  dirs?.cleanup();
});

const inbound = (from: string, text: string) => fetch(`${t.simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from, text }) });
const smsTo = async (number: string) => (await simulatorMessages(t.simUrl)).filter((m) => m.to === number);

describe('talking back by email', () => {
  it('SMS in → email out → email reply → SMS to the same phone, past the cooldown, quoted text stripped', async () => {
    const first = await sendMail({ port: t.smtpPort, from: 'desk@example.test', to: `${PHONE}@sms.example.test`, subject: 'Callout', text: 'Pump 3 alarm, please go' });
    const queueId = queueIdOf(first.response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'the first SMS');
    expect((await inbound(PHONE, 'Which pump?')).status).toBe(200);

    const forward = await waitFor(() => sink.received.find((r) => r.mail.text?.includes('Which pump?')), 'the forwarded reply');
    const replyTo = forward.mail.replyTo?.value[0]?.address;
    expect(replyTo).toBe(`${PHONE}@sms.example.test`);
    expect(forward.mail.messageId).toMatch(/^<sms-reply\.\d+\.[0-9a-f]+@/);

    // The person answers in their mail client: to the Reply-To, threaded, quoting the forward.
    const answer = await sendMail({
      port: t.smtpPort,
      from: 'desk@example.test',
      to: replyTo as string,
      subject: `Re: ${forward.mail.subject}`,
      headers: { 'In-Reply-To': forward.mail.messageId as string, References: forward.mail.messageId as string },
      text: `Pump 3, the one by the gate.\n\nOn Mon, 30 Nov 2026 at 10:00, SMS from ${PHONE} <mail2sms@gw.example.test> wrote:\n> ${PHONE} answered by SMS:\n>\n> Which pump?\n`,
    });
    expect(answer.response).toMatch(/^250 2\.0\.0 Queued as \w+$/); // nothing suppressed: no cooldown in a conversation
    const sms = await waitFor(async () => (await smsTo(PHONE)).find((m) => m.text.startsWith('Pump 3, the one')), 'the SMS answer');
    expect(sms.text).toBe('Pump 3, the one by the gate.');

    const history = await t.daemon.ledger.mailStatus(queueIdOf(answer.response));
    expect(history?.recipients[0]?.events.find((e) => e.type === 'conversation')?.detail).toMatch(/^answers inbound SMS #\d+: the cooldown does not apply$/);
  });

  it('a mail to the same phone that answers nothing still waits for the cooldown', async () => {
    const plain = await sendMail({ port: t.smtpPort, from: 'desk@example.test', to: `${PHONE}@sms.example.test`, text: 'Another thing' });
    expect(plain.response).toMatch(/1 of 1 recipient\(s\) suppressed \(cooldown\)/);
  });

  it('a forged thread id for a number that never wrote gets no bypass', async () => {
    const other = '+4520124002';
    await sendMail({ port: t.smtpPort, from: 'desk@example.test', to: `${other}@sms.example.test`, text: 'First' });
    const forged = await sendMail({
      port: t.smtpPort,
      from: 'desk@example.test',
      to: `${other}@sms.example.test`,
      headers: { 'In-Reply-To': '<sms-reply.1.abcdef@mail2sms.example.test>' },
      text: 'Second',
    });
    expect(forged.response).toMatch(/suppressed \(cooldown\)/);
  });
});

describe('a forged conversation thread (audit: any sender skipped the cooldown with a made-up In-Reply-To)', () => {
  const phone = '+4520124010';
  let forwardId: string;

  beforeAll(async () => {
    const first = await sendMail({ port: t.smtpPort, from: 'desk@example.test', to: `${phone}@sms.example.test`, text: 'Gate 2 open' });
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId: queueIdOf(first.response) }))[0]?.status === 'delivered', 'the first SMS');
    expect((await inbound(phone, 'Closing it now')).status).toBe(200);
    const forward = await waitFor(() => sink.received.find((r) => r.mail.text?.includes('Closing it now')), 'the forwarded reply');
    forwardId = forward.mail.messageId as string;
    expect(forwardId).toMatch(/^<sms-reply\.\d+\.[0-9a-f]{32}@[^<>@\s]+>$/);
  });

  const answer = (from: string, inReplyTo: string) =>
    sendMail({ port: t.smtpPort, from, to: `${phone}@sms.example.test`, headers: { 'In-Reply-To': inReplyTo }, text: `answer as ${from}` });

  it.each([
    ['the audit\'s attack: the right inbound id with a made-up token at another host', (id: string) => id.replace(/\.[0-9a-f]+@.*$/, '.AAAA@attacker.example>'), 'desk@example.test'],
    ['the right id and a wrong token of the same length', (id: string) => id.replace(/\.([0-9a-f]+)@/, (_m, t: string) => `.${'0'.repeat(t.length)}@`), 'desk@example.test'],
    ['the true token at another host', (id: string) => id.replace(/@[^>]+>$/, '@attacker.example>'), 'desk@example.test'],
    ['the true thread from a sender of another setup', (id: string) => id, 'other@example.test'],
  ])('%s: suppressed by the cooldown', async (_name, forge, from) => {
    const forged = await answer(from, forge(forwardId));
    expect(forged.response).toMatch(/1 of 1 recipient\(s\) suppressed \(cooldown\)/);
  });

  it('explain agrees with the daemon: the true thread would send, a forged token is held by the cooldown (audit item 8)', async () => {
    const explain = (inReplyTo: string) => {
      const raw = `From: desk@example.test\r\nTo: ${phone}@sms.example.test\r\nIn-Reply-To: ${inReplyTo}\r\nSubject: x\r\n\r\nOn my way\r\n`;
      return explainMail(t.config, Buffer.from(raw), { from: 'desk@example.test', to: [`${phone}@sms.example.test`], ip: '127.0.0.1', now: Date.now(), ledger: t.daemon.ledger });
    };
    const genuine = await explain(forwardId);
    expect(genuine.recipients).toEqual([{ address: `${phone}@sms.example.test`, verdict: 'would_send', number: phone }]);
    expect(genuine.note).toMatch(/answers the forward of inbound SMS #\d+: the cooldown does not apply/);
    expect(genuine.reply).toMatch(/^250 /);
    const forged = await explain(forwardId.replace(/\.([0-9a-f]+)@/, (_m, t: string) => `.${'0'.repeat(t.length)}@`));
    expect(forged.recipients[0]).toMatchObject({ verdict: 'suppressed', reason: 'cooldown' });
  });

  it('the true thread from the address it was forwarded to passes (so the forgeries above were refused for their forgery)', async () => {
    const genuine = await answer('desk@example.test', forwardId);
    expect(genuine.response).toMatch(/^250 2\.0\.0 Queued as \w+$/);
  });
});

describe('STOP confirmation (consent.opt_out_confirmation_text)', () => {
  it('a STOP is confirmed once by SMS from the numeric reply sender, and nothing else reaches the number after it', async () => {
    const number = '+4520124003';
    expect(((await (await inbound(number, 'STOP')).json()) as { action: string }).action).toBe('opted out');
    const confirmation = await waitFor(async () => (await smsTo(number))[0], 'the confirmation');
    expect(confirmation).toMatchObject({ from: REPLY_SENDER, text: 'You will get no more SMS from us.' });
    const after = await sendMail({ port: t.smtpPort, from: 'desk@example.test', to: `${number}@sms.example.test`, text: 'Alarm' });
    expect(after.response).toMatch(/suppressed \(opted_out\)/);
    expect(await smsTo(number)).toHaveLength(1);
  });
});
