import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mainSchema, type HttpProviderConfig } from '../src/config/schema.js';
import { loadConfig } from '../src/config/load.js';
import { createHttpJsonProvider, getPath, renderTemplate } from '../src/providers/http-json.js';
import { createProviderSimulator, type ProviderSimulator } from '../src/simulator/server.js';
import { SIGNATURE_HEADER, signBody } from '../src/core/signing.js';
import type { OutgoingSms, SmsProvider } from '../src/providers/types.js';
import { createManualClock, systemClock } from '../src/core/clock.js';
import { queueIdOf, sendMail, simulatorStats, startTestDaemon, waitFor, writeConfig } from './helpers.js';
import { quietLogger, startTestServer, type TestServer } from './provider-helpers.js';

/*
 * The generic HTTP/JSON provider: against the real simulator (configured to
 * speak its format), against a tiny node:http server answering oddly, through
 * the config loader, and inside a running daemon.
 */

const SECRET = 'http-json-test-secret-0123456789';

/** The provider block validated by the real schema, as the daemon gets it. */
function httpConfig(provider: Record<string, unknown>): HttpProviderConfig {
  const main = mainSchema.parse({
    smtp: { listen: '127.0.0.1:0' },
    sms_domains: ['sms.example.test'],
    storage: { path: 'x.db' },
    http: { listen: '127.0.0.1:0' },
    provider: { type: 'http', ...provider },
  });
  if (main.provider?.type !== 'http') throw new Error('not an http provider');
  return main.provider;
}

/** The simulator's own format, described as a generic provider would be. */
const simulatorFormat = (url: string) => ({
  url: `${url}/send`,
  timeout: '2s',
  body: { to: '{{to}}', from: '{{from}}', text: '{{text}}', callback_url: '{{callback_url}}' },
  id_path: 'id',
  parts_path: 'parts',
  receipts: {
    secret: SECRET,
    id_path: 'id',
    status_path: 'status',
    status_map: { delivered: 'delivered', failed: 'failed', expired: 'expired', rejected: 'rejected' },
    error_path: 'error_code',
    part_path: 'part',
    parts_path: 'parts',
    timestamp_path: 'timestamp',
  },
  inbound: { id_path: 'id', from_path: 'from', text_path: 'text', to_path: 'to', received_at_path: 'received_at' },
});

let seq = 0;
const sms = (overrides: Partial<OutgoingSms> = {}): OutgoingSms => ({
  to: '+4520000001',
  from: 'Example',
  text: 'hello',
  idempotencyKey: `k-${++seq}`,
  callbackUrl: 'http://127.0.0.1:1/receipts',
  ...overrides,
});

describe('templates and paths', () => {
  it('substitutes placeholders JSON-safely, whole values and inside strings', () => {
    const text = 'He said "stop"\nnow \\ 😀 {{to}}';
    const body = JSON.stringify(
      renderTemplate(
        { messages: [{ to: '{{to}}', body: '{{ text }}', ref: 'mail2sms-{{idempotency_key}}', n: 1, flag: true }], sender: '{{from}}' },
        { to: '+4520000001', from: 'Example', text, idempotency_key: 'Q1.1', callback_url: 'http://x/receipts' },
      ),
    );
    expect(JSON.parse(body)).toEqual({ messages: [{ to: '+4520000001', body: text, ref: 'mail2sms-Q1.1', n: 1, flag: true }], sender: 'Example' });
  });

  it('reads dot paths through objects and arrays', () => {
    const value = { messages: [{ id: 'abc', parts: 2 }], count: 0 };
    expect(getPath(value, 'messages.0.id')).toBe('abc');
    expect(getPath(value, 'messages.1.id')).toBeUndefined();
    expect(getPath(value, 'count.x')).toBeUndefined();
  });
});

