import fc from 'fast-check';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twilioProviderSchema, type TwilioProviderConfig } from '../src/config/providers.js';
import { createManualClock } from '../src/core/clock.js';
import { formFields } from '../src/providers/adapter-kit.js';
import { createTwilioProvider, EMPTY_TWIML } from '../src/providers/twilio/index.js';
import { twilioSignatureValid } from '../src/providers/twilio/signature.js';
import { TWILIO_STATUSES } from '../src/providers/twilio/statuses.js';
import type { OutgoingSms, SmsProvider } from '../src/providers/types.js';
import { startFakeTwilio, type FakeTwilio } from '../bench/fakes/twilio.js';
import { docStatusTable, startTestServer, type TestServer } from './provider-helpers.js';

/*
 * The Twilio adapter against a local fake of Twilio's Messages API
 * (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource)
 * that refuses what Twilio refuses, and its webhook verifier against the
 * `twilio` package's own validateRequest / getExpectedTwilioSignature
 * (https://www.twilio.com/docs/usage/security#validating-requests) as the oracle.
 */

const ACCOUNT = `AC${'a1'.repeat(16)}`;
const TOKEN = 'twilio-auth-token-0123456789abcdef';
const API_KEY = { sid: `SK${'b2'.repeat(16)}`, secret: 'api-key-secret-0123456789' };
const OPTED_OUT = '+15005550009';

const config = (fake: FakeTwilio, extra: Record<string, unknown> = {}): TwilioProviderConfig =>
  twilioProviderSchema.parse({ type: 'twilio', account_sid: ACCOUNT, auth_token: TOKEN, base_url: fake.url, timeout: '2s', ...extra });

let seq = 0;
const sms = (receiver: TestServer, overrides: Partial<OutgoingSms> = {}): OutgoingSms => ({
  to: '+4520000001',
  from: '+15005550006',
  text: 'Disk full on db-7',
  idempotencyKey: `Q${++seq}.0`,
  callbackUrl: `${receiver.url}/receipts/twilio-us`,
  ...overrides,
});

describe('twilio status table', () => {
  it('is what docs/providers/twilio.md prints, one row per status', () => {
    expect(docStatusTable('docs/providers/twilio.md')).toEqual(TWILIO_STATUSES.map((row) => [row.provider, row.ours, row.meaning]));
    expect(new Set(TWILIO_STATUSES.map((row) => row.provider)).size).toBe(TWILIO_STATUSES.length);
  });
});

describe('twilio config', () => {
  it('needs the auth token or a whole API key, and a real-looking account SID', () => {
    const base = { type: 'twilio', account_sid: ACCOUNT };
    expect(twilioProviderSchema.safeParse({ ...base, auth_token: 'x' }).success).toBe(true);
    expect(twilioProviderSchema.safeParse({ ...base, api_key_sid: API_KEY.sid, api_key_secret: 'y' }).success).toBe(true);
    expect(twilioProviderSchema.safeParse(base).error?.issues.map((i) => i.message)).toEqual(['give auth_token, or api_key_sid and api_key_secret']);
    expect(twilioProviderSchema.safeParse({ ...base, auth_token: 'x', api_key_sid: API_KEY.sid }).error?.issues.map((i) => i.message)).toEqual(['give api_key_sid and api_key_secret together']);
    expect(twilioProviderSchema.safeParse({ ...base, account_sid: 'AC123', auth_token: 'x' }).success).toBe(false);
    expect(twilioProviderSchema.parse({ ...base, auth_token: 'x' }).base_url).toBe('https://api.twilio.com');
  });
});

