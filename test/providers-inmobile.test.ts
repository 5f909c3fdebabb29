import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inMobileProviderSchema, type InMobileProviderConfig } from '../src/config/providers.js';
import { systemClock } from '../src/core/clock.js';
import { createInMobileProvider } from '../src/providers/inmobile/index.js';
import { INMOBILE_STATES } from '../src/providers/inmobile/statuses.js';
import type { OutgoingSms, SmsProvider } from '../src/providers/types.js';
import { startFakeInMobile, type FakeInMobile } from '../bench/fakes/inmobile.js';
import { docStatusTable, startTestServer, type TestServer } from './provider-helpers.js';

/*
 * The inMobile adapter against a local fake of inMobile's API v4
 * (https://api.inmobile.com/docs/, POST /v4/sms/outgoing and its status
 * callback) that refuses what inMobile refuses. inMobile signs nothing: its
 * callbacks are authenticated by our token in their URL.
 */

const API_KEY = 'inmobile-api-key-0123';
const TOKEN = 'c0ffee'.repeat(8);

const config = (fake: FakeInMobile, extra: Record<string, unknown> = {}): InMobileProviderConfig =>
  inMobileProviderSchema.parse({ type: 'inmobile', api_key: API_KEY, base_url: fake.url, callback_token: TOKEN, timeout: '2s', ...extra });

let seq = 0;
const sms = (receiver: TestServer, overrides: Partial<OutgoingSms> = {}): OutgoingSms => ({
  to: '+4520000001',
  from: 'Example',
  text: 'Disk full on db-7',
  idempotencyKey: `Q${++seq}.0`,
  callbackUrl: `${receiver.url}/receipts/inmobile`,
  ...overrides,
});

describe('inmobile config and status table', () => {
  it('the table is what docs/providers/inmobile.md prints', () => {
    expect(docStatusTable('docs/providers/inmobile.md')).toEqual(INMOBILE_STATES.map((row) => [row.provider, row.ours, row.meaning]));
  });

  it('refuses a short or unsafe callback token', () => {
    const base = { type: 'inmobile', api_key: 'k' };
    expect(inMobileProviderSchema.safeParse({ ...base, callback_token: 'short' }).success).toBe(false);
    expect(inMobileProviderSchema.safeParse({ ...base, callback_token: `${'x'.repeat(32)}&y=1` }).success).toBe(false);
    expect(inMobileProviderSchema.parse({ ...base, callback_token: TOKEN }).base_url).toBe('https://api.inmobile.com');
  });
});