describe('against the real simulator', () => {
  let sim: ProviderSimulator;
  let simUrl: string;
  let receiver: TestServer;
  let provider: SmsProvider;
  beforeAll(async () => {
    receiver = await startTestServer();
    sim = createProviderSimulator({ listen: { host: '127.0.0.1', port: 0 }, secret: SECRET, receiptDelayMs: 5, logger: quietLogger(), inboundUrl: () => `${receiver.url}/inbound` });
    simUrl = (await sim.start()).url;
    provider = createHttpJsonProvider(httpConfig(simulatorFormat(simUrl)), { clock: systemClock, maxSockets: 4 });
  });
  afterAll(async () => {
    provider?.close();
    await sim?.stop();
    await receiver?.close();
  });

  it('sends, reads id and parts, and the idempotency header makes a repeat a duplicate', async () => {
    expect(provider.idempotent).toBe(true);
    const once = sms({ text: 'y'.repeat(161), callbackUrl: `${receiver.url}/receipts` });
    const first = await provider.send(once);
    expect(first).toMatchObject({ ok: true, parts: 2 });
    expect(await provider.send(once)).toEqual(first);
    expect((await simulatorStats(simUrl)).duplicates).toBe(1);
    const id = (first as { providerMessageId: string }).providerMessageId;
    const receipts = await waitFor(() => {
      const list = receiver.received.filter((r) => r.path === '/receipts' && r.body.includes(id));
      return list.length === 2 ? list : undefined;
    }, 'both receipts');
    const parsed = receipts.map((r) => provider.parseReceipt(r.headers, r.body, Date.now()));
    expect(parsed.map((p) => p.ok && 'receipt' in p && [p.receipt.providerMessageId, p.receipt.status, p.receipt.part, p.receipt.parts])).toEqual([
      [id, 'delivered', 1, 2],
      [id, 'delivered', 2, 2],
    ]);
  });

  it('parses the simulator\'s inbound webhook with the configured paths', async () => {
    await fetch(`${simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: '+4520000002', to: '4570000000', text: 'STOP please' }) });
    const webhook = receiver.received.find((r) => r.path === '/inbound')!;
    const parsed = provider.parseInbound(webhook.headers, webhook.body, Date.now());
    expect(parsed).toMatchObject({ ok: true, inbound: { from: '+4520000002', to: '4570000000', text: 'STOP please' } });
  });

  it('refuses receipts with an unmapped status and a replayed signature', () => {
    const body = JSON.stringify({ id: 'a', status: 'buffered' });
    const now = Date.now();
    expect(provider.parseReceipt({ [SIGNATURE_HEADER]: signBody(SECRET, body, now) }, body, now)).toEqual({
      ok: false,
      status: 400,
      reason: 'receipt status "buffered" is not in receipts.status_map',
    });
    expect(provider.parseReceipt({ [SIGNATURE_HEADER]: signBody(SECRET, body, now - 3_600_000) }, body, now)).toEqual({ ok: false, status: 403, reason: 'too_old' });
  });

  it('judges a webhook by its headers before the body: no signature or a malformed one is refused, a well-formed one is read on', () => {
    expect(provider.checkWebhookHeaders('receipt', {})).toEqual({ ok: false, status: 403, reason: 'missing' });
    expect(provider.checkWebhookHeaders('inbound', { [SIGNATURE_HEADER]: 't=1,v1=xyz' })).toEqual({ ok: false, status: 403, reason: 'malformed' });
    expect(provider.checkWebhookHeaders('receipt', { [SIGNATURE_HEADER]: signBody(SECRET, '{}', Date.now()) })).toBeUndefined();
    const { receipts: _r, inbound: _i, ...plain } = simulatorFormat(simUrl);
    const noWebhooks = createHttpJsonProvider(httpConfig(plain), { clock: systemClock, maxSockets: 1 });
    expect(noWebhooks.checkWebhookHeaders('receipt', {})).toEqual({ ok: false, status: 400, reason: 'this provider has no receipts configured' });
    expect(noWebhooks.checkWebhookHeaders('inbound', {})).toEqual({ ok: false, status: 400, reason: 'this provider has no inbound SMS configured' });
    noWebhooks.close();
  });
});

describe('odd answers from a provider', () => {
  let server: TestServer;
  let mode = '';
  beforeAll(async () => {
    server = await startTestServer((request, res) => {
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      switch (mode) {
        case 'ok': return json(201, { messages: [{ id: 12345 }], segments: '3' });
        case '429s': return json(429, { error: 'slow down' }, { 'retry-after': '30' });
        case '429date': return json(429, { error: 'slow down' }, { 'retry-after': new Date(Date.UTC(2026, 0, 1, 12, 1, 0)).toUTCString() });
        case '400': return json(400, { error: 'invalid number', detail: 'x'.repeat(500) });
        case '408': return json(408, {});
        case '422custom': return json(422, { error: 'try later' });
        case '500': return json(500, { error: 'boom' });
        case 'noid': return json(200, { status: 'queued' });
        case 'hang': return; // never answers
        case 'reset': return request.body ? res.socket?.destroy() : undefined;
        default: return json(200, {});
      }
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const base = () => ({
    url: `${server.url}/v1/sms`,
    timeout: '1s',
    auth: { bearer: 'token-abc' },
    headers: { 'X-Account': 'acme' },
    body: { messages: [{ to: '{{to}}', text: '{{text}}' }], sender: '{{from}}', callback: '{{callback_url}}' },
    id_path: 'messages.0.id',
    parts_path: 'segments',
  });
  const clock = createManualClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const make = (extra: Record<string, unknown> = {}) => createHttpJsonProvider(httpConfig({ ...base(), ...extra }), { clock, maxSockets: 2 });

  async function sendIn(m: string, extra: Record<string, unknown> = {}, message = sms()) {
    mode = m;
    const provider = make(extra);
    try {
      return await provider.send(message);
    } finally {
      provider.close();
    }
  }

  it('2xx with an id: ok; sends the body, auth, extra headers and the idempotency key', async () => {
    expect(await sendIn('ok', {}, sms({ idempotencyKey: 'Q42.1', text: 'a "quoted"\ntext' }))).toEqual({ ok: true, providerMessageId: '12345', parts: 3 });
    const request = server.received.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/sms');
    expect(request.headers.authorization).toBe('Bearer token-abc');
    expect(request.headers['x-account']).toBe('acme');
    expect(request.headers['idempotency-key']).toBe('Q42.1');
    expect(JSON.parse(request.body)).toEqual({ messages: [{ to: '+4520000001', text: 'a "quoted"\ntext' }], sender: 'Example', callback: 'http://127.0.0.1:1/receipts' });
  });

  it('basic auth, PUT, a custom idempotency header, or none', async () => {
    await sendIn('ok', { auth: { basic: { user: 'u', password: 'p:w' } }, method: 'PUT', idempotency_header: 'X-Request-Id' });
    const request = server.received.at(-1)!;
    expect(request.method).toBe('PUT');
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from('u:p:w').toString('base64')}`);
    expect(request.headers['x-request-id']).toMatch(/^k-\d+$/);
    await sendIn('ok', { idempotency_header: 'off' });
    expect(server.received.at(-1)!.headers['idempotency-key']).toBeUndefined();
    expect(make({ idempotency_header: null }).idempotent).toBe(false);
  });

  it('429: temporary with Retry-After in seconds or as an HTTP date', async () => {
    expect(await sendIn('429s')).toEqual({ ok: false, temporary: true, retryAfterMs: 30_000, reason: 'HTTP 429: {"error":"slow down"}' });
    expect(await sendIn('429date')).toMatchObject({ ok: false, temporary: true, retryAfterMs: 60_000 });
  });

  it('400: permanent with the status and a short excerpt of the body', async () => {
    const result = await sendIn('400');
    expect(result).toMatchObject({ ok: false, temporary: false });
    expect((result as { reason: string }).reason).toMatch(/^HTTP 400: \{"error":"invalid number","detail":"x+…$/);
    expect((result as { reason: string }).reason.length).toBeLessThanOrEqual(210);
  });

  it('408 and 5xx are temporary; permanent_statuses overrides the default', async () => {
    expect(await sendIn('408')).toMatchObject({ ok: false, temporary: true, reason: 'HTTP 408: {}' });
    expect(await sendIn('500')).toMatchObject({ ok: false, temporary: true, reason: 'HTTP 500: {"error":"boom"}' });
    expect(await sendIn('422custom')).toMatchObject({ temporary: false });
    expect(await sendIn('422custom', { permanent_statuses: [400, 401] })).toMatchObject({ temporary: true });
  });

  it('2xx without an id is unknown: the provider probably took it', async () => {
    expect(await sendIn('noid')).toEqual({ ok: false, temporary: true, unknown: true, reason: 'HTTP 200 without a message id: {"status":"queued"}' });
  });

  it('no answer after the request was sent: unknown', async () => {
    expect(await sendIn('hang')).toEqual({ ok: false, temporary: true, unknown: true, reason: 'timeout after request was sent' });
  });

  it('a reset connection is temporary (not unknown), and so is a refused one', async () => {
    const reset = await sendIn('reset');
    expect(reset).toMatchObject({ ok: false, temporary: true, reason: expect.stringMatching(/^provider unreachable: E/) });
    expect(reset).not.toHaveProperty('unknown');
    const provider = createHttpJsonProvider(httpConfig({ ...base(), url: 'http://127.0.0.1:1/sms' }), { clock, maxSockets: 1 });
    expect(await provider.send(sms())).toEqual({ ok: false, temporary: true, reason: 'provider unreachable: ECONNREFUSED' });
    provider.close();
  });
});

describe('config', () => {
  it('reads ${ENV} secrets at load and names the field when one is missing', () => {
    process.env.MAIL2SMS_TEST_TOKEN = 'from-the-environment';
    const provider = { type: 'http', ...simulatorFormat('http://127.0.0.1:9'), auth: { bearer: '${MAIL2SMS_TEST_TOKEN}' } };
    const ok = writeConfig({ main: { provider } });
    const bad = writeConfig({ main: { provider: { ...provider, auth: { basic: { user: 'u', password: '${MAIL2SMS_TEST_MISSING}' } } } } });
    try {
      const loaded = loadConfig(ok.configFile).main.provider;
      expect(loaded?.type === 'http' && loaded.auth).toEqual({ bearer: 'from-the-environment' });
      expect(() => loadConfig(bad.configFile)).toThrow(/mail2sms\.yaml:\d+:\d+: provider\.auth\.basic\.password: environment variable MAIL2SMS_TEST_MISSING is not set/);
    } finally {
      delete process.env.MAIL2SMS_TEST_TOKEN;
      ok.cleanup();
      bad.cleanup();
    }
  });

  it('refuses unknown placeholders, bad paths and inbound without a secret', () => {
    const attempt = (provider: Record<string, unknown>) => {
      try {
        httpConfig(provider);
        return 'valid';
      } catch (error) {
        return String(error);
      }
    };
    const { receipts: _r, inbound: _i, ...plain } = simulatorFormat('http://127.0.0.1:9');
    expect(attempt({ ...plain, body: { text: '{{txt}}' } })).toMatch(/unknown placeholder \{\{txt\}\}/);
    expect(attempt({ ...plain, id_path: 'messages..id' })).toMatch(/dot path/);
    expect(attempt({ ...plain, inbound: { id_path: 'id', from_path: 'from', text_path: 'text' } })).toMatch(/needs receipts\.secret/);
    expect(attempt(plain)).toBe('valid');
  });
});

describe('inside the daemon', () => {
  it('a mail goes out through provider.type: http and ends delivered by the signed receipt', async () => {
    const sim = createProviderSimulator({ listen: { host: '127.0.0.1', port: 0 }, secret: SECRET, receiptDelayMs: 5, logger: quietLogger() });
    const { url } = await sim.start();
    const token = 'bearer-token-that-must-never-be-logged';
    const dirs = writeConfig({ main: { provider: { type: 'http', ...simulatorFormat(url), auth: { bearer: token } } } });
    const t = await startTestDaemon(dirs);
    try {
      const result = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520123456@sms.example.test', text: 'via http' });
      expect(result.code).toBe(250);
      const queueId = queueIdOf(result.response);
      await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'delivered');
      expect(t.daemon.ports.simulator).toBeUndefined();
      expect(t.logs.filter((line) => JSON.stringify(line).includes(token) || JSON.stringify(line).includes(SECRET))).toEqual([]);
    } finally {
      await t.stop();
      await sim.stop();
      dirs.cleanup();
    }
  });
});

