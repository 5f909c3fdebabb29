import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, sendMail, simulatorMessages, smtpDialogue, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Every SMTP answer of the intake, spoken over TCP by nodemailer's client (and a
 * raw socket where nodemailer cannot say the thing) to a daemon on a random port.
 */

let dirs: TestDirs;
let t: TestDaemon;
let port: number;

beforeAll(async () => {
  dirs = writeConfig({
    setups: [
      alertsSetup({ cooldown: 'off' }),
      alertsSetup({ id: 'remote', senders: ['noc@remote.test'], authorize: { ip: ['192.0.2.0/24'] } }),
      alertsSetup({ id: 'short', senders: ['pager@short.test'], max_segments: 1 }),
      alertsSetup({ id: 'danish', senders: ['dk@danish.test'], allowed_countries: ['DK'], max_recipients: 2 }),
    ],
  });
  t = await startTestDaemon(dirs);
  port = t.smtpPort;
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

const rawSession = (lines: string[]) => smtpDialogue(port, lines);

describe('MAIL FROM', () => {
  it('refuses an unknown sender with 550 5.7.1 and a reference', async () => {
    const result = await sendMail({ port, from: 'eve@evil.test', to: '+4520123456@sms.example.test', text: 'hi' });
    expect(result.code).toBe(550);
    expect(result.response).toMatch(/^550 5\.7\.1 Sender <eve@evil\.test> is not allowed to send SMS here \[ref [\w.]+\]$/);
  });

  it('refuses a known sender from a network its setup does not authorise', async () => {
    const result = await sendMail({ port, from: 'noc@remote.test', to: '+4520123456@sms.example.test', text: 'hi' });
    expect(result.response).toMatch(/^550 5\.7\.1 Sender <noc@remote\.test> is not authorised from 127\.0\.0\.1/);
  });

  it('the reference in the reply is on the log line', async () => {
    const result = await sendMail({ port, from: 'mallory@evil.test', to: '+4520123456@sms.example.test', text: 'hi' });
    const ref = /\[ref ([\w.]+)\]/.exec(result.response)?.[1];
    expect(ref).toBeDefined();
    expect(t.logs.some((line) => line.ref === ref && line.refusal === 'unknown_sender')).toBe(true);
  });

  it('refuses a declared SIZE over the limit at MAIL FROM', async () => {
    const replies = await rawSession(['EHLO client.test', 'MAIL FROM:<ops@example.test> SIZE=99999999', 'QUIT']);
    expect(replies[2]).toMatch(/^552 5\.3\.4 Message size 99999999 exceeds the limit of 65536 bytes/);
  });

  it('accepts the null sender and drops the bounce without an SMS', async () => {
    const before = (await simulatorMessages(t.simUrl)).length;
    const result = await sendMail({
      port,
      from: 'mailer-daemon@example.test',
      to: '+4520123499@sms.example.test',
      text: 'Delivery failed',
      envelope: { from: false, to: ['+4520123499@sms.example.test'] },
    });
    expect(result.response).toMatch(/^250 2\.0\.0 Bounce accepted and discarded/);
    expect(t.logs.some((line) => line.msg === 'null sender (bounce) accepted and dropped')).toBe(true);
    expect((await t.daemon.ledger.outbox({ recipient: '+4520123499' })).length).toBe(0);
    expect((await simulatorMessages(t.simUrl)).length).toBe(before);
  });
});

describe('RCPT TO', () => {
  it('denies relaying to any domain that is not an SMS domain', async () => {
    const result = await sendMail({ port, from: 'ops@example.test', to: 'someone@gmail.com', text: 'hi' });
    expect(result.response).toMatch(/^550 5\.7\.1 Relaying denied: gmail\.com is not an SMS domain/);
  });

  it('denies relaying even for the null sender', async () => {
    const replies = await rawSession(['EHLO c', 'MAIL FROM:<>', 'RCPT TO:<victim@gmail.com>', 'QUIT']);
    expect(replies[3]).toMatch(/^550 5\.7\.1 Relaying denied/);
  });

  it.each([
    ['percent hack', 'user%other.test@sms.example.test', /^550 5\.1\.3 /],
    ['percent hack with a number', '+4520123456%evil.test@sms.example.test', /^550 5\.1\.3 /],
    ['source route', '@sms.example.test:victim@other.test', /^550 5\.7\.1 Relaying denied/],
    ['another domain', 'victim@other.test', /^550 5\.7\.1 Relaying denied/],
    ['a subdomain of the SMS domain', '+4520123456@evil.sms.example.test', /^550 5\.7\.1 Relaying denied/],
    ['the SMS domain as a suffix', '+4520123456@sms.example.test.evil.test', /^550 5\.7\.1 Relaying denied/],
    ['an IP literal', 'victim@[192.0.2.1]', /^550 5\.7\.1 Relaying denied/],
    ['a quoted local part with an @', '"victim@other.test"@sms.example.test', /^(550 5\.1\.3 |501 )/],
    ['a bang path', 'other.test!victim@sms.example.test', /^550 5\.1\.3 /],
    ['no domain', 'victim', /^(550 5\.7\.1 Relaying denied|501 )/],
  ])('never relays: %s (%s)', async (_name, rcpt, reply) => {
    const replies = await rawSession(['EHLO c', 'MAIL FROM:<ops@example.test>', `RCPT TO:<${rcpt}>`, 'QUIT']);
    expect(replies[3]).toMatch(reply);
  });

  it('refuses a local part that is not a number with 550 5.1.3', async () => {
    const result = await sendMail({ port, from: 'ops@example.test', to: 'not-a-number@sms.example.test', text: 'hi' });
    expect(result.response).toMatch(/^550 5\.1\.3 "not-a-number" is not a phone number/);
  });

  it('refuses a number the number plan does not have with 550 5.1.3', async () => {
    const result = await sendMail({ port, from: 'ops@example.test', to: '+4530000001@sms.example.test', text: 'hi' });
    expect(result.response).toMatch(/^550 5\.1\.3 \+4530000001 is not a valid phone number/);
    // The client is told the number; the log line masks it.
    const ref = /\[ref ([\w.]+)\]/.exec(result.response)?.[1];
    const line = t.logs.find((l) => l.ref === ref && l.refusal === 'invalid_number');
    expect(line).toMatchObject({ to: '+4530****01@sms.example.test', msg: expect.stringContaining('+4530****01 is not a valid phone number') });
  });

  it('answers 452 4.5.3 past max_recipients, and the accepted ones still get their SMS', async () => {
    const to = ['+4520123401', '+4520123402', '+4520123403', '+4520123404', '+4520123405', '+4520123406'].map((n) => `${n}@sms.example.test`);
    const result = await sendMail({ port, from: 'ops@example.test', to, text: 'Batch' });
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, rejected: ['+4520123406@sms.example.test'] });
    const replies = await rawSession(['EHLO c', 'MAIL FROM:<ops@example.test>', ...to.map((a) => `RCPT TO:<${a}>`), 'QUIT']);
    expect(replies[8]).toMatch(/^452 4\.5\.3 Too many recipients: at most 5 per message/);
    await waitFor(async () => (await simulatorMessages(t.simUrl)).filter((m) => m.text === 'Batch').length === 5, 'five SMS');
  });

  it('refuses a country the setup does not allow with 550 5.7.1', async () => {
    const replies = await rawSession(['EHLO c', 'MAIL FROM:<dk@danish.test>', 'RCPT TO:<+46701234567@sms.example.test>', 'RCPT TO:<+4520123456@sms.example.test>', 'QUIT']);
    expect(replies[3]).toMatch(/^550 5\.7\.1 \+46701234567 is in SE; this sender may only send to DK/);
    expect(replies[4]).toMatch(/^250 /);
  });

  it("applies the setup's own max_recipients below the server's", async () => {
    const rcpts = ['+4520123401', '+4520123402', '+4520123403'].map((n) => `RCPT TO:<${n}@sms.example.test>`);
    const replies = await rawSession(['EHLO c', 'MAIL FROM:<dk@danish.test>', ...rcpts, 'QUIT']);
    expect(replies.slice(3, 6).map((r) => r.slice(0, 9))).toEqual(['250 Accep', '250 Accep', '452 4.5.3']);
    expect(replies[5]).toMatch(/at most 2 per message/);
  });

  it('accepts postmaster@ an SMS domain and logs the mail', async () => {
    const result = await sendMail({ port, from: 'ops@example.test', to: 'postmaster@sms.example.test', subject: 'Abuse report', text: 'hello' });
    expect(result.response).toMatch(/^250 2\.0\.0 Accepted for postmaster/);
    expect(t.logs.some((line) => line.msg.startsWith('mail for postmaster received'))).toBe(true);
    // A subject can hold numbers: at debug only, unless log.content is on (issue 18).
    expect(t.logs.some((line) => line.level === 20 && line.subject === 'Abuse report')).toBe(true);
    expect(t.logs.some((line) => line.level >= 30 && line.subject === 'Abuse report')).toBe(false);
  });
});

