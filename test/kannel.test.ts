import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKannelProviderSchema, type KannelProviderConfig } from '../src/config/provider-kannel.js';
import { createManualClock } from '../src/core/clock.js';
import { createKannelProvider, type KannelProvider } from '../src/providers/kannel/index.js';
import type { InboundSms, SendResult } from '../src/providers/types.js';
import type { Receipt } from '../src/ledger/types.js';
import { startKannelPeer, type KannelPeer } from './kannel-peer.js';

/*
 * The kannel adapter against a real Kannel 1.4.5 (Debian's bearerbox, smsbox
 * and fakesmsc; test/kannel-peer.ts starts them): sendsms out, the dlr-url and
 * an sms-service get-url back to a receiver that hands them to the adapter
 * as the daemon's /receipts/<name> and /inbound/<name> routes will.
 *
 * Kannel's interfaces: https://www.kannel.org/download/1.4.5/userguide-1.4.5/userguide.html
 * ("Sending SMS" for sendsms and its answers, "Delivery reports" for dlr-url
 * and %d, "SMS-service configurations" for get-url and its % escapes).
 */

const TOKEN = 'kannel-test-token-0123456789abcdef-XYZ';
const USER = 'mail2sms';
const PASSWORD = 'kannel-test-password';
const NAME = 'office';

interface Heard {
  receipts: Receipt[];
  progress: string[];
  inbound: InboundSms[];
  refused: { path: string; status: number; reason: string }[];
}

let receiver: Server;
let base: string;
let peer: KannelPeer;
let provider: KannelProvider;
const heard: Heard = { receipts: [], progress: [], inbound: [], refused: [] };
const clock = createManualClock();

function kannelConfig(over: Record<string, unknown> = {}): KannelProviderConfig {
  // smsc: the fake SMSC takes only SMS routed to it by name (allowed-smsc-id), as a production SMSC group should.
  return createKannelProviderSchema({}).parse({ type: 'kannel', url: peer.sendsmsUrl, username: USER, password: PASSWORD, smsc: 'fake', callback: { token: TOKEN }, ...over });
}

/** What the daemon's GET /receipts/<name> and /inbound/<name> will do: source, then token and fields, then the ledger (here: a list). */
function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://receiver');
  const query = url.search.slice(1);
  const answer = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (!provider.acceptsSource(req.socket.remoteAddress)) return answer(403, { error: 'source not allowed' });
  if (req.method === 'GET' && url.pathname === `/receipts/${NAME}`) {
    const parsed = provider.parseReceipt(req.headers, query, clock.now());
    if (!parsed.ok) {
      heard.refused.push({ path: url.pathname, status: parsed.status, reason: parsed.reason });
      return answer(parsed.status, { error: parsed.reason });
    }
    if ('progress' in parsed) heard.progress.push(parsed.progress.providerMessageId);
    else heard.receipts.push(parsed.receipt);
    return answer(200, { outcome: 'applied' });
  }
  if (req.method === 'GET' && url.pathname === `/inbound/${NAME}`) {
    const parsed = provider.parseInbound(req.headers, query, clock.now());
    if (!parsed.ok) {
      heard.refused.push({ path: url.pathname, status: parsed.status, reason: parsed.reason });
      return answer(parsed.status, { error: parsed.reason });
    }
    heard.inbound.push(parsed.inbound);
    // The daemon's answer: Kannel must not turn it into a reply SMS (max-messages = 0 in the sms-service).
    return answer(200, { id: 1, action: 'opt_out', duplicate: false });
  }
  answer(404, { error: 'not found' });
}

