import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startSink, type Received, type Sink } from './smtp-sink.js';
import { alertsSetup, queueIdOf, sendMail, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Notifications end to end: a real daemon whose notify relay is an smtp-server
 * sink on a random loopback port, mail in over SMTP, the embedded simulator's
 * faults and inbound webhook. Nothing waits a fixed time: every wait polls for
 * the thing itself.
 */

/** A port nothing listens on: the relay is down. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const notifyBlock = (port: number) => ({
  relay: { host: '127.0.0.1', port, starttls: 'off', from: 'mail2sms@gw.example.test', timeout: '5s' },
  report_batch_delay: '100ms',
  admin: 'pm-admin@example.test',
});

const header = (mail: ParsedMail, name: string) => {
  const value = mail.headers.get(name);
  return typeof value === 'string' ? value : undefined;
};

const GOOD = '+4520123410';
const GOOD2 = '+4520123411';
const BAD = '+4520123499';
const REPLY_SENDER = '4570000001';

describe('notifications through a real daemon', () => {
  let sink: Sink;
  let dirs: TestDirs;
  let t: TestDaemon;

  beforeAll(async () => {
    sink = await startSink();
    dirs = writeConfig({
      main: { notify: notifyBlock(sink.port) },
      setups: [
        alertsSetup({ cooldown: 'off' }),
        alertsSetup({ id: 'failures', senders: ['ops@example.test'], report: 'failures', cooldown: 'off' }),
        alertsSetup({ id: 'everything', senders: ['all@example.test'], report: 'all', cooldown: 'off' }),
        alertsSetup({ id: 'desk', senders: ['desk@example.test'], sender_name: REPLY_SENDER, forward_replies: true, cooldown: 'off' }),
      ],
    });
    t = await startTestDaemon(dirs);
    const faults = await fetch(`${t.simUrl}/faults`, { method: 'PUT', body: JSON.stringify({ permanent_for: [BAD] }) });
    expect(faults.status).toBe(200);
  });
  afterAll(async () => {
    await t?.stop();
    await sink?.close();
    dirs?.cleanup();
  });

  const reportsFor = (queueId: string) => sink.received.filter((r) => header(r.mail, 'x-mail2sms-queue-id') === queueId && header(r.mail, 'x-mail2sms-notification') === 'report');
  const reportDone = (queueId: string) => t.logs.some((line) => line.qid === queueId && (line.msg === 'report sent' || line.msg === 'no report needed'));
  let failureReport: Received | undefined;
  let failureQueueId = '';

  it('report `failures`: one report, MAIL FROM:<>, threaded under the mail, naming the failed number and why', async () => {
    const sent = await sendMail({
      port: t.smtpPort,
      from: 'ops@example.test',
      to: [`${GOOD}@sms.example.test`, `${BAD}@sms.example.test`],
      subject: 'Disk full on db1',
      text: 'Disk full on db1',
      messageId: '<disk-1@erp.example.test>',
    });
    expect(sent.code).toBe(250);
    failureQueueId = queueIdOf(sent.response);

    await waitFor(() => reportDone(failureQueueId), 'the report to be sent and marked');
    const reports = reportsFor(failureQueueId);
    expect(reports).toHaveLength(1);
    const report = reports[0] as Received;
    failureReport = report;
    expect(report.mailFrom).toBe('');
    expect(report.rcptTo).toEqual(['ops@example.test']);
    expect(header(report.mail, 'auto-submitted')).toBe('auto-generated');
    expect(report.mail.inReplyTo).toBe('<disk-1@erp.example.test>');
    expect(report.mail.subject).toBe('SMS report: Disk full on db1');
    const text = report.mail.text ?? '';
    expect(text).toMatch(new RegExp(`\\${BAD}\\s+failed\\s.*permanently unreachable`));
    // Mode failures: the delivered number is counted, not listed.
    expect(text).not.toContain(GOOD);
    expect(text).toContain('1 delivered');
    // Both outcomes were in when it went out.
    expect((await t.daemon.ledger.outbox({ queueId: failureQueueId })).map((r) => [r.recipient, r.status])).toEqual([
      [GOOD, 'delivered'],
      [BAD, 'failed'],
    ]);
  });

  it('report `all`: one report once every recipient is delivered, listing each', async () => {
    const sent = await sendMail({ port: t.smtpPort, from: 'all@example.test', to: [`${GOOD}@sms.example.test`, `${GOOD2}@sms.example.test`], subject: 'Backup done', text: 'Backup done', messageId: '<backup-9@erp.example.test>' });
    expect(sent.code).toBe(250);
    const queueId = queueIdOf(sent.response);
    await waitFor(() => reportDone(queueId), 'the report to be sent and marked');
    const reports = reportsFor(queueId);
    expect(reports).toHaveLength(1);
    const text = reports[0]?.mail.text ?? '';
    expect(text).toMatch(new RegExp(`\\${GOOD}\\s+delivered`));
    expect(text).toMatch(new RegExp(`\\${GOOD2}\\s+delivered`));
    expect(reports[0]?.mail.inReplyTo).toBe('<backup-9@erp.example.test>');
    expect((await t.daemon.ledger.outbox({ queueId })).every((r) => r.status === 'delivered')).toBe(true);
    // The first test's report was not sent again in the rounds since.
    expect(reportsFor(failureQueueId)).toHaveLength(1);
  });

  it('a setup without `report` gets none', async () => {
    const sent = await sendMail({ port: t.smtpPort, from: 'nagios@example.test', to: `${GOOD2}@sms.example.test`, text: 'No report please' });
    const queueId = queueIdOf(sent.response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'delivery');
    // Another report mail going through afterwards shows the reporter has had rounds since.
    const later = await sendMail({ port: t.smtpPort, from: 'all@example.test', to: `${GOOD}@sms.example.test`, text: 'Later' });
    await waitFor(() => reportDone(queueIdOf(later.response)), 'a later report');
    expect(sink.received.filter((r) => header(r.mail, 'x-mail2sms-queue-id') === queueId)).toEqual([]);
  });

  it('our report fed back into intake is refused with 550 5.7.1, never an SMS', async () => {
    expect(failureReport).toBeDefined();
    const looped = '+4520123412';
    const sent = await sendMail({
      port: t.smtpPort,
      from: 'ops@example.test',
      to: `${looped}@sms.example.test`,
      raw: (failureReport as Received).raw.toString('utf8'),
      envelope: { from: 'ops@example.test', to: [`${looped}@sms.example.test`] },
    });
    expect(sent.code).toBe(550);
    expect(sent.response).toMatch(/^550 5\.7\.1 This mail is a mail2sms notification \(X-Mail2sms-Notification: report\)/);
    expect(await t.daemon.ledger.outbox({ recipient: looped })).toEqual([]);
    expect(t.logs.some((line) => line.refusal === 'notification_loop')).toBe(true);
  });

  it('postmaster mail is forwarded to the admin, the original attached as message/rfc822, before the 250', async () => {
    const sent = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: 'postmaster@sms.example.test', subject: 'Abuse report', text: 'Your gateway sent me an SMS', messageId: '<abuse-1@isp.example.test>' });
    expect(sent.code).toBe(250);
    expect(sent.response).toMatch(/Accepted for postmaster/);
    // No wait: 250 is only said once the relay has it.
    const forwards = sink.received.filter((r) => header(r.mail, 'x-mail2sms-notification') === 'postmaster');
    expect(forwards).toHaveLength(1);
    const forward = forwards[0] as Received;
    expect(forward.rcptTo).toEqual(['pm-admin@example.test']);
    expect(forward.mailFrom).toBe('mail2sms@gw.example.test');
    expect(forward.mail.subject).toBe('Postmaster mail from <ops@example.test>: Abuse report');
    const attached = forward.mail.attachments.find((a) => a.contentType === 'message/rfc822');
    expect(attached).toBeDefined();
    const original = await simpleParser(attached?.content as Buffer);
    expect(original.messageId).toBe('<abuse-1@isp.example.test>');
    expect(original.text?.trim()).toBe('Your gateway sent me an SMS');
  });

  it('a bounce (MAIL FROM:<>) for postmaster is forwarded too, and its numbers are not sent to', async () => {
    const number = '+4520123414';
    const sent = await sendMail({
      port: t.smtpPort,
      from: 'mailer-daemon@isp.example.test',
      to: 'postmaster@sms.example.test',
      subject: 'Undelivered Mail Returned to Sender',
      text: 'The mail could not be delivered',
      envelope: { from: '', to: ['postmaster@sms.example.test', `${number}@sms.example.test`] },
    });
    expect(sent.code).toBe(250);
    expect(sent.response).toMatch(/Bounce for postmaster accepted/);
    const forward = sink.received.find((r) => r.mail.subject === 'Postmaster mail from <>: Undelivered Mail Returned to Sender');
    expect(forward?.rcptTo).toEqual(['pm-admin@example.test']);
    expect(forward?.mail.text).toContain('(a bounce or other delivery report)');
    expect(await t.daemon.ledger.outbox({ recipient: number })).toEqual([]);
  });

  it('a mail to postmaster and a number: forwarded, then queued as SMS', async () => {
    const number = '+4520123413';
    const sent = await sendMail({ port: t.smtpPort, from: 'nagios@example.test', to: ['postmaster@sms.example.test', `${number}@sms.example.test`], subject: 'Both', text: 'For both' });
    expect(sent.code).toBe(250);
    expect(sent.response).toMatch(/Queued as/);
    expect(sink.received.filter((r) => header(r.mail, 'x-mail2sms-notification') === 'postmaster' && r.mail.subject === 'Postmaster mail from <nagios@example.test>: Both')).toHaveLength(1);
    expect(await t.daemon.ledger.outbox({ recipient: number })).toHaveLength(1);
  });

  it('an SMS reply to a setup with forward_replies goes by email to the sender, threaded under the mail', async () => {
    const number = '+4520123430';
    const sent = await sendMail({ port: t.smtpPort, from: 'desk@example.test', to: `${number}@sms.example.test`, subject: 'Callout: pump 3', text: 'Pump 3 alarm, please go', messageId: '<callout-7@desk.example.test>' });
    expect(sent.code).toBe(250);
    const queueId = queueIdOf(sent.response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'the SMS to be delivered');

    const inbound = await fetch(`${t.simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: number, text: 'On my way' }) });
    expect(inbound.status).toBe(200);
    expect(((await inbound.json()) as { action: string }).action).toBe('no keyword');

    const forward = await waitFor(() => sink.received.find((r) => header(r.mail, 'x-mail2sms-notification') === 'reply' && header(r.mail, 'x-mail2sms-queue-id') === queueId), 'the forwarded reply');
    expect(forward.rcptTo).toEqual(['desk@example.test']);
    expect(forward.mailFrom).toBe('mail2sms@gw.example.test');
    expect(forward.mail.inReplyTo).toBe('<callout-7@desk.example.test>');
    expect(forward.mail.subject).toBe('Re: Callout: pump 3');
    expect(header(forward.mail, 'auto-submitted')).toBe('auto-replied');
    expect(forward.mail.text).toContain(number);
    expect(forward.mail.text).toContain('On my way');
  });

  it('a reply to a setup without forward_replies is logged, not forwarded', async () => {
    // GOOD's last SMS came from the `everything` setup (report: all, no forward_replies).
    const before = sink.received.length;
    const inbound = await fetch(`${t.simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: GOOD, text: 'Thanks' }) });
    expect(inbound.status).toBe(200);
    const decision = await waitFor(() => t.logs.find((line) => line.decision !== undefined && line.msg.startsWith('reply not forwarded') && line.setup === 'everything'), 'the decision');
    expect(decision.decision).toBe('not_enabled');
    expect(sink.received.slice(before).filter((r) => header(r.mail, 'x-mail2sms-notification') === 'reply')).toEqual([]);
  });
});

describe('postmaster with the relay down', () => {
  let dirs: TestDirs;
  let t: TestDaemon;

  beforeAll(async () => {
    dirs = writeConfig({ main: { notify: { ...notifyBlock(await closedPort()), report_batch_delay: '1h' } } });
    t = await startTestDaemon(dirs);
  });
  afterAll(async () => {
    await t?.stop();
    dirs?.cleanup();
  });

  it('answers 451 4.3.0, so the sender keeps the mail and retries', async () => {
    const sent = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: 'postmaster@sms.example.test', subject: 'Abuse report', text: 'hello' });
    expect(sent.code).toBe(451);
    expect(sent.response).toMatch(/^451 4\.3\.0 Cannot forward mail for postmaster right now, try again later/);
  });

  it('with a number as well, nothing is queued either (the retry brings both)', async () => {
    const number = '+4520123440';
    const sent = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: ['postmaster@sms.example.test', `${number}@sms.example.test`], text: 'hello' });
    expect(sent.code).toBe(451);
    expect(await t.daemon.ledger.outbox({ recipient: number })).toEqual([]);
  });
});
