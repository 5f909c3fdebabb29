import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProviderSimulator, type ProviderSimulator, type SimulatedSms } from '../src/simulator/server.js';
import { createSimulatorProvider } from '../src/providers/simulator-client.js';
import { SIGNATURE_HEADER, signBody, verifySignature } from '../src/core/signing.js';
import type { SmsProvider } from '../src/providers/types.js';
import { systemClock } from '../src/core/clock.js';
import { splitSms } from '../src/message/encoding.js';
import { waitFor } from './helpers.js';
import { quietLogger, startTestServer, type TestServer } from './provider-helpers.js';

/*
 * The provider simulator over real HTTP, spoken to by its adapter: parts and
 * per-part receipts, fault injection, inbound SMS, and the send classification.
 */

const SECRET = 'simulator-test-secret-0123456789';
let sim: ProviderSimulator;
let simUrl: string;
let daemon: TestServer; // stands in for the daemon's /receipts and /inbound
let provider: SmsProvider;
let seq = 0;

beforeAll(async () => {
  daemon = await startTestServer((request, res) => {
    const status = request.path === '/inbound' ? 202 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ got: request.path }));
  });
  sim = createProviderSimulator({
    listen: { host: '127.0.0.1', port: 0 },
    secret: SECRET,
    receiptDelayMs: 5,
    logger: quietLogger(),
    inboundUrl: () => `${daemon.url}/inbound`,
  });
  simUrl = (await sim.start()).url;
  provider = createSimulatorProvider({ baseUrl: simUrl, secret: SECRET, timeoutMs: 2000, maxSockets: 4, clock: systemClock });
});
afterAll(async () => {
  provider?.close();
  await sim?.stop();
  await daemon?.close();
});
afterEach(async () => {
  await fetch(`${simUrl}/faults`, { method: 'DELETE' });
});

