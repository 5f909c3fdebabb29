import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vonageProviderSchema, VONAGE_SIGNATURE_METHODS, type VonageProviderConfig } from '../src/config/providers.js';
import { systemClock } from '../src/core/clock.js';
import { createVonageProvider } from '../src/providers/vonage/index.js';
import { verifyVonageSignature } from '../src/providers/vonage/signature.js';
import { VONAGE_STATUSES } from '../src/providers/vonage/statuses.js';
import type { OutgoingSms, SmsProvider } from '../src/providers/types.js';
import { phpStyleSignature, startFakeVonage, type FakeVonage } from '../bench/fakes/vonage.js';
import { docStatusTable, startTestServer, type Received, type TestServer } from './provider-helpers.js';

/*
 * The Vonage adapter against a local fake of the Vonage SMS API
 * (https://developer.vonage.com/en/api/sms#send-an-sms) that refuses what
 * Vonage refuses, and its webhook verifier against signatures made the way
 * Vonage's PHP library makes them
 * (https://developer.vonage.com/en/getting-started/concepts/signing-messages).
 */

const API_KEY = 'abcd1234';
const API_SECRET = 'vonage-api-secret';
const SIGNATURE_SECRET = 'vonage-signature-secret-0123456789';

const config = (fake: FakeVonage, extra: Record<string, unknown> = {}): VonageProviderConfig =>
  vonageProviderSchema.parse({ type: 'vonage', api_key: API_KEY, api_secret: API_SECRET, signature_secret: SIGNATURE_SECRET, base_url: fake.url, timeout: '2s', ...extra });

let seq = 0;
const sms = (receiver: TestServer, overrides: Partial<OutgoingSms> = {}): OutgoingSms => ({
  to: '+4520000001',
  from: 'Example',
  text: 'Disk full on db-7',
  idempotencyKey: `Q${++seq}.0`,
  callbackUrl: `${receiver.url}/receipts/vonage`,
  ...overrides,
});

const requestOf = (receiver: TestServer, r: Received) => ({ url: receiver.url + r.path });

describe('vonage status table', () => {
  it('is what docs/providers/vonage.md prints', () => {
    expect(docStatusTable('docs/providers/vonage.md')).toEqual(VONAGE_STATUSES.map((row) => [row.provider, row.ours, row.meaning]));
  });
});

