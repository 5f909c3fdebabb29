import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpConnection } from '../bench/smtp-client.js';
import { loadMail, danishNumbers } from './load.js';
import { alertsSetup, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Issue 25, item 2: console readers must not hold SMTP intake. A number with
 * 20,000 SMS in a real SQLite ledger, four readers with only the console
 * scope reading deep pages of its history over HTTP without pause, and mails
 * sent meanwhile over SMTP: each DATA's 250 must not wait behind their reads.
 * Before the readers had a connection of their own, every page ran in the
 * ledger thread between group commits, and a DATA waited for the pages queued
 * before it (seconds). The bound is generous (a loaded 2-core machine): a
 * DATA answered within a second, where one deep page alone took about that
 * before and four readers queued several of them ahead of each commit.
 */

const HELPDESK = 'helpdesk-token-with-console-only-0123456789';
const HOT = '+4529999999';
const SMS_OF_HOT = 20_000;
const READERS = 4;
const MAILS = 30;

let dirs: TestDirs;
let t: TestDaemon;
let base: string;

beforeAll(async () => {
  dirs = writeConfig({
    main: {
      http: {
        listen: '127.0.0.1:0',
        console: { enabled: true },
        tokens: [{ name: 'helpdesk', sha256: createHash('sha256').update(HELPDESK).digest('hex'), scopes: ['console'] }],
      },
      log: { level: 'warn' },
    },
    setups: [alertsSetup({ cooldown: 'off' })],
  });
  // In a process of its own (bench/hot-number.ts says why).
  execFileSync(process.execPath, ['dist/bench/hot-number.js', dirs.dbFile, HOT, String(SMS_OF_HOT)], { stdio: 'inherit' });
  t = await startTestDaemon(dirs);
  base = `http://127.0.0.1:${t.daemon.ports.http}`;
}, 120_000);

afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

/** A deep page of the hot number's history, as an old bookmark names it (page 199 of 200). */
const DEEP_PAGE = `/console/numbers/${encodeURIComponent(HOT)}?page=199`;

async function readPage(path: string): Promise<number> {
  const response = await fetch(base + path, { headers: { authorization: `Bearer ${HELPDESK}` } });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Sends mails over one connection, one after the other; DATA→final reply of
 * each (ms). A reply that never comes (the client gives up after 30 s) ends
 * the run and counts as 30 s.
 */
async function dataLatencies(recipients: string[], tag: string): Promise<number[]> {
  const client = new SmtpConnection(t.smtpPort);
  await client.open();
  const latencies: number[] = [];
  try {
    for (const [i, rcpt] of recipients.entries()) {
      const mail = loadMail({ to: `${rcpt}@sms.example.test`, messageId: `${tag}-${i}@example.test`, text: `disk ${tag} ${i}` });
      const sent = await client.send('ops@example.test', `${rcpt}@sms.example.test`, Buffer.from(mail, 'latin1')).catch(() => undefined);
      if (!sent) {
        latencies.push(30_000);
        break;
      }
      expect(sent.reply.code, sent.reply.text).toBe(250);
      latencies.push(sent.latencyMs as number);
    }
  } finally {
    await client.quit();
  }
  return latencies;
}

const summary = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN;
  return { p50: +at(0.5).toFixed(1), p99: +at(0.99).toFixed(1), max: +at(1).toFixed(1) };
};

describe('console readers and SMTP intake', () => {
  it('four console readers of deep history pages do not hold a DATA reply behind their reads', async () => {
    const numbers = danishNumbers(2 * MAILS, 4520300000);
    // Alone: one deep page, then intake with no reader.
    const pageStarted = performance.now();
    expect(await readPage(DEEP_PAGE)).toBe(200);
    const deepPageMs = performance.now() - pageStarted;
    const unloaded = await dataLatencies(numbers.slice(0, MAILS), 'quiet');

    // Four readers without pause while the same number of mails is sent.
    let reading = true;
    const pages: number[] = [];
    const readers = Array.from({ length: READERS }, async () => {
      while (reading) {
        const started = performance.now();
        const status = await readPage(DEEP_PAGE);
        pages.push(performance.now() - started);
        expect([200, 503]).toContain(status);
      }
    });
    let loaded: number[];
    try {
      // Every reader has a page on its way before the first mail.
      await new Promise((resolve) => setTimeout(resolve, 200));
      loaded = await dataLatencies(numbers.slice(MAILS), 'busy');
    } finally {
      reading = false;
      await Promise.all(readers);
    }

    const report = { deepPageAloneMs: +deepPageMs.toFixed(1), pages: { count: pages.length, ...summary(pages) }, unloaded: summary(unloaded), withReaders: summary(loaded) };
    process.stdout.write(`console readers vs DATA→250 (ms): ${JSON.stringify(report)}\n`);
    expect(pages.length).toBeGreaterThanOrEqual(READERS);
    expect(Math.max(...loaded)).toBeLessThan(1000);
  }, 180_000);
});