describe('DATA', () => {
  it('refuses a message over max_message_size with 552 5.3.4', async () => {
    const result = await sendMail({ port, from: 'ops@example.test', to: '+4520123450@sms.example.test', text: 'x'.repeat(70 * 1024) });
    expect(result.response).toMatch(/^552 5\.3\.4 Message size exceeds the limit of 65536 bytes/);
    expect((await t.daemon.ledger.outbox({ recipient: '+4520123450' })).length).toBe(0);
  });

  it('refuses a message without text with 550 5.6.0', async () => {
    const result = await sendMail({ port, from: 'ops@example.test', to: '+4520123451@sms.example.test', text: '  \n  ' });
    expect(result.response).toMatch(/^550 5\.6\.0 The message has no text to send as SMS/);
  });

  it('refuses a text over the setup\'s max_segments with 550 5.3.4 naming the count', async () => {
    const result = await sendMail({ port, from: 'pager@short.test', to: '+4520123453@sms.example.test', text: 'Disk full. '.repeat(20) });
    expect(result.response).toMatch(/^550 5\.3\.4 The SMS would be 2 segments; this sender's limit is 1 \(shorten the message\)/);
  });

  it('refuses an attachment-only mail with 550 5.6.0', async () => {
    const result = await sendMail({
      port,
      from: 'ops@example.test',
      to: '+4520123454@sms.example.test',
      raw: [
        'From: ops@example.test',
        'To: +4520123454@sms.example.test',
        'Subject: scan',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: application/pdf; name="scan.pdf"',
        'Content-Disposition: attachment; filename="scan.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        'JVBERi0xLjQKJcfsj6IK',
        '--b1--',
        '',
      ].join('\r\n'),
    });
    expect(result.response).toMatch(/^550 5\.6\.0 The message has no text to send as SMS/);
  });

  it('drops a vacation auto-reply but sends an auto-generated alert', async () => {
    const vacation = await sendMail({
      port,
      from: 'ops@example.test',
      to: '+4520123452@sms.example.test',
      text: 'I am away',
      headers: { 'Auto-Submitted': 'auto-replied' },
    });
    expect(vacation.response).toMatch(/^250 2\.0\.0 Auto-reply accepted and discarded/);
    const alert = await sendMail({
      port,
      from: 'ops@example.test',
      to: '+4520123452@sms.example.test',
      text: 'CPU high',
      headers: { 'Auto-Submitted': 'auto-generated' },
    });
    expect(alert.response).toMatch(/^250 2\.0\.0 Queued as /);
    const rows = await t.daemon.ledger.outbox({ recipient: '+4520123452' });
    expect(rows).toHaveLength(1);
  });
});
