import { answeredThread } from '../src/message/conversation.js';
import { describe, expect, it } from 'vitest';
import { buildReport, type ReportInput } from '../src/notify/report.js';
import { buildReplyForward, type ReplyForwardInput } from '../src/notify/reply.js';
import { buildPostmasterForward } from '../src/notify/postmaster.js';
import { angleId, isNotificationHeader } from '../src/notify/mail.js';

/* The pure builders: what each notification says, to whom, and when there is none. */

const AT = Date.UTC(2026, 0, 1, 12, 0, 0);

function report(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    to: 'ops@example.test',
    originalMessageId: '<alert-42@erp.example.test>',
    originalSubject: 'Server down',
    queueId: 'MWR1A7A46E317A06',
    setupId: 'alerts',
    mode: 'failures',
    outcomes: [
      { recipient: '+4520123456', status: 'delivered', at: AT },
      { recipient: '+4520123457', status: 'failed', reason: 'number unreachable', at: AT + 2000 },
    ],
    ...overrides,
  };
}

describe('buildReport: when there is none', () => {
  const delivered = [{ recipient: '+4520123456', status: 'delivered' as const }];
  it.each<[string, Partial<ReportInput>]>([
    ['failures mode and every SMS went out', { outcomes: delivered }],
    ['failures mode, only sent and queued', { outcomes: [{ recipient: '+4520123456', status: 'sent' }, { recipient: '+4520123457', status: 'queued' }] }],
    ['no outcomes at all, even in all mode', { mode: 'all', outcomes: [] }],
    ['an empty sender', { to: '' }],
    ['the null sender', { to: '<>' }],
    ['a mailer-daemon', { to: 'MAILER-DAEMON@example.test' }],
    ['a postmaster', { to: '<postmaster@example.test>' }],
    ['an address without a domain', { to: 'root' }],
    ['the original was one of our notifications', { originalWasNotification: true, mode: 'all' }],
  ])('%s', (_what, overrides) => {
    expect(buildReport(report(overrides))).toBeNull();
  });
});

describe('buildReport: when there is one', () => {
  it.each<[string, Partial<ReportInput>, string[]]>([
    ['failed', {}, ['+4520123457']],
    ['expired', { outcomes: [{ recipient: '+4520123456', status: 'expired' }] }, ['+4520123456']],
    ['rejected', { outcomes: [{ recipient: '+4520123456', status: 'rejected' }] }, ['+4520123456']],
    ['unknown', { outcomes: [{ recipient: '+4520123456', status: 'unknown' }] }, ['+4520123456']],
    ['suppressed', { outcomes: [{ recipient: '+4520123456', status: 'suppressed', reason: 'cooldown' }] }, ['+4520123456']],
    ['all mode, everything delivered', { mode: 'all', outcomes: [{ recipient: '+4520123456', status: 'delivered' }] }, ['+4520123456']],
    ['all mode lists every recipient', { mode: 'all' }, ['+4520123456', '+4520123457']],
  ])('%s', (_what, overrides, listed) => {
    const mail = buildReport(report(overrides));
    expect(mail).not.toBeNull();
    const rows = mail!.text.split('\n').filter((line) => line.startsWith('+'));
    expect(rows.map((row) => row.split(/\s+/)[0])).toEqual(listed);
  });

  it('is a null-sender, auto-generated report threaded under the original', () => {
    const mail = buildReport(report())!;
    expect(mail).toMatchObject({
      kind: 'report',
      to: 'ops@example.test',
      nullSender: true,
      autoSubmitted: 'auto-generated',
      subject: 'SMS report: Server down',
      inReplyTo: '<alert-42@erp.example.test>',
      references: ['<alert-42@erp.example.test>'],
    });
  });

  it('a table with the full number, outcome, ISO time and reason; a count of all recipients', () => {
    const mail = buildReport(report())!;
    expect(mail.text).toContain('Number       Outcome  Time (UTC)                Reason');
    expect(mail.text).toContain('+4520123457  failed   2026-01-01T12:00:02.000Z  number unreachable');
    expect(mail.text).not.toContain('+4520123456  delivered');
    expect(mail.text).toContain('All 2 recipient(s): 1 delivered, 1 failed.');
    expect(mail.text).toContain('failed: could not be sent');
  });

  it('without a subject or Message-ID: the queue id names it, and there is nothing to thread under', () => {
    const mail = buildReport(report({ originalSubject: '  ', originalMessageId: undefined }))!;
    expect(mail.subject).toBe('SMS report for MWR1A7A46E317A06');
    expect(mail.inReplyTo).toBeUndefined();
    expect(mail.references).toBeUndefined();
  });

  it('an original subject with line breaks stays one header line; a bare Message-ID gets its brackets', () => {
    const mail = buildReport(report({ originalSubject: 'Disk\r\nBcc: victim@example.test', originalMessageId: 'bare@erp.example.test' }))!;
    expect(mail.subject).toBe('SMS report: Disk Bcc: victim@example.test');
    expect(mail.inReplyTo).toBe('<bare@erp.example.test>');
  });

  it('a sender in angle brackets is unwrapped', () => {
    expect(buildReport(report({ to: '<ops@example.test>' }))!.to).toBe('ops@example.test');
  });

  it('a missing time and reason show as -', () => {
    const mail = buildReport(report({ outcomes: [{ recipient: '+4520123456', status: 'unknown' }] }))!;
    expect(mail.text).toMatch(/\+4520123456 {2}unknown {2}- +-\n/);
  });
});

