import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { signBody, SIGNATURE_HEADER } from '../src/core/signing.js';
import { createHttpApi, RECEIPTS_PATH, type HttpApi } from '../src/http/server.js';
import { createSimulatorProvider } from '../src/providers/simulator-client.js';
import type { SmsProvider } from '../src/providers/types.js';
import { intakeMessage, openTestLedger, quietLogger, type TestLedger } from './ledger-fixture.js';

/*
 * The receipts route as a provider sees it: signed POSTs over real HTTP to the
 * daemon's listener, a real SQLite ledger behind it, the answers' exact bytes.
 */
const SECRET = 'receipt-route-secret-0123456789';
const MINUTE = 60_000;

let clock: ReturnType<typeof createManualClock>;
let t: TestLedger;
let provider: SmsProvider;
let api: HttpApi;
let port: number;

beforeEach(async () => {
  clock = createManualClock();
  t = openTestLedger(clock, { bookkeepingDelayMs: 0 });
  provider = createSimulatorProvider({ baseUrl: 'http://127.0.0.1:1', secret: SECRET, timeoutMs: 1000, maxSockets: 1, clock });
  api = createHttpApi({ listen: { host: '127.0.0.1', port: 0 }, ledger: t.ledger, provider, logger: quietLogger(), clock });
  port = await api.start();
});

afterEach(async () => {
  await api.stop();
  provider.close?.();
  await t.close();
});

function post(path: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A part's receipt as the simulator posts it, signed now (or with `sign` instead). */
function postReceipt(id: string, part: number, parts: number, options: { path?: string; sign?: string } = {}) {
  const body = JSON.stringify({ id, status: 'delivered', part, parts, timestamp: new Date(clock.now()).toISOString() });
  return post(options.path ?? RECEIPTS_PATH, body, { [SIGNATURE_HEADER]: options.sign ?? signBody(SECRET, body, clock.now()) });
}

async function sentSms(parts: number): Promise<string> {
  const { queueId } = await t.ledger.acceptMessage(intakeMessage(['+4520123456']));
  const [claimed] = await t.ledger.claimDue(1, MINUTE);
  await t.ledger.recordSent(claimed!.outboxId, `sim-${queueId}`, parts);
  return `sim-${queueId}`;
}

describe('POST /receipts', () => {
  it('answers each part of a 3-part SMS with its outcome, as JSON with its exact length, and the last part delivers it', async () => {
    const id = await sentSms(3);
    const answers = [];
    for (const part of [2, 2, 3, 1]) answers.push(await postReceipt(id, part, 3));
    expect(answers.map((a) => [a.status, a.body])).toEqual([
      [200, '{"outcome":"partial"}'],
      [200, '{"outcome":"duplicate"}'],
      [200, '{"outcome":"partial"}'],
      [200, '{"outcome":"applied"}'],
    ]);
    for (const answer of answers) {
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
    }
    expect((await t.ledger.outbox({ queueId: id.slice('sim-'.length) }))[0]?.status).toBe('delivered');
  });

  it('parks a receipt for an id not known yet (202) and routes a receipts URL with a query string too', async () => {
    const early = await postReceipt('sim-not-yet', 1, 1, { path: `${RECEIPTS_PATH}?setup=alerts` });
    expect([early.status, early.body]).toEqual([202, '{"outcome":"parked"}']);
  });

  it('refuses a receipt signed with another secret (403, the reason) and stores nothing', async () => {
    const id = await sentSms(1);
    const body = JSON.stringify({ id, status: 'delivered' });
    const forged = await post(RECEIPTS_PATH, body, { [SIGNATURE_HEADER]: signBody('another-secret-0123456789', body, clock.now()) });
    expect([forged.status, JSON.parse(forged.body)]).toEqual([403, { error: 'bad_signature' }]);
    const unsigned = await post(RECEIPTS_PATH, body, {});
    expect([unsigned.status, JSON.parse(unsigned.body)]).toEqual([403, { error: 'missing' }]);
    expect(t.db.prepare('SELECT count(*) FROM receipts').pluck().get()).toBe(0);
    expect((await t.ledger.outbox({ queueId: id.slice('sim-'.length) }))[0]?.status).toBe('sent');
  });

  it('refuses a receipt without a signature from its headers, without waiting for the body it announced', async () => {
    const answer = await headersOnly(RECEIPTS_PATH, {});
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toContain('{"error":"missing"}');
    const malformed = await headersOnly(RECEIPTS_PATH, { [SIGNATURE_HEADER]: 't=soon,v1=nothex' });
    expect(malformed).toContain('{"error":"malformed"}');
  });
});

/**
 * Sends a POST's headers announcing a 64 KB body and never the body: the answer
 * can only come from the headers (the server's request timeout is far beyond
 * this test's).
 */
function headersOnly(path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const lines = [`POST ${path} HTTP/1.1`, 'host: 127.0.0.1', 'content-type: application/json', 'content-length: 65536', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (/\r\n\r\n[\s\S]*\}/.test(answer)) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', reject);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

