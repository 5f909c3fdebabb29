import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createKannelProviderSchema } from '../src/config/provider-kannel.js';
import { createManualClock } from '../src/core/clock.js';
import { createHttpApi, RECEIPTS_PATH, type HttpApi } from '../src/http/server.js';
import { createKannelProvider, KANNEL_DLR_TYPES } from '../src/providers/kannel/index.js';
import { classifySendsmsAnswer } from '../src/providers/kannel/send.js';
import { outcomeOfDlr } from '../src/providers/kannel/status.js';
import { intakeMessage, openTestLedger, quietLogger, type TestLedger } from './ledger-fixture.js';

/*
 * The kannel adapter's callbacks and config without a Kannel: what a delivery
 * report's %d and the SMSC's answer mean, how an inbound text is decoded in the
 * charset Kannel names, who may call, and which tokens the config refuses.
 * test/kannel.test.ts runs the same adapter against a real Kannel.
 */

const TOKEN = 'unit-test-token-0123456789abcdefghij';
const clock = createManualClock();

function provider(over: Record<string, unknown> = {}) {
  const config = createKannelProviderSchema({}).parse({
    type: 'kannel', url: 'http://127.0.0.1:1/cgi-bin/sendsms', username: 'u', password: 'p', callback: { token: TOKEN }, ...over,
  });
  return createKannelProvider(config, { clock, maxSockets: 1 });
}

describe('kannel delivery reports', () => {
  // One row per %d Kannel sends (some SMSC drivers combine bits), with the SMSC's answer text (%A).
  const cases: [type: number, answer: string, ours: string | undefined][] = [
    [1, '', 'delivered'],
    [2, '', 'failed'],
    [2, 'id:77 sub:001 dlvrd:000 submit date:2601011200 done date:2601021200 stat:EXPIRED err:000 text:', 'expired'],
    [2, 'id:77 sub:001 dlvrd:000 stat:UNDELIV err:034 text:', 'failed'],
    [16, 'NACK/0x0000000b/Invalid Destination Address', 'rejected'],
    [16, 'id:77 stat:REJECTD err:011', 'rejected'],
    [8, 'ACK/', 'sent'],
    [4, '', 'sent'],
    [9, 'ACK/', 'delivered'],
    [18, '', 'failed'],
    [12, '', 'sent'],
    [0, '', undefined],
    [32, '', undefined],
  ];
  it.each(cases)('%d with answer "%s" is %s', (type, answer, ours) => {
    expect(outcomeOfDlr(type, answer)).toBe(ours);
  });

  it('the table the docs print names every bit dlr-mask can ask for', () => {
    expect(KANNEL_DLR_TYPES.map((t) => t.bit).sort((a, b) => a - b)).toEqual([1, 2, 4, 8, 16]);
  });

  it('a report carries our id, the SMSC error code and Kannel\'s time', () => {
    const answer = encodeURIComponent('id:77 stat:UNDELIV err:034');
    const parsed = provider().parseReceipt({}, `id=Q1.0&type=2&answer=${answer}&ts=1767268800&token=${TOKEN}`, clock.now());
    expect(parsed).toMatchObject({ ok: true, receipt: { providerMessageId: 'Q1.0', status: 'failed', errorCode: '034', providerTimestamp: 1767268800_000 } });
  });

  it('"accepted by the SMSC" is progress, not a receipt', () => {
    expect(provider().parseReceipt({}, `id=Q1.0&type=8&answer=ACK%2F&ts=1&token=${TOKEN}`, clock.now())).toEqual({ ok: true, progress: { providerMessageId: 'Q1.0', detail: 'kannel DLR 8: ACK/' } });
  });

  it('a report without our id or type is 400; a type we do not know is 400', () => {
    expect(provider().parseReceipt({}, `type=1&token=${TOKEN}`, 0)).toMatchObject({ ok: false, status: 400 });
    expect(provider().parseReceipt({}, `id=Q1.0&type=%d&token=${TOKEN}`, 0)).toMatchObject({ ok: false, status: 400 });
    expect(provider().parseReceipt({}, `id=Q1.0&type=64&token=${TOKEN}`, 0)).toMatchObject({ ok: false, status: 400 });
  });
});

describe('kannel inbound SMS', () => {
  it('UCS-2 left as is (mo-recode off): %b is UTF-16BE bytes and %C says so', () => {
    const text = [...Buffer.from('Æbler\n☃', 'utf16le').swap16()].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    const parsed = provider().parseInbound({}, `from=%2B4520123456&to=1234&text=${text}&charset=UTF-16BE&coding=2&id=u-1&ts=1767268800&token=${TOKEN}`, 5);
    expect(parsed).toEqual({ ok: true, inbound: { providerId: 'u-1', from: '+4520123456', to: '1234', text: 'Æbler\n☃', receivedAt: 1767268800_000 } });
  });

  it('a + in %b is a space, %2B a plus; without %T the time is ours', () => {
    const parsed = provider().parseInbound({}, `from=4520123456&to=1234&text=1+%2B+1&charset=UTF-8&coding=0&id=u-2&token=${TOKEN}`, 42);
    expect(parsed).toMatchObject({ ok: true, inbound: { text: '1 + 1', receivedAt: 42 } });
  });

  it('a national sender cannot be told from an international one (20123456 reads as +20123456): Kannel must add the country (unified-prefix)', () => {
    expect(provider().parseInbound({}, `from=20123456&to=1234&text=STOP&id=u-3&token=${TOKEN}`, 0)).toMatchObject({ ok: true });
    expect(provider().parseInbound({}, `from=123&to=1234&text=STOP&id=u-3&token=${TOKEN}`, 0)).toMatchObject({ ok: false, status: 400 });
  });
});

