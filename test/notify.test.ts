import { createServer, type AddressInfo, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createLogger } from '../src/core/log.js';
import { createRelay, type Relay, type RelayConfig } from '../src/notify/relay.js';
import { buildReport } from '../src/notify/report.js';
import { buildReplyForward } from '../src/notify/reply.js';
import { buildPostmasterForward } from '../src/notify/postmaster.js';

/*
 * The relay client against a real smtp-server "relay" on a random loopback port
 * that accepts (or refuses) and records what arrived: the MAIL FROM line as the
 * client wrote it, the envelope and the raw message.
 */

interface Received {
  /** The message came over TLS (STARTTLS). */
  secure: boolean;
  mailFrom: string | false;
  rcptTo: string[];
  raw: Buffer;
}

interface Sink {
  port: number;
  received: Received[];
  /** Every client command line, as smtp-server logged it (AUTH arguments redacted). */
  commands: string[];
  close(): Promise<void>;
}

const REFUSED = 'nobody@example.test';

async function startSink(extra: Partial<SMTPServerOptions> = {}): Promise<Sink> {
  const received: Received[] = [];
  const commands: string[] = [];
  const quiet = () => undefined;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    // smtp-server's bunyan-style logger: we keep the client's command lines only.
    logger: {
      trace: quiet, info: quiet, warn: quiet, error: quiet, fatal: quiet,
      debug: (_entry: unknown, message: unknown, ...args: unknown[]) => {
        if (message === 'C:') commands.push(String(args[0]));
      },
    } as unknown as SMTPServerOptions['logger'],
    onRcptTo(address, _session, callback) {
      if (address.address === REFUSED) {
        return callback(Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 }));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          secure: session.secure,
          mailFrom: session.envelope.mailFrom === false ? false : session.envelope.mailFrom.address,
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
    ...extra,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, commands, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function captureLogs() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line.trim()));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination }) };
}

function relayConfig(port: number, overrides: Partial<RelayConfig> = {}): RelayConfig {
  return { host: '127.0.0.1', port, starttls: 'off', from: 'mail2sms@gw.example.test', timeout: 5_000, ...overrides };
}

async function lastMail(sink: Sink): Promise<{ received: Received; mail: ParsedMail }> {
  const received = sink.received[sink.received.length - 1];
  if (!received) throw new Error('the sink received nothing');
  return { received, mail: await simpleParser(received.raw) };
}