async function eventually<T>(what: string, find: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${JSON.stringify(heard)}\n${peer.logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

let smsCount = 0;
function sms(to: string, text: string, from = 'Example') {
  smsCount++;
  return { to, from, text, idempotencyKey: `MKANNEL${smsCount}.0`, callbackUrl: `${base}/receipts/${NAME}` };
}

const timings: Record<string, number> = {};

beforeAll(async () => {
  receiver = createServer(handle);
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const started = performance.now();
  peer = await startKannelPeer({ inboundUrl: `${base}/inbound/${NAME}`, username: USER, password: PASSWORD, token: TOKEN });
  timings.kannelStartMs = Math.round(performance.now() - started);
  provider = createKannelProvider(kannelConfig(), { clock, maxSockets: 4, name: NAME });
});

afterAll(async () => {
  provider?.close();
  await peer?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  console.log(`kannel timings (ms): ${JSON.stringify(timings)}`);
});

describe('kannel: sending through smsbox', () => {
  it('an SMS reaches the SMSC under our id, and its delivery report comes back as delivered', async () => {
    const out = sms('+4520123456', 'Alarm: pump 3 stopped');
    const started = performance.now();
    const result = await provider.send(out);
    timings.sendsmsMs = Math.round(performance.now() - started);
    expect(result).toEqual({ ok: true, providerMessageId: out.idempotencyKey });

    const atSmsc = await peer.waitForSms((m) => m.text === out.text);
    expect(atSmsc).toMatchObject({ from: 'Example', to: '+4520123456', type: 'text' });
    const receipt = await eventually('delivered receipt', () => heard.receipts.find((r) => r.providerMessageId === out.idempotencyKey));
    timings.sendToReceiptMs = Math.round(performance.now() - started);
    expect(receipt).toMatchObject({ providerMessageId: out.idempotencyKey, status: 'delivered' });
    // dlr-mask 31 also reports "accepted by the SMSC" (8): acknowledged as progress, settling nothing.
    await eventually('SMSC-accepted progress report', () => heard.progress.find((id) => id === out.idempotencyKey));
  });

  it('a text GSM-7 cannot carry goes out as UCS-2 and arrives intact', async () => {
    const out = sms('+4520123456', 'Æbler ☃ i dag');
    expect(await provider.send(out)).toMatchObject({ ok: true });
    const atSmsc = await peer.waitForSms((m) => m.text === out.text);
    expect(atSmsc.type).toBe('ucs-2');
  });

  it('POST (text/plain body, X-Kannel-* headers) is taken as well, delivery report included', async () => {
    const post = createKannelProvider(kannelConfig({ method: 'POST' }), { clock, maxSockets: 1, name: NAME });
    try {
      // UCS-2, so fakesmsc prints it url-encoded: a GSM-7 text goes to it raw, and its line protocol cuts at the line break.
      const out = sms('+4520123457', 'Line one\nline two: Æbler ☃');
      expect(await post.send(out)).toEqual({ ok: true, providerMessageId: out.idempotencyKey });
      expect(await peer.waitForSms((m) => m.to === '+4520123457')).toMatchObject({ text: out.text });
      await eventually('delivered receipt', () => heard.receipts.find((r) => r.providerMessageId === out.idempotencyKey && r.status === 'delivered'));
    } finally {
      post.close();
    }
  });

  it('a wrong password is Kannel\'s 403 "Authorization failed": permanent, never sent', async () => {
    const wrong = createKannelProvider(kannelConfig({ password: 'not-the-password' }), { clock, maxSockets: 1 });
    try {
      const result = await wrong.send(sms('+4520123458', 'never'));
      expect(result).toMatchObject({ ok: false, temporary: false });
      expect((result as { reason: string }).reason).toContain('Authorization failed for sendsms');
    } finally {
      wrong.close();
    }
  });

  it('an smsc-id no SMSC takes (allowed-smsc-id) is Kannel\'s 403 "Not routable. Do not try again.": permanent', async () => {
    const lost = createKannelProvider(kannelConfig({ smsc: 'nowhere' }), { clock, maxSockets: 1 });
    try {
      const result = await lost.send(sms('+4520123459', 'no route'));
      expect(result).toMatchObject({ ok: false, temporary: false });
      expect((result as { reason: string }).reason).toContain('Not routable');
    } finally {
      lost.close();
    }
  });

  it('a long SMS goes out in concatenated parts, reported under the one id without a part number', async () => {
    const out = sms('+4520123460', `Long alarm: ${'pump 3 pressure low; '.repeat(9)}`.trim());
    expect(await provider.send(out)).toMatchObject({ ok: true });
    await eventually('delivered report', () => heard.receipts.find((r) => r.providerMessageId === out.idempotencyKey));
    expect(peer.received.filter((m) => m.to === '+4520123460').map((m) => m.type)).toEqual(['udh', 'udh']);
    expect(heard.receipts.filter((r) => r.providerMessageId === out.idempotencyKey).map((r) => [r.status, r.part])).toEqual([['delivered', undefined]]);
  });

  it('a recipient with a space (Kannel would read two numbers) is refused before the call', async () => {
    expect(await provider.send(sms('+4520123456 4520999999', 'x'))).toMatchObject({ ok: false, temporary: false });
  });
});

describe('kannel: inbound SMS through an sms-service get-url', () => {
  it('STOP from a phone arrives as an inbound SMS from its E.164 number, and Kannel sends nothing back', async () => {
    const started = performance.now();
    await peer.injectMo('4520123456', '1234', 'STOP');
    const inbound = await eventually('inbound STOP', () => heard.inbound.find((m) => m.text === 'STOP'));
    timings.moInjectToInboundMs = Math.round(performance.now() - started);
    expect(inbound).toMatchObject({ from: '+4520123456', to: '1234', text: 'STOP' });
    expect(inbound.providerId).toMatch(/^[0-9a-f-]{36}$/);
    // Our JSON answer was not sent to the phone as a reply (max-messages = 0): the next SMS the SMSC sees is this one.
    const after = sms('+4520123456', 'after STOP');
    await provider.send(after);
    await peer.waitForSms((m) => m.text === after.text);
    expect(peer.received.filter((m) => m.text.includes('opt_out'))).toEqual([]);
  });

  it('a UCS-2 SMS with a line break arrives intact (%b keeps what %a would collapse)', async () => {
    await peer.injectMo('4520123456', '1234', 'Æbler\n☃ i dag');
    const inbound = await eventually('inbound UCS-2', () => heard.inbound.find((m) => m.text.startsWith('Æbler')));
    expect(inbound.text).toBe('Æbler\n☃ i dag');
  });
});

describe('kannel: callbacks that did not come from our Kannel', () => {
  it('a receipt or inbound SMS without the token, or with a wrong one, gets 403 and is recorded nowhere', async () => {
    const before = { receipts: heard.receipts.length, inbound: heard.inbound.length };
    const forged = [
      `/receipts/${NAME}?id=MKANNEL1.0&type=2&answer=`,
      `/receipts/${NAME}?id=MKANNEL1.0&type=2&answer=&token=`,
      `/receipts/${NAME}?id=MKANNEL1.0&type=2&answer=&token=${TOKEN.slice(0, -1)}X`,
      `/receipts/${NAME}?id=MKANNEL1.0&type=2&answer=&token=${TOKEN}x`,
      `/inbound/${NAME}?from=4520123456&to=1234&text=START&id=forged&token=wrong-token`,
      `/inbound/${NAME}?from=4520123456&to=1234&text=START&id=forged`,
    ];
    expect(await Promise.all(forged.map(get))).toEqual(forged.map(() => 403));
    expect({ receipts: heard.receipts.length, inbound: heard.inbound.length }).toEqual(before);
    expect(heard.refused.slice(-6).map((r) => r.reason)).toEqual(['missing', 'missing', 'bad_token', 'bad_token', 'bad_token', 'missing']);
  });
});

describe('kannel: down', () => {
  it('with bearerbox stopped smsbox goes too: connection refused, a temporary failure that certainly sent nothing', async () => {
    await peer.stopBearerbox();
    const result: SendResult = await provider.send(sms('+4520123456', 'nobody home'));
    expect(result).toMatchObject({ ok: false, temporary: true });
    expect(result).not.toHaveProperty('unknown');
    expect((result as { reason: string }).reason).toContain('ECONNREFUSED');
  });
});