describe('kannel callback senders', () => {
  it('allow_from: only those networks may call; without it, anyone with the token', () => {
    const held = provider({ allow_from: ['192.0.2.10', '10.0.0.0/8', '::1'] });
    expect(['192.0.2.10', '::ffff:10.1.2.3', '::1', '192.0.2.11', '127.0.0.1', undefined].map((ip) => held.acceptsSource(ip))).toEqual([true, true, true, false, false, false]);
    expect(provider().acceptsSource('203.0.113.9')).toBe(true);
  });

  it('the config refuses a short or URL-unsafe token, and names the rule', () => {
    const schema = createKannelProviderSchema({ SHORT: 'abc' });
    const base = { type: 'kannel', url: 'http://127.0.0.1:13013/cgi-bin/sendsms', username: 'u', password: 'p' };
    for (const token of ['${SHORT}', 'x'.repeat(31), `${'x'.repeat(32)}&y=1`, `${'x'.repeat(32)}%d`]) {
      const result = schema.safeParse({ ...base, callback: { token } });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.message).toContain('32 or more');
    }
    expect(schema.safeParse({ ...base, callback: { token: 'x'.repeat(32) } }).success).toBe(true);
  });
});

describe('the receipts route with a progress report', () => {
  let t: TestLedger | undefined;
  let api: HttpApi | undefined;
  afterEach(async () => {
    await api?.stop();
    await t?.close();
  });

  it('answers 200 "progress" and leaves the row as it was; the delivered report after it applies', async () => {
    t = openTestLedger(clock, { bookkeepingDelayMs: 0 });
    const kannel = provider();
    api = createHttpApi({ listen: { host: '127.0.0.1', port: 0 }, ledger: t.ledger, provider: kannel, logger: quietLogger(), clock });
    const port = await api.start();
    const { queueId } = await t.ledger.acceptMessage(intakeMessage(['+4520123456']));
    const [claimed] = await t.ledger.claimDue(1, 60_000);
    await t.ledger.recordSent(claimed!.outboxId, `${queueId}.0`, 1);
    const post = (body: string) =>
      new Promise<[number, string]>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: RECEIPTS_PATH, method: 'POST' }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve([res.statusCode ?? 0, text]));
        });
        req.on('error', reject);
        req.end(body);
      });
    expect(await post(`id=${queueId}.0&type=8&answer=ACK%2F&ts=1&token=${TOKEN}`)).toEqual([200, '{"outcome":"progress"}']);
    expect(await post(`id=${queueId}.0&type=1&answer=&ts=2&token=${TOKEN}`)).toEqual([200, '{"outcome":"applied"}']);
    expect(await post(`id=${queueId}.0&type=1&answer=&ts=2&token=bad-${TOKEN}`)).toEqual([403, '{"error":"bad_token"}']);
  });
});

describe('docs/providers/kannel.md', () => {
  it('prints the status table the code uses, one row per DLR bit', () => {
    const page = readFileSync('docs/providers/kannel.md', 'utf8');
    const rows = page.split('\n').filter((line) => /^\| \d+ \|/.test(line));
    expect(rows).toEqual(KANNEL_DLR_TYPES.map((t) => `| ${t.bit} | ${t.kannel} | ${t.ours} | ${t.meaning} |`));
  });
});

describe('smsbox answers', () => {
  const answer = (status: number, body: string, headers: Record<string, string> = {}) => classifySendsmsAnswer({ status, headers, body }, 'Q1.0', clock.now());
  const cases: [status: number, body: string, expected: Record<string, unknown>][] = [
    [202, '0: Accepted for delivery', { ok: true, providerMessageId: 'Q1.0' }],
    [202, '3: Queued for later delivery', { ok: true, providerMessageId: 'Q1.0' }],
    [202, 'Sent. Message splits: 2', { ok: true, providerMessageId: 'Q1.0', parts: 2 }],
    [200, '<html>proxy login</html>', { ok: false, temporary: true, unknown: true }],
    [403, 'Authorization failed for sendsms', { ok: false, temporary: false }],
    [403, 'Not routable. Do not try again.', { ok: false, temporary: false }],
    [400, 'Missing receiver number, rejected', { ok: false, temporary: false }],
    [500, 'Sending failed.', { ok: false, temporary: true }],
    [503, 'Temporal failure, try again later.', { ok: false, temporary: true }],
  ];
  it.each(cases)('%d "%s"', (status, body, expected) => {
    expect(answer(status, body)).toMatchObject(expected);
  });

  it('no answer after the request was written is unknown: Kannel may have queued it', async () => {
    const silent = createTcpServer(() => {}); // takes the request, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const kannel = provider({ url: `http://127.0.0.1:${port}/cgi-bin/sendsms`, timeout: '300ms' });
    try {
      const result = await kannel.send({ to: '+4520123456', from: 'Example', text: 'x', idempotencyKey: 'Q1.0', callbackUrl: 'http://127.0.0.1:1/receipts/office' });
      expect(result).toMatchObject({ ok: false, temporary: true, unknown: true });
      expect(kannel.idempotent).toBe(false);
    } finally {
      kannel.close();
      silent.close();
    }
  });
});
