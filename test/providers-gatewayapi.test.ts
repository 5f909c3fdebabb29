import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayApiProviderSchema, type GatewayApiProviderConfig } from '../src/config/providers.js';
import { systemClock } from '../src/core/clock.js';
import { createGatewayApiProvider } from '../src/providers/gatewayapi/index.js';
import { createJwtVerifier, signJwt } from '../src/providers/gatewayapi/jwt.js';
import { GATEWAYAPI_STATUSES } from '../src/providers/gatewayapi/statuses.js';
import type { OutgoingSms, SmsProvider } from '../src/providers/types.js';
import { startFakeGatewayApi, type FakeGatewayApi } from '../bench/fakes/gatewayapi.js';
import { docStatusTable, startTestServer, type TestServer } from './provider-helpers.js';

/*
 * The GatewayAPI adapter against a local fake of its REST API
 * (https://gatewayapi.com/docs/apis/rest/) that refuses what GatewayAPI
 * refuses, and its JWT check against the example token GatewayAPI publishes
 * in that page (signed with the secret "secret").
 */

const TOKEN = 'gatewayapi-token-0123456789';
const SECRET = 'gatewayapi-webhook-secret-0123';
/** GatewayAPI's own example from its webhook documentation: a DSN for id 2381703, signed with "secret". */
const DOCS_TOKEN =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6MjM4MTcwMywibXNpc2RuIjo0NTQyNjA5MDQ1LCJ0aW1lIjoxNTIyNzY0MDYyLCJzdGF0dXMiOiJERUxJVkVSRUQiLCJlcnJvciI6bnVsbCwiY29kZSI6bnVsbCwidXNlcnJlZiI6bnVsbCwiY2FsbGJhY2tfdXJsIjoiaHR0cDovL2JiYWY3MTQyLm5ncm9rLmlvIiwiYXBpIjo0fQ.KdfDH65bnQtgxEkFnpAQodOciAJedZFB13r9wEo8t3Y';

const config = (fake: FakeGatewayApi, extra: Record<string, unknown> = {}): GatewayApiProviderConfig =>
  gatewayApiProviderSchema.parse({ type: 'gatewayapi', token: TOKEN, base_url: fake.url, receipts: { secret: SECRET }, timeout: '2s', ...extra });

let seq = 0;
const sms = (receiver: TestServer, overrides: Partial<OutgoingSms> = {}): OutgoingSms => ({
  to: '+4520000001',
  from: 'Example',
  text: 'Disk full on db-7',
  idempotencyKey: `Q${++seq}.0`,
  callbackUrl: `${receiver.url}/receipts/gw`,
  ...overrides,
});