describe('twilio adapter against the fake Messages API', () => {
  let fake: FakeTwilio;
  let receiver: TestServer;
  let provider: SmsProvider;
  const clock = createManualClock(Date.parse('2025-03-01T12:00:00Z'));

  beforeAll(async () => {
    fake = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN, apiKey: API_KEY, optedOut: [OPTED_OUT] });
    receiver = await startTestServer();
    provider = createTwilioProvider(config(fake), { name: 'twilio-us', clock, maxSockets: 4 });
  });
  afterAll(async () => {
    provider?.close();
    await fake?.close();
    await receiver?.close();
  });

  it('the fake refuses what Twilio refuses: JSON bodies, wrong field names, missing or wrong credentials', async () => {
    const url = `${fake.url}/2010-04-01/Accounts/${ACCOUNT}/Messages.json`;
    const auth = `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`;
    const post = async (body: string, headers: Record<string, string>) => {
      const response = await fetch(url, { method: 'POST', body, headers });
      return [response.status, ((await response.json()) as { code: number }).code];
    };
    const form = 'application/x-www-form-urlencoded';
    expect(await post(JSON.stringify({ To: '+4520000001', From: '+15005550006', Body: 'x' }), { authorization: auth, 'content-type': 'application/json' })).toEqual([400, 21604]);
    expect(await post('to=%2B4520000001&from=%2B15005550006&body=x', { authorization: auth, 'content-type': form })).toEqual([400, 21604]);
    expect(await post('To=%2B4520000001&From=%2B15005550006&Body=x', { 'content-type': form })).toEqual([401, 20003]);
    expect(await post('To=%2B4520000001&From=%2B15005550006&Body=x', { authorization: `Basic ${Buffer.from(`${ACCOUNT}:nope`).toString('base64')}`, 'content-type': form })).toEqual([401, 20003]);
    expect(await post('To=%2B4520000001&From=%2B15005550006&Body=x', { authorization: auth, 'content-type': form })).toEqual([201, undefined]);
  });

  it('sends form-encoded with HTTP Basic, asks for a StatusCallback, and reads the sid and segments', async () => {
    const result = await provider.send(sms(receiver, { text: 'ÆØÅ 😀 '.repeat(12) }));
    expect(result).toMatchObject({ ok: true, parts: 2 });
    const sent = fake.messages.at(-1)!;
    expect(result).toMatchObject({ providerMessageId: sent.sid });
    expect(sent).toMatchObject({ to: '+4520000001', from: '+15005550006', body: 'ÆØÅ 😀 '.repeat(12), statusCallback: `${receiver.url}/receipts/twilio-us` });
  });

  it('authenticates with an API key and sends through a Messaging Service when configured', async () => {
    const keyed = createTwilioProvider(config(fake, { auth_token: undefined, api_key_sid: API_KEY.sid, api_key_secret: API_KEY.secret, messaging_service_sid: `MG${'c3'.repeat(16)}` }), { name: 't', clock, maxSockets: 1 });
    expect(await keyed.send(sms(receiver))).toMatchObject({ ok: true });
    // No auth token: callbacks could not be verified, so none is asked for.
    expect(fake.messages.at(-1)).toMatchObject({ from: undefined, messagingServiceSid: `MG${'c3'.repeat(16)}`, statusCallback: undefined });
    expect(keyed.checkWebhookHeaders('receipt', {}, { url: 'https://x/receipts/t' })).toEqual({ ok: false, status: 400, reason: "no auth_token configured: Twilio signs callbacks with the account's auth token" });
    keyed.close();
  });

  it('21610 is a permanent failure that says the recipient opted out at Twilio, flagged for the opt-out record', async () => {
    expect(await provider.send(sms(receiver, { to: OPTED_OUT }))).toEqual({
      ok: false,
      temporary: false,
      optedOut: true,
      reason: 'HTTP 400: Twilio 21610: the recipient opted out at Twilio (replied STOP); Twilio refuses every SMS to it from this sender',
    });
    expect(await provider.send(sms(receiver, { to: '4520000001' }))).toMatchObject({ ok: false, temporary: false, reason: 'HTTP 400: Twilio 21211: invalid To number' });
  });

  it('429 is temporary with Retry-After, 5xx temporary, bad credentials permanent, a closed port temporary', async () => {
    fake.script.push({ status: 429, body: JSON.stringify({ code: 20429, message: 'Too Many Requests', status: 429 }), headers: { 'retry-after': '7' } });
    expect(await provider.send(sms(receiver))).toEqual({ ok: false, temporary: true, retryAfterMs: 7000, reason: 'HTTP 429: Twilio 20429: too many requests' });
    fake.script.push({ status: 503, body: '' });
    expect(await provider.send(sms(receiver))).toMatchObject({ ok: false, temporary: true, reason: 'HTTP 503' });
    const wrong = createTwilioProvider(config(fake, { auth_token: 'not-the-token' }), { name: 't', clock, maxSockets: 1 });
    expect(await wrong.send(sms(receiver))).toMatchObject({ ok: false, temporary: false, reason: 'HTTP 401: Twilio 20003: authentication failed (account SID, auth token or API key)' });
    wrong.close();
    const closed = createTwilioProvider(config(fake, { base_url: 'http://127.0.0.1:1' }), { name: 't', clock, maxSockets: 1 });
    expect(await closed.send(sms(receiver))).toMatchObject({ ok: false, temporary: true, reason: 'provider unreachable: ECONNREFUSED' });
    closed.close();
  });

  it('status callbacks, signed by Twilio, become receipts or interim statuses as the table says', async () => {
    const result = await provider.send(sms(receiver));
    const sid = result.ok ? result.providerMessageId : '';
    for (const row of TWILIO_STATUSES) await fake.statusCallback(sid, row.provider, row.ours === 'failed' ? '30003' : undefined);
    const callbacks = receiver.received.filter((r) => r.path === '/receipts/twilio-us' && r.body.includes(sid));
    expect(callbacks).toHaveLength(TWILIO_STATUSES.length);
    const parsed = callbacks.map((r) => provider.parseReceipt(r.headers, r.body, clock.now(), { url: receiver.url + r.path }));
    expect(parsed.map((p) => ('receipt' in p ? p.receipt.status : 'interim' in p ? p.interim : 'reason' in p ? `refused ${p.reason}` : 'progress'))).toEqual(TWILIO_STATUSES.map((row) => row.ours));
    const undelivered = parsed[TWILIO_STATUSES.findIndex((row) => row.provider === 'undelivered')]!;
    expect(undelivered).toMatchObject({ ok: true, receipt: { providerMessageId: sid, status: 'failed', errorCode: '30003' } });
  });

  it('an inbound SMS webhook is verified, parsed, and answered with empty TwiML', async () => {
    const url = `${receiver.url}/inbound/twilio-us`;
    await fake.inbound(url, '+4520000002', '+15005550006', 'STOP please');
    const webhook = receiver.received.find((r) => r.path === '/inbound/twilio-us')!;
    const parsed = provider.parseInbound(webhook.headers, webhook.body, clock.now(), { url });
    expect(parsed).toMatchObject({ ok: true, inbound: { from: '+4520000002', to: '+15005550006', text: 'STOP please', receivedAt: clock.now() }, reply: EMPTY_TWIML });
  });

  it('forged, tampered, moved and unsigned callbacks are refused with 403 and a reason', async () => {
    const url = `${receiver.url}/inbound/twilio-us`;
    await fake.inbound(url, '+4520000003', '+15005550006', 'hello');
    const webhook = receiver.received.filter((r) => r.path === '/inbound/twilio-us').at(-1)!;
    const forged = twilio.getExpectedTwilioSignature('some-other-token', url, Object.fromEntries(new URLSearchParams(webhook.body)));
    const parse = (headers: Record<string, string | string[] | undefined>, body: string, at = url) => provider.parseInbound(headers, body, clock.now(), { url: at });
    expect(parse({ ...webhook.headers, 'x-twilio-signature': forged }, webhook.body)).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
    expect(parse(webhook.headers, webhook.body.replace('hello', 'STOP'))).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
    expect(parse(webhook.headers, webhook.body, `${receiver.url}/inbound/other`)).toEqual({ ok: false, status: 403, reason: 'bad_signature' });
    expect(provider.checkWebhookHeaders('inbound', {}, { url })).toEqual({ ok: false, status: 403, reason: 'missing' });
    expect(provider.checkWebhookHeaders('inbound', { 'x-twilio-signature': 'not base64!' }, { url })).toEqual({ ok: false, status: 403, reason: 'malformed' });
    expect(provider.checkWebhookHeaders('receipt', { 'x-twilio-signature': forged, 'x-twilio-webhooks-signature-settings': 'key=k,algorithm=HMAC_SHA256' }, { url })).toEqual({ ok: false, status: 403, reason: 'unsupported_algorithm' });
    expect(provider.checkWebhookHeaders('receipt', { 'x-twilio-signature': forged })).toEqual({ ok: false, status: 403, reason: 'no_request_url' });
    expect(provider.checkWebhookHeaders('receipt', { 'x-twilio-signature': forged }, { url })).toBeUndefined();
  });
});