function reply(overrides: Partial<ReplyForwardInput> = {}): ReplyForwardInput {
  return {
    inboundId: 7,
    token: '0123456789abcdef0123456789abcdef',
    host: 'mail2sms.example.test',
    replyTo: '+4520123456@sms.example.test',
    to: 'ops@example.test',
    from: '+4520123456',
    text: 'Yes, I am on it.\nETA 10 min',
    receivedAt: AT,
    originalMessageId: '<alert-42@erp.example.test>',
    originalReferences: ['<root@erp.example.test>', '<alert-41@erp.example.test>'],
    originalSubject: 'Server down',
    queueId: 'MWR1A7A46E317A06',
    ...overrides,
  };
}

describe('buildReplyForward', () => {
  it('has a Message-ID naming the inbound SMS and a Reply-To of the number, so answering it is an SMS back', () => {
    const mail = buildReplyForward(reply());
    expect(mail.replyTo).toBe('+4520123456@sms.example.test');
    expect(mail.messageId).toBe('<sms-reply.7.0123456789abcdef0123456789abcdef@mail2sms.example.test>');
    expect(answeredThread([mail.messageId as string], 'mail2sms.example.test')).toEqual({ inboundId: 7, token: '0123456789abcdef0123456789abcdef' });
    expect(answeredThread(['<other@example.test>', '<sms-reply.x.1@h>'], 'h')).toBeUndefined();
    expect(mail.text).toContain('Reply to this email to answer +4520123456 by SMS.');
  });


  it('a thread id under another host is not ours, whatever its numbers (a forged conversation)', () => {
    expect(answeredThread(['<sms-reply.1.AAAA@attacker.example>'], 'mail2sms.example.test')).toBeUndefined();
    expect(answeredThread(['<sms-reply.1.AAAA@attacker.example>', '<sms-reply.2.BBBB@MAIL2SMS.example.test>'], 'mail2sms.example.test')).toEqual({ inboundId: 2, token: 'BBBB' });
  });

  it('threads under the original: In-Reply-To the original, References the thread then the original', () => {
    const mail = buildReplyForward(reply());
    expect(mail).toMatchObject({
      kind: 'reply',
      to: 'ops@example.test',
      nullSender: false,
      autoSubmitted: 'auto-replied',
      inReplyTo: '<alert-42@erp.example.test>',
      references: ['<root@erp.example.test>', '<alert-41@erp.example.test>', '<alert-42@erp.example.test>'],
      subject: 'Re: Server down',
      fromName: 'SMS from +4520123456',
    });
  });

  it('the body names the number and time, and carries the text unchanged', () => {
    const mail = buildReplyForward(reply());
    expect(mail.text).toContain('+4520123456 answered by SMS at 2026-01-01T12:00:00.000Z:');
    expect(mail.text).toContain('Yes, I am on it.\nETA 10 min');
    expect(mail.text).toContain('MWR1A7A46E317A06');
  });

  it.each([
    ['Server down', 'Re: Server down'],
    ['Re: Server down', 'Re: Server down'],
    ['RE: Re: re:Server down', 'Re: Server down'],
    ['Re[2]: Server down', 'Re: Server down'],
    ['AW: SV: Server down', 'Re: Server down'],
    ['Fwd: Server down', 'Re: Fwd: Server down'],
    ['Rebooting', 'Re: Rebooting'],
    ['', 'SMS reply from +4520123456'],
    [undefined, 'SMS reply from +4520123456'],
  ])('subject %j → %j', (original, expected) => {
    expect(buildReplyForward(reply({ originalSubject: original })).subject).toBe(expected);
  });

  it('without the original Message-ID: no In-Reply-To, the known thread is kept', () => {
    const mail = buildReplyForward(reply({ originalMessageId: undefined, originalReferences: ['root@erp.example.test'] }));
    expect(mail.inReplyTo).toBeUndefined();
    expect(mail.references).toEqual(['<root@erp.example.test>']);
    expect(buildReplyForward(reply({ originalMessageId: undefined, originalReferences: undefined })).references).toBeUndefined();
  });

  it('a repeated id appears once; a long thread keeps its root and the latest ids', () => {
    const ids = Array.from({ length: 30 }, (_, i) => `<m${i}@erp.example.test>`);
    const mail = buildReplyForward(reply({ originalReferences: [...ids, '<alert-42@erp.example.test>'] }));
    expect(mail.references).toHaveLength(20);
    expect(mail.references![0]).toBe('<m0@erp.example.test>');
    expect(mail.references![19]).toBe('<alert-42@erp.example.test>');
    expect(new Set(mail.references).size).toBe(20);
  });
});