describe('gatewayapi status table and JWT', () => {
  it('the table is what docs/providers/gatewayapi.md prints', () => {
    expect(docStatusTable('docs/providers/gatewayapi.md')).toEqual(GATEWAYAPI_STATUSES.map((row) => [row.provider, row.ours, row.meaning]));
  });

  it('verifies GatewayAPI\'s published example token, and nothing signed otherwise', () => {
    const verify = createJwtVerifier('secret');
    expect(verify(DOCS_TOKEN, 0)).toEqual({ ok: true, claims: expect.objectContaining({ id: 2381703, msisdn: 4542609045, status: 'DELIVERED', time: 1522764062 }) });
    expect(createJwtVerifier('Secret')(DOCS_TOKEN, 0)).toEqual({ ok: false, reason: 'bad_signature' });
    const [head, , mac] = DOCS_TOKEN.split('.');
    const otherPayload = Buffer.from(JSON.stringify({ id: 2381703, status: 'REJECTED' })).toString('base64url');
    expect(verify(`${head}.${otherPayload}.${mac}`, 0)).toEqual({ ok: false, reason: 'bad_signature' });
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${otherPayload}.${mac}`;
    expect(verify(none, 0)).toEqual({ ok: false, reason: 'unsupported_algorithm' });
    expect(verify(signJwt('secret', { id: 1, exp: 10 }), 11_000)).toEqual({ ok: false, reason: 'expired' });
  });
});

describe('gatewayapi adapter against the fake REST API', () => {
  let fake: FakeGatewayApi;
  let receiver: TestServer;
  let provider: SmsProvider;
  beforeAll(async () => {
    fake = await startFakeGatewayApi({ token: TOKEN, webhookSecret: SECRET });
    receiver = await startTestServer();
    provider = createGatewayApiProvider(config(fake), { name: 'gw', clock: systemClock, maxSockets: 4 });
  });
  afterAll(async () => {
    provider?.close();
    await fake?.close();
    await receiver?.close();
  });

  it('the fake refuses what GatewayAPI refuses: no or wrong token, another encoding, bad JSON, wrong field names, a + number', async () => {
    const auth = `Basic ${Buffer.from(`${TOKEN}:`).toString('base64')}`;
    const post = async (body: string, headers: Record<string, string>) => (await fetch(`${fake.url}/rest/mtsms`, { method: 'POST', body, headers })).status;
    const good = JSON.stringify({ message: 'x', recipients: [{ msisdn: 4520000001 }] });
    expect(await post(good, { 'content-type': 'application/json' })).toBe(401);
    expect(await post(good, { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('nope:').toString('base64')}` })).toBe(401);
    expect(await post(good, { 'content-type': 'text/plain', authorization: auth })).toBe(400);
    expect(await post('{"message":', { 'content-type': 'application/json', authorization: auth })).toBe(422);
    expect(await post(JSON.stringify({ text: 'x', recipients: [{ msisdn: 4520000001 }] }), { 'content-type': 'application/json', authorization: auth })).toBe(400);
    expect(await post(JSON.stringify({ message: 'x', recipients: [{ msisdn: '+4520000001' }] }), { 'content-type': 'application/json', authorization: auth })).toBe(400);
    expect(await post(good, { 'content-type': 'application/json', authorization: auth })).toBe(200);
  });

  it('sends JSON with callback_url and userref, UCS2 when needed, and reads the id, parts and price', async () => {
    const result = await provider.send(sms(receiver, { text: 'Grüße 😀 '.repeat(10) }));
    const sent = fake.messages.at(-1)!;
    expect(sent).toMatchObject({ msisdn: 4520000001, sender: 'Example', encoding: 'UCS2', callbackUrl: `${receiver.url}/receipts/gw` });
    expect(result).toEqual({ ok: true, providerMessageId: String(sent.id), parts: 2, price: { amount: 0.24, currency: 'DKK' } });
  });

  it('refusals carry GatewayAPI\'s code and words; 401 permanent, 429 and 5xx temporary', async () => {
    expect(await provider.send(sms(receiver, { from: 'A sender name too long' }))).toEqual({ ok: false, temporary: false, reason: 'HTTP 400: GatewayAPI 0x0302: Invalid sender: A sender name too long' });
    fake.script.push({ status: 429, body: '{"message":"Too many requests"}', headers: { 'retry-after': '3' } });
    expect(await provider.send(sms(receiver))).toEqual({ ok: false, temporary: true, retryAfterMs: 3000, reason: 'HTTP 429: GatewayAPI: Too many requests' });
    fake.script.push({ status: 500, body: '{"message":"Internal error"}' });
    expect(await provider.send(sms(receiver))).toMatchObject({ ok: false, temporary: true });
    const wrong = createGatewayApiProvider(config(fake, { token: 'nope' }), { name: 'gw', clock: systemClock, maxSockets: 1 });
    expect(await wrong.send(sms(receiver))).toEqual({ ok: false, temporary: false, reason: 'HTTP 401: GatewayAPI: Invalid API key or signature' });
    wrong.close();
  });

  it('status notifications become receipts or interim statuses as the table says, read from the verified JWT', async () => {
    const result = await provider.send(sms(receiver));
    const id = Number(result.ok && result.providerMessageId);
    for (const row of GATEWAYAPI_STATUSES) await fake.statusNotification(id, row.provider, row.ours === 'failed' ? { code: '0x0B', error: 'Absent subscriber' } : {});
    const callbacks = receiver.received.slice(-GATEWAYAPI_STATUSES.length);
    const parsed = callbacks.map((r) => provider.parseReceipt(r.headers, r.body, Date.now()));
    expect(parsed.map((p) => ('receipt' in p ? p.receipt.status : 'interim' in p ? p.interim : 'reason' in p ? p.reason : 'progress'))).toEqual(GATEWAYAPI_STATUSES.map((row) => row.ours));
    expect(parsed[GATEWAYAPI_STATUSES.findIndex((row) => row.provider === 'UNDELIVERABLE')]).toMatchObject({ ok: true, receipt: { providerMessageId: String(id), errorCode: '0x0B Absent subscriber' } });
    // The body is not what counts: a body changed after signing still parses as what was signed.
    const delivered = callbacks[GATEWAYAPI_STATUSES.findIndex((row) => row.provider === 'DELIVERED')]!;
    expect(provider.parseReceipt(delivered.headers, delivered.body.replace('DELIVERED', 'REJECTED'), Date.now())).toMatchObject({ ok: true, receipt: { status: 'delivered' } });
  });

  it('an MO SMS is verified and parsed', async () => {
    await fake.moSms(`${receiver.url}/inbound/gw`, 4520000002, 451204, 'STOP now');
    const r = receiver.received.at(-1)!;
    expect(provider.parseInbound(r.headers, r.body, Date.now())).toMatchObject({ ok: true, inbound: { from: '+4520000002', to: '451204', text: 'STOP now' } });
  });

  it('forged, replayed and unsigned webhooks are refused with 403', async () => {
    const result = await provider.send(sms(receiver));
    const id = Number(result.ok && result.providerMessageId);
    const forger = await startFakeGatewayApi({ token: TOKEN, webhookSecret: 'a-guessed-secret-000000' });
    await forger.moSms(`${receiver.url}/inbound/gw`, 4520000003, 451204, 'STOP');
    const forged = receiver.received.at(-1)!;
    expect(provider.checkWebhookHeaders('inbound', forged.headers)).toBeUndefined();
    expect(provider.parseInbound(forged.headers, forged.body, Date.now())).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
    await forger.close();
    await fake.statusNotification(id, 'DELIVERED', { time: Math.floor(Date.now() / 1000) - 2 * 86_400 });
    const replayed = receiver.received.at(-1)!;
    expect(provider.parseReceipt(replayed.headers, replayed.body, Date.now())).toEqual({ ok: false, status: 403, reason: 'too_old' });
    expect(provider.checkWebhookHeaders('receipt', {})).toEqual({ ok: false, status: 403, reason: 'missing' });
    expect(provider.checkWebhookHeaders('receipt', { 'x-gwapi-signature': 'Bearer abc' })).toEqual({ ok: false, status: 403, reason: 'malformed' });
    const unverifiable = createGatewayApiProvider(config(fake, { receipts: undefined }), { name: 'gw', clock: systemClock, maxSockets: 1 });
    expect(unverifiable.checkWebhookHeaders('receipt', replayed.headers)).toEqual({ ok: false, status: 400, reason: 'no receipts.secret configured: GatewayAPI webhooks are verified by their JWT' });
    unverifiable.close();
  });
});