describe('X-Twilio-Signature: our verifier agrees with the twilio package', () => {
  const urls = [
    'https://sms.example.org/receipts/twilio-us',
    'https://sms.example.org:443/receipts/twilio-us',
    'https://sms.example.org/mail2sms/inbound/twilio-us?x=1&y=%20z',
    'http://127.0.0.1:8080/receipts/twilio-us',
  ];

  it.each(urls)('for %s, signed, port-toggled and tampered alike', (url) => {
    const params = { MessageSid: 'SM1', MessageStatus: 'delivered', Body: 'Grüße & 😀 = 1+1', To: '+4520000001' };
    const signature = twilio.getExpectedTwilioSignature(TOKEN, url, params);
    const fields = formFields(new URLSearchParams(params).toString());
    expect(twilioSignatureValid(TOKEN, url, fields, signature)).toBe(true);
    expect(twilio.validateRequest(TOKEN, signature, url, params)).toBe(true);
    const toggled = url.includes(':443') ? url.replace(':443', '') : url.replace('.org/', '.org:443/');
    expect(twilioSignatureValid(TOKEN, toggled, fields, signature)).toBe(twilio.validateRequest(TOKEN, signature, toggled, params));
    const tampered = formFields(new URLSearchParams({ ...params, Body: 'STOP' }).toString());
    expect(twilioSignatureValid(TOKEN, url, tampered, signature)).toBe(false);
    expect(twilio.validateRequest(TOKEN, signature, url, { ...params, Body: 'STOP' })).toBe(false);
  });

  it('on random fields and paths', () => {
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,11}$/);
    fc.assert(
      fc.property(fc.dictionary(name, fc.string({ maxLength: 30 }), { maxKeys: 8 }), fc.stringMatching(/^[a-z0-9/-]{0,20}$/), fc.string({ maxLength: 30 }), (params, path, forgedBody) => {
        const url = `https://sms.example.org/${path}`;
        const signature = twilio.getExpectedTwilioSignature(TOKEN, url, params);
        const fields = formFields(new URLSearchParams(params).toString());
        const ours = twilioSignatureValid(TOKEN, url, fields, signature);
        expect(ours).toBe(twilio.validateRequest(TOKEN, signature, url, params));
        expect(ours).toBe(true);
        const other = { ...params, Body: forgedBody };
        expect(twilioSignatureValid(TOKEN, url, formFields(new URLSearchParams(other).toString()), signature)).toBe(twilio.validateRequest(TOKEN, signature, url, other));
      }),
      { numRuns: 300 },
    );
  });
});