describe('inmobile adapter against the fake API v4', () => {
  let fake: FakeInMobile;
  let receiver: TestServer;
  let provider: SmsProvider;
  beforeAll(async () => {
    fake = await startFakeInMobile({ apiKey: API_KEY });
    receiver = await startTestServer();
    provider = createInMobileProvider(config(fake), { name: 'inmobile', clock: systemClock, maxSockets: 4 });
  });
  afterAll(async () => {
    provider?.close();
    await fake?.close();
    await receiver?.close();
  });

  it('the fake refuses what inMobile refuses: no or wrong API key, another encoding, wrong field names, a repeated messageId', async () => {
    const auth = `Basic ${Buffer.from(`anyone:${API_KEY}`).toString('base64')}`;
    const post = async (body: string, headers: Record<string, string>) => (await fetch(`${fake.url}/v4/sms/outgoing`, { method: 'POST', body, headers })).status;
    const good = (id: string) => JSON.stringify({ messages: [{ to: '4520000001', text: 'x', from: 'Example', messageId: id }] });
    expect(await post(good('a'), { 'content-type': 'application/json' })).toBe(401);
    expect(await post(good('a'), { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('anyone:nope').toString('base64')}` })).toBe(401);
    expect(await post(good('a'), { 'content-type': 'application/x-www-form-urlencoded', authorization: auth })).toBe(400);
    expect(await post(JSON.stringify({ messages: [{ recipient: '4520000001', message: 'x', sender: 'Example' }] }), { 'content-type': 'application/json', authorization: auth })).toBe(400);
    expect(await post(JSON.stringify({ messages: [{ to: '+4520000001', text: 'x', from: 'Example' }] }), { 'content-type': 'application/json', authorization: auth })).toBe(400);
    expect(await post(good('fake-1'), { 'content-type': 'application/json', authorization: auth })).toBe(200);
    expect(await post(good('fake-1'), { 'content-type': 'application/json', authorization: auth })).toBe(400);
  });

  it('sends JSON with our key as messageId and the token in statusCallbackUrl, ucs2 when needed', async () => {
    const out = sms(receiver, { text: 'Grüße 😀 '.repeat(10) });
    const result = await provider.send(out);
    const sent = fake.messages.at(-1)!;
    expect(sent).toMatchObject({ messageId: out.idempotencyKey, to: '4520000001', from: 'Example', encoding: 'ucs2', statusCallbackUrl: `${receiver.url}/receipts/inmobile?token=${TOKEN}` });
    expect(result).toEqual({ ok: true, providerMessageId: out.idempotencyKey, parts: 2 });
  });

  it('refusals carry inMobile\'s words; 401 permanent, 5xx temporary', async () => {
    expect(await provider.send(sms(receiver, { to: '+45200000011234567890123' }))).toEqual({ ok: false, temporary: false, reason: 'HTTP 400: inMobile: Validation failed; messages[0].to must be a msisdn with country code, e.g. 4512345678' });
    fake.script.push({ status: 500, body: JSON.stringify({ errorMessage: 'Internal server error', details: [] }) });
    expect(await provider.send(sms(receiver))).toEqual({ ok: false, temporary: true, reason: 'HTTP 500: inMobile: Internal server error' });
    const wrong = createInMobileProvider(config(fake, { api_key: 'nope' }), { name: 'inmobile', clock: systemClock, maxSockets: 1 });
    expect(await wrong.send(sms(receiver))).toEqual({ ok: false, temporary: false, reason: 'HTTP 401: inMobile: Unauthorized' });
    wrong.close();
  });

  it('a batched status callback becomes one receipt per final report, states and error codes mapped', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await provider.send(sms(receiver));
      ids.push(result.ok ? result.providerMessageId : '');
    }
    await fake.statusReports([
      { messageId: ids[0]!, stateCode: 1 },
      { messageId: ids[1]!, stateCode: -1, errorCode: -1 },
      { messageId: ids[2]!, stateCode: -1, errorCode: -5 },
      { messageId: ids[3]!, stateCode: -2, errorCode: -105 },
      { messageId: ids[4]!, stateCode: 0 },
    ]);
    const r = receiver.received.at(-1)!;
    const parsed = provider.parseReceipt(r.headers, r.body, Date.now(), { url: receiver.url + r.path });
    expect('receipt' in parsed && parsed.receipts?.map((x) => [x.providerMessageId, x.status, x.errorCode])).toEqual([
      [ids[0], 'delivered', undefined],
      [ids[1], 'failed', '-1 undeliverable message'],
      [ids[2], 'expired', '-5 delivery timeout'],
      [ids[3], 'rejected', '-105 msisdn blacklisted on account'],
    ]);
    expect('receipt' in parsed && parsed.receipt).toMatchObject({ providerMessageId: ids[0], providerTimestamp: Date.parse('2025-01-01T12:00:05Z') });
    await fake.statusReports([{ messageId: ids[4]!, stateCode: 0 }]);
    const pending = receiver.received.at(-1)!;
    expect(provider.parseReceipt(pending.headers, pending.body, Date.now(), { url: receiver.url + pending.path })).toEqual({ ok: false, status: 200, interim: 'unknown', reason: '1 status report(s), none final' });
  });

  it('incoming SMS (batched) are parsed, each with a stable id', async () => {
    const url = `${receiver.url}/inbound/inmobile?token=${TOKEN}`;
    await fake.incoming(url, [{ from: '4520000002', to: '4570000000', text: 'STOP' }, { from: '4520000003', to: '4570000000', text: 'hi' }]);
    const r = receiver.received.at(-1)!;
    const parsed = provider.parseInbound(r.headers, r.body, Date.now(), { url: receiver.url + r.path });
    expect(parsed.ok && parsed.inbounds?.map((m) => [m.from, m.to, m.text, m.receivedAt])).toEqual([
      ['+4520000002', '4570000000', 'STOP', Date.parse('2025-01-01T12:00:00Z')],
      ['+4520000003', '4570000000', 'hi', Date.parse('2025-01-01T12:00:00Z')],
    ]);
    const again = provider.parseInbound(r.headers, r.body, Date.now(), { url: receiver.url + r.path });
    expect(again.ok && again.inbound.providerId).toBe(parsed.ok && parsed.inbound.providerId);
  });

  it('callbacks without the token, or with a wrong one, are refused with 403 before the body is read', () => {
    const at = (query: string) => ({ url: `${receiver.url}/receipts/inmobile${query}` });
    expect(provider.checkWebhookHeaders('receipt', {}, at(''))).toEqual({ ok: false, status: 403, reason: 'missing' });
    expect(provider.checkWebhookHeaders('receipt', {}, at(`?token=${TOKEN.slice(1)}`))).toEqual({ ok: false, status: 403, reason: 'bad_token' });
    expect(provider.checkWebhookHeaders('inbound', {}, at(`?token=${TOKEN}x`))).toEqual({ ok: false, status: 403, reason: 'bad_token' });
    expect(provider.checkWebhookHeaders('inbound', {})).toEqual({ ok: false, status: 403, reason: 'no_request_url' });
    expect(provider.checkWebhookHeaders('inbound', {}, at(`?token=${TOKEN}`))).toBeUndefined();
    expect(provider.parseReceipt({}, '{"reports":[{"messageId":"x","deliveryInfo":{"stateCode":1}}]}', Date.now(), at('?token=guess'))).toEqual({ ok: false, status: 403, reason: 'bad_token' });
  });
});