const ORIGINAL_ID = '<alert-42@erp.example.test>';
const AT = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('relay', () => {
  let sink: Sink;
  let relay: Relay;
  const logs = captureLogs();

  beforeAll(async () => {
    sink = await startSink();
    relay = createRelay(relayConfig(sink.port), { logger: logs.logger });
  });
  afterAll(async () => {
    await relay?.close();
    await sink?.close();
  });

  it('sends a report with MAIL FROM:<>, threaded under the original, marked as ours', async () => {
    const report = buildReport({
      to: 'ops@example.test',
      originalMessageId: ORIGINAL_ID,
      originalSubject: 'Server down',
      queueId: 'MWR1A7A46E317A06',
      setupId: 'alerts',
      mode: 'failures',
      outcomes: [
        { recipient: '+4520123456', status: 'delivered', at: AT },
        { recipient: '+4520123457', status: 'failed', reason: 'number unreachable', at: AT + 3000 },
      ],
    });
    expect(report).not.toBeNull();
    const result = await relay.send(report!);
    expect(result).toMatchObject({ ok: true });

    const { received, mail } = await lastMail(sink);
    // The wire, not just nodemailer's intent: the command the relay read.
    expect(sink.commands).toContain('MAIL FROM:<>');
    expect(received.mailFrom).toBe('');
    expect(received.rcptTo).toEqual(['ops@example.test']);
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail.headers.get('x-mail2sms-notification')).toBe('report');
    expect(mail.inReplyTo).toBe(ORIGINAL_ID);
    expect(mail.references).toBe(ORIGINAL_ID);
    expect(mail.subject).toBe('SMS report: Server down');
    // Ours, in the relay's from domain; nodemailer would say @localhost for a null sender.
    expect(mail.messageId).toMatch(/^<[0-9a-f-]{36}@gw\.example\.test>$/);
    expect(mail.from?.value[0]?.address).toBe('mail2sms@gw.example.test');
    expect(mail.messageId).toBe(result.ok ? result.messageId : undefined);
    expect(mail.text).toContain('+4520123457  failed');
    expect(mail.text).toContain('number unreachable');
  });

  it('sends a reply forward from our address, threaded, as auto-replied', async () => {
    const forward = buildReplyForward({ inboundId: 1, token: 'c0ffee', host: 'mail2sms.example.test', replyTo: '+4520123456@sms.example.test', 
      to: 'ops@example.test',
      from: '+4520123456',
      text: 'On my way, 10 minutes',
      receivedAt: AT,
      originalMessageId: ORIGINAL_ID,
      originalReferences: ['<root@erp.example.test>'],
      originalSubject: 'Re: Server down',
      queueId: 'MWR1A7A46E317A06',
    });
    expect(await relay.send(forward)).toMatchObject({ ok: true });

    const { received, mail } = await lastMail(sink);
    expect(sink.commands).toContain('MAIL FROM:<mail2sms@gw.example.test>');
    expect(received.mailFrom).toBe('mail2sms@gw.example.test');
    expect(mail.headers.get('auto-submitted')).toBe('auto-replied');
    expect(mail.headers.get('x-mail2sms-notification')).toBe('reply');
    expect(mail.inReplyTo).toBe(ORIGINAL_ID);
    expect(mail.references).toEqual(['<root@erp.example.test>', ORIGINAL_ID]);
    expect(mail.subject).toBe('Re: Server down');
    expect(mail.from?.value[0]).toEqual({ name: 'SMS from +4520123456', address: 'mail2sms@gw.example.test' });
    expect(mail.text).toContain('On my way, 10 minutes');
  });

  it('forwards postmaster mail with the original attached as message/rfc822', async () => {
    const original = Buffer.from(
      'From: someone@remote.test\r\nTo: postmaster@sms.example.test\r\nSubject: Your server\r\nMessage-ID: <pm-1@remote.test>\r\n\r\nHello postmaster.\r\n',
    );
    const forward = buildPostmasterForward({
      admin: 'admin@example.test',
      envelopeFrom: 'someone@remote.test',
      rcpt: ['postmaster@sms.example.test'],
      clientIp: '192.0.2.7',
      raw: original,
      receivedAt: AT,
      originalSubject: 'Your server',
    });
    expect(await relay.send(forward)).toMatchObject({ ok: true });

    const { received, mail } = await lastMail(sink);
    expect(received.rcptTo).toEqual(['admin@example.test']);
    expect(mail.headers.get('x-mail2sms-notification')).toBe('postmaster');
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail.text).toContain('<someone@remote.test>');
    expect(mail.text).toContain('192.0.2.7');
    const attachment = mail.attachments.find((a) => a.contentType === 'message/rfc822');
    expect(attachment).toBeDefined();
    // Unchanged, byte for byte: the admin reads what was actually sent.
    expect(attachment!.content.toString('utf8')).toBe(original.toString('utf8'));
  });

  it('a caller cannot drop or fake the loop-protection headers', async () => {
    const report = buildReport({
      to: 'ops@example.test', queueId: 'Q1', setupId: 'alerts', mode: 'all',
      outcomes: [{ recipient: '+4520123456', status: 'sent' }],
    })!;
    report.headers = { ...report.headers, 'auto-submitted': 'no', 'X-MAIL2SMS-NOTIFICATION': 'none', 'X-Extra': 'kept' };
    expect(await relay.send(report)).toMatchObject({ ok: true });
    const { mail } = await lastMail(sink);
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail.headers.get('x-mail2sms-notification')).toBe('report');
    expect(mail.headers.get('x-extra')).toBe('kept');
  });

  it('a 5xx for the recipient is permanent, and nothing throws', async () => {
    const forward = buildReplyForward({ inboundId: 1, token: 'c0ffee', host: 'mail2sms.example.test', replyTo: '+4520123456@sms.example.test',  to: REFUSED, from: '+4520123456', text: 'hi', receivedAt: AT, queueId: 'Q2' });
    const before = sink.received.length;
    const result = await relay.send(forward);
    expect(result).toMatchObject({ ok: false, temporary: false });
    expect(result.ok ? '' : result.reason).toContain('550');
    expect(sink.received.length).toBe(before);
    // The pool carries on after a refusal.
    expect(await relay.send({ ...forward, to: 'ops@example.test' })).toMatchObject({ ok: true });
  });

  it('opportunistic STARTTLS upgrades when offered, even to a certificate that does not verify (RFC 7435)', async () => {
    const tlsSink = await startSink({ disabledCommands: ['AUTH'] });
    const own = createRelay(relayConfig(tlsSink.port, { starttls: 'opportunistic' }), { logger: logs.logger });
    const result = await own.send(buildReplyForward({ inboundId: 1, token: 'c0ffee', host: 'mail2sms.example.test', replyTo: '+4520123456@sms.example.test',  to: 'ops@example.test', from: '+4520123456', text: 'hi', receivedAt: AT, queueId: 'Q6' }));
    await own.close();
    await tlsSink.close();
    expect(result).toMatchObject({ ok: true });
    expect(tlsSink.commands).toContain('STARTTLS');
    expect(tlsSink.received[0]?.secure).toBe(true);
  });

  it('after close, sends fail as temporary instead of throwing', async () => {
    const own = createRelay(relayConfig(sink.port), { logger: logs.logger });
    await own.close();
    const result = await own.send(buildReplyForward({ inboundId: 1, token: 'c0ffee', host: 'mail2sms.example.test', replyTo: '+4520123456@sms.example.test',  to: 'ops@example.test', from: '+4520123456', text: 'hi', receivedAt: AT, queueId: 'Q3' }));
    expect(result).toMatchObject({ ok: false, temporary: true });
  });
});

