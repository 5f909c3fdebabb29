import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { csvSafe } from '../src/core/csv-safe.js';
import { intakeMessage, openTestLedger } from './ledger-fixture.js';
import { startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Issue 18, HTTP (items 6–9, 13): tokens before bodies, precise 413 and 400,
 * receipt replays, CSV injection, sends in the future.
 */

const TOKEN = 'attack-test-token-0123456789abcdef';
let dirs: TestDirs;
let t: TestDaemon;

beforeAll(async () => {
  dirs = writeConfig({
    main: { http: { listen: '127.0.0.1:0', tokens: [{ name: 'tool', sha256: createHash('sha256').update(TOKEN).digest('hex') }], max_concurrent_bodies: 4 } },
  });
  t = await startTestDaemon(dirs);
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

interface Answer {
  status: number;
  body: string;
  /** Body bytes the client got to write before the answer came. */
  written: number;
}

/**
 * Streams a body of `size` bytes in 64 KB chunks, as an upload would, and
 * resolves with the answer; rejects on a reset before any answer.
 */
function upload(path: string, size: number, headers: Record<string, string>, options: { chunked?: boolean; hold?: Promise<void> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: t.daemon.ports.http, method: 'POST', path, headers: { 'content-type': 'application/json', ...(options.chunked ? {} : { 'content-length': String(size) }), ...headers } });
    let written = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, written }));
    });
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = async () => {
      if (options.hold) {
        req.write(chunk);
        written += chunk.length;
        await options.hold;
      }
      while (written < size && !answered && !req.destroyed) {
        const ok = req.write(chunk);
        written += chunk.length;
        if (!ok) await new Promise((r) => req.once('drain', r));
      }
      if (!req.destroyed) req.end();
    };
    void pump().catch(() => undefined);
  });
}

const post = async (path: string, body: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) => {
  const response = await fetch(`http://127.0.0.1:${t.daemon.ports.http}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.status, body: (await response.json()) as { error?: string; errors?: { message: string }[] } };
};

describe('tokens before bodies (item 6)', () => {
  it('refuses an upload without a token from its headers: 401 after at most a few chunks, not 30 MB', async () => {
    const answer = await upload('/sends', 30 * 1024 * 1024, {});
    expect(answer.status).toBe(401);
    expect(answer.written).toBeLessThan(30 * 1024 * 1024);
  });

  it('reads at most max_concurrent_bodies bodies at once; the next gets 503 with Retry-After', async () => {
    let release = () => undefined as void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    const slow = Array.from({ length: 4 }, () => upload('/sends', 1024 * 1024, { authorization: `Bearer ${TOKEN}` }, { chunked: true, hold }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const extra = await post('/sends', '{"number":"+4520123456"}');
    release();
    await Promise.all(slow);
    expect(extra.status).toBe(503);
    expect(extra.body.error).toMatch(/4 request bodies are being read already/);
  });
});

describe('precise 413 and 400 (item 7)', () => {
  it('an oversized /sends body gets 413 naming the limit, not a reset', async () => {
    const answer = await upload('/sends', 40 * 1024 * 1024, { authorization: `Bearer ${TOKEN}` });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatch(/over the limit of 33554432 bytes/);
  });

  it('an oversized receipt, even without a Content-Length, gets 413', async () => {
    // A signature header in our format gets the body read (the MAC needs it); the limit then stops it.
    const answer = await upload('/receipts', 1024 * 1024, { 'x-mail2sms-signature': `t=1,v1=${'0'.repeat(64)}` }, { chunked: true });
    expect(answer.status).toBe(413);
  });

  it('an oversized receipt without a signature header gets 403 before its body is read', async () => {
    const answer = await upload('/receipts', 1024 * 1024, {}, { chunked: true });
    expect(answer.status).toBe(403);
  });

  it.each(['null', '[null]', '[{"number":"+4520123456"},null]', '"text"', '[[1]]'])('a /sends body of %s gets 400 with the reason', async (body) => {
    const answer = await post('/sends', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(/not an object; nothing was recorded/);
  });
});

describe('a send in the future (item 13)', () => {
  it('POST /sends refuses an "at" more than the clock skew ahead, with the reason', async () => {
    const answer = await post('/sends', JSON.stringify({ number: '+4520123456', at: '2030-01-01T00:00:00Z' }));
    expect(answer.status).toBe(400);
    expect(answer.body.errors?.[0]?.message).toMatch(/at: "2030-01-01T00:00:00Z" is in the future \(more than 300 s ahead/);
  });

  it('accepts a send a minute ahead (clocks differ a little)', async () => {
    const answer = await post('/sends', JSON.stringify({ number: '+4520123457', at: new Date(Date.now() + 60_000).toISOString() }));
    expect(answer.status).toBe(200);
  });
});

describe('receipt replays (item 8)', () => {
  it('200 replays of a receipt for a sent SMS are acknowledged as duplicates and stored once', async () => {
    const test = openTestLedger(createManualClock());
    try {
      await test.ledger.acceptMessage(intakeMessage(['+4520123456']));
      const [claimed] = await test.ledger.claimDue(1, 60_000);
      await test.ledger.recordSent(claimed!.outboxId, 'sim-1', 1);
      const receipt = { providerMessageId: 'sim-1', status: 'delivered' as const, rawBody: '{"id":"sim-1","status":"delivered"}' };
      const outcomes = [];
      for (let i = 0; i < 200; i++) outcomes.push(await test.ledger.applyReceipt(receipt));
      expect(outcomes[0]).toBe('applied');
      expect(outcomes.slice(1).every((o) => o === 'duplicate')).toBe(true);
      expect(test.db.prepare('SELECT count(*) FROM receipts').pluck().get()).toBe(1);
    } finally {
      await test.close();
    }
  });

  it('replays of a receipt for an id not known yet stay parked (then unknown after the grace) without a row each', async () => {
    const clock = createManualClock();
    const test = openTestLedger(clock, { receiptGraceMs: 60_000 });
    try {
      const receipt = { providerMessageId: 'sim-unknown-1', status: 'delivered' as const, rawBody: '{"id":"sim-unknown-1","status":"delivered"}' };
      const outcomes = [];
      for (let i = 0; i < 200; i++) outcomes.push(await test.ledger.applyReceipt(receipt));
      clock.advance(60_000);
      expect(await test.ledger.applyReceipt(receipt)).toBe('unknown');
      expect(outcomes.every((o) => o === 'parked')).toBe(true);
      expect(test.db.prepare('SELECT count(*) FROM receipts').pluck().get()).toBe(1);
    } finally {
      await test.close();
    }
  });
});

describe('CSV injection in exports (item 9)', () => {
  it('escapes cells a spreadsheet would run as a formula, and leaves numbers alone', () => {
    expect(['=HYPERLINK("x")', '+SUM(A1)', '-2+3', '@cmd', '\tx', 'plain', '+4520123456', '-12', 7].map(csvSafe)).toEqual([
      `'=HYPERLINK("x")`,
      "'+SUM(A1)",
      "'-2+3",
      "'@cmd",
      "'\tx",
      'plain',
      '+4520123456',
      '-12',
      7,
    ]);
  });
});