describe('buildPostmasterForward', () => {
  const raw = Buffer.from('From: a@remote.test\r\nSubject: Hi\r\n\r\nHello\r\n');

  it('attaches the original unchanged and names envelope, recipients and client', () => {
    const mail = buildPostmasterForward({
      admin: 'admin@example.test', envelopeFrom: 'a@remote.test', rcpt: ['postmaster@sms.example.test'],
      clientIp: '192.0.2.7', raw, receivedAt: AT, originalSubject: 'Hi',
    });
    expect(mail).toMatchObject({ kind: 'postmaster', to: 'admin@example.test', nullSender: false, autoSubmitted: 'auto-generated', subject: 'Postmaster mail from <a@remote.test>: Hi' });
    expect(mail.attachments).toEqual([{ filename: 'original.eml', contentType: 'message/rfc822', content: raw }]);
    expect(mail.text).toContain('Envelope sender: <a@remote.test>');
    expect(mail.text).toContain('Recipients:      <postmaster@sms.example.test>');
    expect(mail.text).toContain('Client address:  192.0.2.7');
    expect(mail.text).toContain('Received:        2026-01-01T12:00:00.000Z');
    expect(mail.text).toContain(`Size:            ${raw.length} bytes`);
  });

  it('a bounce (null sender) to postmaster says so', () => {
    const mail = buildPostmasterForward({
      admin: 'admin@example.test', envelopeFrom: '', rcpt: ['postmaster@sms.example.test', 'postmaster@sms2.example.test'],
      clientIp: '2001:db8::1', raw, receivedAt: AT,
    });
    expect(mail.subject).toBe('Postmaster mail from <>');
    expect(mail.text).toContain('Envelope sender: <> (a bounce or other delivery report)');
    expect(mail.text).toContain('<postmaster@sms.example.test>, <postmaster@sms2.example.test>');
  });
});

describe('helpers', () => {
  it.each([
    ['<a@b>', '<a@b>'],
    ['a@b', '<a@b>'],
    ['  <a@b>  ', '<a@b>'],
    ['', undefined],
    [undefined, undefined],
    ['<a b@c>', undefined],
  ])('angleId(%j) = %j', (input, expected) => {
    expect(angleId(input)).toBe(expected);
  });

  it.each([
    ['report', true], ['Reply', true], [' postmaster ', true], ['', false], [undefined, false], ['other', false],
  ])('isNotificationHeader(%j) = %j', (value, expected) => {
    expect(isNotificationHeader(value)).toBe(expected);
  });
});
