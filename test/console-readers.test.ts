import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { hotNumberSql } from '../bench/hot-number.js';
import { SmtpConnection } from '../bench/smtp-client.js';
import { loadMail, danishNumbers } from './load.js';
import { alertsSetup, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';
import { CONSOLE_APPLICATION_NAME } from '../src/ledger/postgres/reads.js';

/*
 * Issue 25, item 2: console readers must not hold SMTP intake. A number with
 * 20,000 SMS in a real ledger, four readers with only the console scope
 * reading a deep page of its history (an old `?page=199` bookmark) over HTTP
 * without pause, and mails sent meanwhile over SMTP: each DATA's 250 must not
 * wait behind their reads.
 *
 * SQLite: every page ran in the ledger thread, whose message port serves up
 * to a thousand queued calls before the group commit's turn comes, so while
 * the readers kept asking no DATA was answered at all (no 250 within 30 s;
 * still so with keyset pages, 0.25 s each: the fix is the reader threads).
 * PostgreSQL: the pages shared intake's pool (here 2 connections), so a DATA
 * waited for a connection behind them. The bound is generous for a loaded
 * 2-core machine: a second, where one deep page alone took 1.1 s before.
 */

const HELPDESK = 'helpdesk-token-with-console-only-0123456789';
const HOT = '+4529999999';
const SMS_OF_HOT = 20_000;
const READERS = 4;
const MAILS = 30;
const DEEP_PAGE = `/console/numbers/${encodeURIComponent(HOT)}?page=199`;

let dirs: TestDirs | undefined;
let t: TestDaemon | undefined;
let server: TestPostgres | undefined;

afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
  await server?.stop();
});

function consoleConfig(storage: Record<string, unknown>): TestDirs {
  return writeConfig({
    main: {
      storage,
      http: {
        listen: '127.0.0.1:0',
        console: { enabled: true },
        tokens: [{ name: 'helpdesk', sha256: createHash('sha256').update(HELPDESK).digest('hex'), scopes: ['console'] }],
      },
      log: { level: 'warn' },
    },
    setups: [alertsSetup({ cooldown: 'off' })],
  });
}

async function readPage(daemon: TestDaemon, path: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${daemon.daemon.ports.http}${path}`, { headers: { authorization: `Bearer ${HELPDESK}` } });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Sends mails over one connection, one after the other; DATA→final reply of
 * each (ms). A reply that never comes (the client gives up after 30 s) ends
 * the run and counts as 30 s.
 */
async function dataLatencies(daemon: TestDaemon, recipients: string[], tag: string): Promise<number[]> {
  const client = new SmtpConnection(daemon.smtpPort);
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

/** One deep page alone, intake alone, then intake while four readers read deep pages without pause (`watch` runs meanwhile); prints the numbers. */
async function intakeUnderReaders(daemon: TestDaemon, backend: string, watch: () => Promise<void> = async () => undefined): Promise<number[]> {
  const numbers = danishNumbers(2 * MAILS, 4520300000);
  const pageStarted = performance.now();
  expect(await readPage(daemon, DEEP_PAGE)).toBe(200);
  const deepPageMs = performance.now() - pageStarted;
  const unloaded = await dataLatencies(daemon, numbers.slice(0, MAILS), 'quiet');

  let reading = true;
  const pages: number[] = [];
  const readers = Array.from({ length: READERS }, async () => {
    while (reading) {
      const started = performance.now();
      const status = await readPage(daemon, DEEP_PAGE);
      pages.push(performance.now() - started);
      expect([200, 503]).toContain(status);
    }
  });
  let loaded: number[];
  try {
    // Every reader has a page on its way before the first mail.
    await new Promise((resolve) => setTimeout(resolve, 200));
    [loaded] = await Promise.all([dataLatencies(daemon, numbers.slice(MAILS), 'busy'), watch()]);
  } finally {
    reading = false;
    await Promise.all(readers);
  }
  const report = { deepPageAloneMs: +deepPageMs.toFixed(1), pages: { count: pages.length, ...summary(pages) }, unloaded: summary(unloaded), withReaders: summary(loaded) };
  process.stdout.write(`${backend}: console readers vs DATA→250 (ms): ${JSON.stringify(report)}\n`);
  expect(pages.length).toBeGreaterThanOrEqual(READERS);
  return loaded;
}

describe('console readers and SMTP intake', () => {
  it('SQLite: four console readers of deep history pages do not hold a DATA reply behind their reads', async () => {
    dirs = consoleConfig({ path: 'data/ledger.db' });
    // In a process of its own (bench/hot-number.ts says why).
    execFileSync(process.execPath, ['dist/bench/hot-number.js', dirs.dbFile, HOT, String(SMS_OF_HOT)], { stdio: 'inherit' });
    t = await startTestDaemon(dirs);
    const loaded = await intakeUnderReaders(t, 'sqlite');
    expect(Math.max(...loaded)).toBeLessThan(1000);
    await t.stop();
    dirs.cleanup();
    t = dirs = undefined;
  }, 180_000);

  it('PostgreSQL: the same, with intake\'s pool at its smallest (2 connections)', async () => {
    server = await startTestPostgres();
    const url = await server.createDatabase();
    dirs = consoleConfig({ type: 'postgres', url, pool: 2 });
    t = await startTestDaemon(dirs);
    const fill = new pg.Client({ connectionString: url });
    await fill.connect();
    try {
      await fill.query(hotNumberSql({ recipient: HOT, count: SMS_OF_HOT, newest: Date.now() - 3_600_000 }, 'postgres'));
    } finally {
      await fill.end();
    }
    // Which connections the history pages run on (their SQL names the key's arm), sampled while the readers read: never one of intake's.
    const seen = new pg.Client({ connectionString: url });
    await seen.connect();
    const names = new Set<string>();
    const sample = async () => {
      for (let i = 0; i < 40; i++) {
        const { rows } = await seen.query<{ name: string }>(`SELECT application_name AS name FROM pg_stat_activity WHERE query LIKE '%3 AS arm%' AND pid != pg_backend_pid()`);
        for (const row of rows) names.add(row.name);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    try {
      const loaded = await intakeUnderReaders(t, 'postgres', sample);
      expect(Math.max(...loaded)).toBeLessThan(1000);
    } finally {
      await seen.end();
    }
    expect([...names]).toEqual([CONSOLE_APPLICATION_NAME]);
  }, 180_000);
});