describe('relay trouble is temporary', () => {
  const mail = () => buildReplyForward({ inboundId: 1, token: 'c0ffee', host: 'mail2sms.example.test', replyTo: '+4520123456@sms.example.test',  to: 'ops@example.test', from: '+4520123456', text: 'hi', receivedAt: AT, queueId: 'Q4' });

  it('a relay that is down (closed port)', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    const { logger } = captureLogs();
    const relay = createRelay(relayConfig(port), { logger });
    const result = await relay.send(mail());
    await relay.close();
    expect(result).toMatchObject({ ok: false, temporary: true });
    expect(result.ok ? '' : result.reason).toMatch(/ECONNREFUSED/);
  });

  it('a relay that accepts the connection but never greets (greeting timeout)', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { logger } = captureLogs();
    const relay = createRelay(relayConfig((silent.address() as AddressInfo).port, { timeout: 300 }), { logger });
    const started = Date.now();
    const result = await relay.send(mail());
    await relay.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    expect(result).toMatchObject({ ok: false, temporary: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('starttls: require with a certificate that does not verify sends nothing', async () => {
    // smtp-server's built-in self-signed certificate.
    const sink = await startSink({ disabledCommands: ['AUTH'] });
    const { logger } = captureLogs();
    const relay = createRelay(relayConfig(sink.port, { starttls: 'require' }), { logger });
    const result = await relay.send(mail());
    await relay.close();
    await sink.close();
    expect(result).toMatchObject({ ok: false, temporary: true });
    expect(result.ok ? '' : result.reason).toMatch(/certificate/i);
    expect(sink.received).toHaveLength(0);
  });

  it('starttls: require against a relay without STARTTLS sends nothing in clear', async () => {
    const sink = await startSink();
    const { logger } = captureLogs();
    const relay = createRelay(relayConfig(sink.port, { starttls: 'require' }), { logger });
    const result = await relay.send(mail());
    await relay.close();
    await sink.close();
    expect(result).toMatchObject({ ok: false, temporary: true });
    expect(sink.received).toHaveLength(0);
  });
});

describe('relay AUTH', () => {
  const PASSWORD = 'relay-secret-Zq7!x';
  let sink: Sink;

  beforeAll(async () => {
    sink = await startSink({
      disabledCommands: ['STARTTLS'],
      authOptional: false,
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.username === 'mail2sms' && auth.password === PASSWORD) return callback(null, { user: auth.username });
        callback(new Error('Invalid username or password'));
      },
    });
  });
  afterAll(async () => {
    await sink?.close();
  });

  const mail = () => buildReplyForward({ inboundId: 1, token: 'c0ffee', host: 'mail2sms.example.test', replyTo: '+4520123456@sms.example.test',  to: 'ops@example.test', from: '+4520123456', text: 'hi', receivedAt: AT, queueId: 'Q5' });

  it('logs in, and a wrong password is temporary (our config, not the mail); the password is never logged', async () => {
    const logs = captureLogs();
    const good = createRelay(relayConfig(sink.port, { auth: { user: 'mail2sms', pass: PASSWORD } }), { logger: logs.logger });
    expect(await good.send(mail())).toMatchObject({ ok: true });
    await good.close();

    const bad = createRelay(relayConfig(sink.port, { auth: { user: 'mail2sms', pass: `${PASSWORD}-wrong` } }), { logger: logs.logger });
    const result = await bad.send(mail());
    await bad.close();
    expect(result).toMatchObject({ ok: false, temporary: true });

    expect(logs.lines.length).toBeGreaterThanOrEqual(2);
    const all = logs.lines.join('\n');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(Buffer.from(PASSWORD).toString('base64'));
  });
});