const sms = (to: string, text = 'hello') => ({
  to,
  from: 'Example',
  text,
  idempotencyKey: `key-${++seq}`,
  callbackUrl: `${daemon.url}/receipts`,
});
const putFaults = (faults: unknown) =>
  fetch(`${simUrl}/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });
const messages = async () => (await (await fetch(`${simUrl}/messages`)).json()) as SimulatedSms[];
const receiptsFor = (id: string) => daemon.received.filter((r) => r.path === '/receipts' && (JSON.parse(r.body) as { id: string }).id === id);

describe('sends and per-part receipts', () => {
  it('answers {id, parts} and posts one signed receipt per part, which the adapter verifies and parses', async () => {
    const text = 'x'.repeat(200) + ' two parts';
    expect(splitSms(text)).toHaveLength(2);
    const result = await provider.send(sms('+4520000001', text));
    expect(result).toMatchObject({ ok: true, parts: 2 });
    const id = (result as { providerMessageId: string }).providerMessageId;
    const posted = await waitFor(() => (receiptsFor(id).length === 2 ? receiptsFor(id) : undefined), 'two receipts');
    const parsed = posted.map((r) => provider.parseReceipt(r.headers, r.body, Date.now()));
    expect(parsed.map((p) => p.ok && 'receipt' in p && { ...p.receipt, rawBody: undefined, providerTimestamp: typeof p.receipt.providerTimestamp })).toEqual([
      { providerMessageId: id, status: 'delivered', part: 1, parts: 2, providerTimestamp: 'number', rawBody: undefined },
      { providerMessageId: id, status: 'delivered', part: 2, parts: 2, providerTimestamp: 'number', rawBody: undefined },
    ]);
    expect(verifySignature(SECRET, posted[0]!.body, posted[0]!.headers[SIGNATURE_HEADER], Date.now())).toEqual({ ok: true });
  });

  it('the same receipt is refused later as a replay (too_old) and with a changed body (bad_signature)', async () => {
    const result = await provider.send(sms('+4520000002'));
    const id = (result as { providerMessageId: string }).providerMessageId;
    const [receipt] = await waitFor(() => (receiptsFor(id).length === 1 ? receiptsFor(id) : undefined), 'the receipt');
    expect(provider.parseReceipt(receipt!.headers, receipt!.body, Date.now() + 10 * 60_000)).toEqual({ ok: false, status: 403, reason: 'too_old' });
    const forged = receipt!.body.replace('delivered', 'failed');
    expect(provider.parseReceipt(receipt!.headers, forged, Date.now())).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
  });

  it('a repeated idempotency key gets the first id and counts a duplicate', async () => {
    const once = sms('+4520000003');
    const first = await provider.send(once);
    const second = await provider.send(once);
    expect(second).toEqual(first);
    expect(((await (await fetch(`${simUrl}/stats`)).json()) as { duplicates: number }).duplicates).toBe(1);
  });

  it('logs every accepted send with its arrival time in ms', async () => {
    const before = Date.now();
    const result = await provider.send(sms('+4520000004'));
    const id = (result as { providerMessageId: string }).providerMessageId;
    const entry = (await messages()).find((m) => m.id === id);
    expect(entry?.received_at_ms).toBeGreaterThanOrEqual(before);
    expect(entry?.received_at).toBe(new Date(entry?.received_at_ms ?? 0).toISOString());
  });

  it('receipts say failed / expired / rejected with an error code for numbers told so', async () => {
    await putFaults({ fail_delivery_for: ['+4520000010'], expire_delivery_for: ['+4520000011'], reject_delivery_for: ['+4520000012'] });
    const outcomes: [string, string][] = [];
    for (const to of ['+4520000010', '+4520000011', '+4520000012']) {
      const id = ((await provider.send(sms(to))) as { providerMessageId: string }).providerMessageId;
      const [receipt] = await waitFor(() => (receiptsFor(id).length ? receiptsFor(id) : undefined), 'the receipt');
      const parsed = provider.parseReceipt(receipt!.headers, receipt!.body, Date.now());
      if (parsed.ok && 'receipt' in parsed) outcomes.push([parsed.receipt.status, parsed.receipt.errorCode ?? '']);
    }
    expect(outcomes).toEqual([['failed', 'UNDELIVERABLE'], ['expired', 'EXPIRED'], ['rejected', 'REJECTED']]);
  });
});

describe('fault injection (PUT/GET/DELETE /faults)', () => {
  it('shows, validates and clears the faults', async () => {
    expect((await putFaults({ error_rate: 0.5, seed: 7 })).status).toBe(200);
    expect(await (await fetch(`${simUrl}/faults`)).json()).toEqual({ error_rate: 0.5, seed: 7 });
    const bad = await putFaults({ error_rate: 2 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^error_rate:/);
    expect((await putFaults({ eror_rate: 1 })).status).toBe(400);
    // curl -d 'error_rate=1' (a form, not JSON): the answer says what is wrong with the body itself.
    const notJson = await fetch(`${simUrl}/faults`, { method: 'PUT', body: 'error_rate=1' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toBe('body is not JSON (send an object such as {"error_rate": 0.1}): "error_rate=1"');
    await fetch(`${simUrl}/faults`, { method: 'DELETE' });
    expect(await (await fetch(`${simUrl}/faults`)).json()).toEqual({});
  });

  it('429 with Retry-After is temporary with retryAfterMs', async () => {
    await putFaults({ rate_429: 1, retry_after_s: 7 });
    expect(await provider.send(sms('+4520000020'))).toMatchObject({ ok: false, temporary: true, retryAfterMs: 7000, reason: expect.stringMatching(/^HTTP 429/) });
  });

  it('error_rate answers 503: temporary', async () => {
    await putFaults({ error_rate: 1 });
    const result = await provider.send(sms('+4520000021'));
    expect(result).toMatchObject({ ok: false, temporary: true, reason: expect.stringMatching(/^HTTP 503: /) });
    expect(result).not.toHaveProperty('unknown');
  });

  it('permanent_for answers 400: permanent, with the status and a body excerpt', async () => {
    await putFaults({ permanent_for: ['+4520000022'] });
    expect(await provider.send(sms('+4520000022'))).toEqual({
      ok: false,
      temporary: false,
      reason: 'HTTP 400: {"error":"number permanently unreachable (simulated)"}',
    });
    expect(await provider.send(sms('+4520000023'))).toMatchObject({ ok: true });
  });

  it('outage_until answers 503 until then, and sends again after it', async () => {
    await putFaults({ outage_until: Date.now() + 60_000 });
    expect(await provider.send(sms('+4520000024'))).toMatchObject({ ok: false, temporary: true, reason: expect.stringMatching(/^HTTP 503/) });
    await putFaults({ outage_until: Date.now() - 1 });
    expect(await provider.send(sms('+4520000024'))).toMatchObject({ ok: true });
  });

  it('reset_rate destroys the connection: temporary, not unknown, nothing recorded', async () => {
    await putFaults({ reset_rate: 1 });
    const result = await provider.send(sms('+4520000025'));
    expect(result).toMatchObject({ ok: false, temporary: true, reason: expect.stringMatching(/^provider unreachable/) });
    expect(result).not.toHaveProperty('unknown');
    expect((await messages()).filter((m) => m.to === '+4520000025')).toEqual([]);
  });

  it('hang takes the send but never answers: the client times out with unknown; a retry with the key is a duplicate', async () => {
    const quick = createSimulatorProvider({ baseUrl: simUrl, secret: SECRET, timeoutMs: 1000, maxSockets: 2, clock: systemClock });
    try {
      await putFaults({ hang: true });
      const once = sms('+4520000026');
      expect(await quick.send(once)).toEqual({ ok: false, temporary: true, unknown: true, reason: 'timeout after request was sent' });
      expect((await messages()).filter((m) => m.to === '+4520000026')).toHaveLength(1);
      await fetch(`${simUrl}/faults`, { method: 'DELETE' });
      const duplicatesBefore = ((await (await fetch(`${simUrl}/stats`)).json()) as { duplicates: number }).duplicates;
      expect(await quick.send(once)).toMatchObject({ ok: true });
      expect(((await (await fetch(`${simUrl}/stats`)).json()) as { duplicates: number }).duplicates).toBe(duplicatesBefore + 1);
    } finally {
      quick.close();
    }
  });

  it('the same seed gives the same sequence of faults', async () => {
    const run = async () => {
      await putFaults({ error_rate: 0.5, seed: 42 });
      const results = [];
      for (let i = 0; i < 12; i++) results.push((await provider.send(sms(`+45200001${String(i).padStart(2, '0')}`))).ok);
      return results;
    };
    const first = await run();
    expect(first).toContain(true);
    expect(first).toContain(false);
    expect(await run()).toEqual(first);
  });
});

describe('inbound SMS (POST /simulate/inbound)', () => {
  it('posts a signed webhook to the inbound URL and answers with the daemon\'s status and body', async () => {
    await provider.send({ ...sms('+4520000030'), from: '4570000000' });
    const response = await fetch(`${simUrl}/simulate/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: '+4520000030', text: 'STOP' }),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ got: '/inbound' });
    const webhook = daemon.received.filter((r) => r.path === '/inbound').at(-1)!;
    const parsed = provider.parseInbound(webhook.headers, webhook.body, Date.now());
    expect(parsed).toMatchObject({ ok: true, inbound: { from: '+4520000030', to: '4570000000', text: 'STOP' } });
    if (parsed.ok) {
      expect(parsed.inbound.providerId).toMatch(/^[0-9a-f-]{36}$/);
      expect(Math.abs(parsed.inbound.receivedAt - Date.now())).toBeLessThan(60_000);
    }
    expect(provider.parseInbound(webhook.headers, webhook.body.replace('STOP', 'START'), Date.now())).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
  });

  it('refuses an unsigned or unparsable webhook', () => {
    const body = JSON.stringify({ id: 'i1', from: 'Example', to: 'x', text: 'hi', received_at: new Date().toISOString() });
    expect(provider.parseInbound({}, body, Date.now())).toEqual({ ok: false, status: 403, reason: 'missing' });
    const signed = { [SIGNATURE_HEADER]: signBody(SECRET, body, Date.now()) };
    expect(provider.parseInbound(signed, body, Date.now())).toEqual({ ok: false, status: 400, reason: '"from" is not a phone number' });
  });

  it('answers 400 for a bad request and 503 without an inbound URL', async () => {
    const bad = await fetch(`${simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: 'nobody' }) });
    expect(bad.status).toBe(400);
    const lonely = createProviderSimulator({ listen: { host: '127.0.0.1', port: 0 }, secret: SECRET, receiptDelayMs: 5, logger: quietLogger() });
    const { url } = await lonely.start();
    try {
      const response = await fetch(`${url}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: '+4520000031', text: 'hi' }) });
      expect(response.status).toBe(503);
    } finally {
      await lonely.stop();
    }
  });
});