describe('vonage signature', () => {
  const params = new Map(Object.entries({ msisdn: '4520000002', to: '4570000000', text: 'a&b=c d', timestamp: '1735732800', nonce: 'n1', 'api-key': API_KEY }));
  it.each(VONAGE_SIGNATURE_METHODS)('%s: a PHP-library signature verifies; a changed value or secret does not', (method) => {
    const sig = phpStyleSignature(method, SIGNATURE_SECRET, Object.fromEntries(params));
    const now = 1735732800_000;
    expect(verifyVonageSignature(method, SIGNATURE_SECRET, new Map([...params, ['sig', sig]]), now)).toEqual({ ok: true });
    expect(verifyVonageSignature(method, SIGNATURE_SECRET, new Map([...params, ['text', 'STOP'], ['sig', sig]]), now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyVonageSignature(method, 'another-secret', new Map([...params, ['sig', sig]]), now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyVonageSignature(method, SIGNATURE_SECRET, new Map([...params, ['sig', sig]]), now + 301_000)).toEqual({ ok: false, reason: 'too_old' });
  });
});

describe('vonage adapter against the fake SMS API', () => {
  let fake: FakeVonage;
  let receiver: TestServer;
  let provider: SmsProvider;
  beforeAll(async () => {
    fake = await startFakeVonage({ apiKey: API_KEY, apiSecret: API_SECRET, signature: { secret: SIGNATURE_SECRET, method: 'md5hash' } });
    receiver = await startTestServer();
    provider = createVonageProvider(config(fake), { name: 'vonage', clock: systemClock, maxSockets: 4 });
  });
  afterAll(async () => {
    provider?.close();
    await fake?.close();
    await receiver?.close();
  });

  it('the fake refuses what Vonage refuses: other encodings, wrong field names, missing or bad credentials', async () => {
    const post = async (body: string, type: string) => {
      const response = await fetch(`${fake.url}/sms/json`, { method: 'POST', body, headers: { 'content-type': type } });
      return ((await response.json()) as { messages: { status: string }[] }).messages[0]?.status;
    };
    const good = { api_key: API_KEY, api_secret: API_SECRET, from: 'Example', to: '4520000001', text: 'x' };
    expect(await post(new URLSearchParams(good).toString(), 'text/plain')).toBe('2');
    expect(await post(new URLSearchParams({ ...good, api_secret: 'nope' }).toString(), 'application/x-www-form-urlencoded')).toBe('4');
    const { text: _text, ...noText } = good;
    expect(await post(new URLSearchParams({ ...noText, message: 'x' }).toString(), 'application/x-www-form-urlencoded')).toBe('2');
    expect(await post(new URLSearchParams({ ...good, to: '+4520000001' }).toString(), 'application/x-www-form-urlencoded')).toBe('3');
    expect(await post(JSON.stringify(good), 'application/json')).toBe('0');
  });

  it('sends form-encoded with the sender and number as Vonage wants them, unicode when the text needs it, price per part', async () => {
    const result = await provider.send(sms(receiver, { text: 'Grüße 😀 '.repeat(10), from: '+4570000000' }));
    const sent = fake.messages.at(-1)!;
    expect(sent).toMatchObject({ to: '4520000001', from: '4570000000', type: 'unicode', callback: `${receiver.url}/receipts/vonage` });
    expect(result).toEqual({ ok: true, providerMessageId: sent.clientRef, parts: 2, price: { amount: 0.0666, currency: 'EUR' } });
    expect((await provider.send(sms(receiver))) && fake.messages.at(-1)!.type).toBe('text');
  });

  it('every part\'s receipt finds the row through client-ref; statuses map as the table says', async () => {
    const result = await provider.send(sms(receiver, { text: 'y'.repeat(200) }));
    const sent = fake.messages.at(-1)!;
    for (const id of sent.messageIds) await fake.deliveryReceipt(id, 'delivered', '0');
    const parsed = receiver.received.filter((r) => r.body.includes(sent.messageIds[0]!) || r.body.includes(sent.messageIds[1]!)).map((r) => provider.parseReceipt(r.headers, r.body, Date.now(), requestOf(receiver, r)));
    expect(parsed.map((p) => 'receipt' in p && [p.receipt.providerMessageId, p.receipt.status])).toEqual([[result.ok && result.providerMessageId, 'delivered'], [sent.clientRef, 'delivered']]);

    for (const row of VONAGE_STATUSES) await fake.deliveryReceipt(sent.messageIds[0]!, row.provider, row.ours === 'delivered' ? '0' : '6');
    const all = receiver.received.slice(-VONAGE_STATUSES.length).map((r) => provider.parseReceipt(r.headers, r.body, Date.now(), requestOf(receiver, r)));
    expect(all.map((p) => ('receipt' in p ? p.receipt.status : 'interim' in p ? p.interim : 'reason' in p ? p.reason : 'progress'))).toEqual(VONAGE_STATUSES.map((row) => row.ours));
    expect(all[VONAGE_STATUSES.findIndex((row) => row.provider === 'rejected')]).toMatchObject({ receipt: { errorCode: '6 anti-spam rejection' } });
  });

  it.each(['POST', 'POST-JSON', 'GET'] as const)('reads and verifies webhooks sent as %s', async (format) => {
    const url = await fake.inbound(`${receiver.url}/inbound/vonage`, '4520000002', '4570000000', 'STOP & go = now', { format });
    const r = receiver.received.at(-1)!;
    expect(provider.parseInbound(r.headers, r.body, Date.now(), { url })).toMatchObject({
      ok: true,
      inbound: { from: '+4520000002', to: '4570000000', text: 'STOP & go = now', receivedAt: Date.parse('2025-01-01T12:00:00Z') },
    });
  });

  it('forged, tampered, replayed and unsigned webhooks are refused with 403', async () => {
    const url = `${receiver.url}/inbound/vonage`;
    await fake.inbound(url, '4520000003', '4570000000', 'hello');
    const r = receiver.received.at(-1)!;
    const parse = (body: string, at = Date.now()) => provider.parseInbound(r.headers, body, at, { url });
    expect(parse(r.body.replace('hello', 'STOP'))).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
    expect(parse(r.body, Date.now() + 10 * 60_000)).toEqual({ ok: false, status: 403, reason: 'too_old' });
    const unsigned = new URLSearchParams(r.body);
    unsigned.delete('sig');
    expect(parse(unsigned.toString())).toEqual({ ok: false, status: 403, reason: 'missing' });
    const forger = await startFakeVonage({ apiKey: API_KEY, apiSecret: API_SECRET, signature: { secret: 'guessed-secret', method: 'md5hash' } });
    await forger.inbound(url, '4520000003', '4570000000', 'STOP');
    const forged = receiver.received.at(-1)!;
    expect(provider.parseInbound(forged.headers, forged.body, Date.now(), { url })).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
    await forger.close();
    const unverifiable = createVonageProvider(config(fake, { signature_secret: undefined }), { name: 'v', clock: systemClock, maxSockets: 1 });
    expect(unverifiable.checkWebhookHeaders('receipt', {}, { url })).toEqual({ ok: false, status: 400, reason: 'no signature_secret configured: Vonage webhooks are verified by their signature' });
    unverifiable.close();
  });

  it('an HMAC method (sha256, upper-case hex) verifies as well', async () => {
    const hmacFake = await startFakeVonage({ apiKey: API_KEY, apiSecret: API_SECRET, signature: { secret: SIGNATURE_SECRET, method: 'sha256' } });
    const hmac = createVonageProvider(config(hmacFake, { signature_method: 'sha256' }), { name: 'v', clock: systemClock, maxSockets: 1 });
    const url = await hmacFake.inbound(`${receiver.url}/inbound/v`, '4520000004', '4570000000', 'hi');
    const r = receiver.received.at(-1)!;
    expect(hmac.parseInbound(r.headers, r.body, Date.now(), { url })).toMatchObject({ ok: true });
    expect(provider.parseInbound(r.headers, r.body, Date.now(), { url })).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
    hmac.close();
    await hmacFake.close();
  });

  it('send statuses: throttled is temporary (1 s), out of credit temporary, bad credentials permanent, HTTP 5xx temporary', async () => {
    fake.script.push({ status: 200, body: JSON.stringify({ 'message-count': '1', messages: [{ status: '1', 'error-text': 'Throughput Rate Exceeded' }] }) });
    expect(await provider.send(sms(receiver))).toEqual({ ok: false, temporary: true, retryAfterMs: 1000, reason: 'Vonage status 1: Throughput Rate Exceeded' });
    fake.script.push({ status: 200, body: JSON.stringify({ 'message-count': '1', messages: [{ status: '9', 'error-text': 'Quota Exceeded' }] }) });
    expect(await provider.send(sms(receiver))).toEqual({ ok: false, temporary: true, reason: 'Vonage status 9: Quota Exceeded' });
    fake.script.push({ status: 500, body: '' });
    expect(await provider.send(sms(receiver))).toMatchObject({ ok: false, temporary: true, reason: 'HTTP 500' });
    const wrong = createVonageProvider(config(fake, { api_secret: 'nope' }), { name: 'v', clock: systemClock, maxSockets: 1 });
    expect(await wrong.send(sms(receiver))).toEqual({ ok: false, temporary: false, reason: 'Vonage status 4: Bad Credentials' });
    wrong.close();
  });
});
