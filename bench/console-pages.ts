/*
 * Console page times on a large ledger.
 *
 *   npm run build && node dist/bench/console-pages.js [--outbox 2000000] [--requests 200] [--db path] [--keep]
 *
 * Generates a ledger (migrations applied, then bulk rows written straight
 * into SQLite): --outbox outbox rows over half as many messages, two events
 * per row, a receipt and a send for every row that went out, and some consent
 * changes: about five rows per outbox row, so the default is ~10^7 rows. One
 * number is "hot" (5,000 rows) and one "deep" (20,000 SMS, bench/hot-number.ts)
 * for the worst history pages: its page 199 by key (?before=, what the
 * console links to) and by an old ?page=199 bookmark. Then it starts the real
 * ledger thread, the console's reader threads and the HTTP listener on that
 * file, as the daemon wires them, and asks each page --requests times, one at
 * a time, over loopback, printing p50/p95/p99/max per page. Timings are
 * printed, never asserted.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { migrate, openDatabase, type Db } from '../src/ledger/sqlite/db.js';
import { startLedgerThread } from '../src/ledger/sqlite/thread.js';
import { startLedgerReaders } from '../src/ledger/sqlite/readers.js';
import { fillHotNumber } from './hot-number.js';
import { createHttpApi } from '../src/http/server.js';
import { createConsole, CONSOLE_PREFIX } from '../src/http/console/console.js';
import { createLogger } from '../src/core/log.js';
import { systemClock } from '../src/core/clock.js';
import type { SmsProvider } from '../src/providers/types.js';

const { values: args } = parseArgs({
  options: {
    outbox: { type: 'string', default: '2000000' },
    requests: { type: 'string', default: '200' },
    db: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const OUTBOX = Number(args.outbox);
const REQUESTS = Number(args.requests);
const NUMBERS = Math.min(899_999, Math.max(1000, Math.floor(OUTBOX / 10)));
const HOT = '+4529999999';
const DEEP = '+4529999998';
const DEEP_SMS = 20_000;
const SETUPS = ['alerts', 'billing', 'newsletter', 'oncall', 'shop'];
const DAY = 86_400_000;
const TOKEN = 'bench-console-token-0123456789';
const now = Date.now();

const numberOf = (i: number) => `+4522${100_000 + (i % NUMBERS)}`;
const queueIdOf = (m: number) => `B${m.toString(36).toUpperCase().padStart(8, '0')}`;

/** Deterministic pseudo-random in [0, 1) so two runs build the same ledger. */
function random(seed: number): number {
  const x = Math.sin(seed * 12.9898) * 43758.5453;
  return x - Math.floor(x);
}

function statusOf(i: number): { status: string; reason: string | null } {
  const r = random(i);
  if (r < 0.02) return { status: 'queued', reason: r < 0.005 ? 'HTTP 503 from provider' : null };
  if (r < 0.021) return { status: 'sending', reason: null };
  if (r < 0.05) return { status: 'failed', reason: `provider: failed (E${Math.floor(r * 1000) % 7})` };
  if (r < 0.08) return { status: 'suppressed', reason: r < 0.07 ? 'cooldown' : 'opted_out' };
  if (r < 0.1) return { status: 'sent', reason: null };
  return { status: 'delivered', reason: null };
}

function generate(db: Db): void {
  db.pragma('synchronous = OFF');
  db.pragma('journal_mode = OFF');
  const insert = {
    message: db.prepare(
      `INSERT INTO messages (id, received_at, setup_id, mail_from, body_hash, session_ref, sender_name, sms_text, encoding, segments, characters, send_at)
       VALUES (?, ?, ?, ?, '', ?, 'Example', ?, 'GSM-7', 1, 60, ?)`,
    ),
    outbox: db.prepare(
      `INSERT INTO outbox (id, message_id, recipient, status, reason, idempotency_key, created_at, updated_at, next_attempt_at, lease_until, attempts,
         provider_message_id, sent_at, final_at, setup_id)
       VALUES (@id, @queueId, @recipient, @status, @reason, @key, @createdAt, @createdAt, @next, @lease, @attempts, @providerId, @sentAt, @finalAt, @setupId)`,
    ),
    event: db.prepare('INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
    receipt: db.prepare(`INSERT INTO receipts (received_at, provider_message_id, status, outcome, body) VALUES (?, ?, 'delivered', 'applied', '{}')`),
    send: db.prepare(`INSERT INTO sends (recipient, channel, outbox_id, setup_id, state, reserved_at, sent_at) VALUES (?, 'email', ?, ?, 'sent', ?, ?)`),
    consent: db.prepare(
      `INSERT INTO consent_events (at, recorded_at, recipient, purpose, action, source, evidence) VALUES (?, ?, ?, '', 'opt_out', 'sms', 'SMS "STOP" (keyword STOP)')`,
    ),
  };
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const m = Math.floor(i / 2);
      const queueId = queueIdOf(m);
      const createdAt = now - Math.floor(random(m + 0.5) * 30 * DAY);
      const setupId = SETUPS[m % SETUPS.length] as string;
      const scheduled = random(i + 0.25) < 0.3;
      if (i % 2 === 0) {
        insert.message.run(queueId, createdAt, setupId, `app${m % 50}@example.test`, `s${m.toString(36)}.1`, `Alert ${m}: disk usage on host ${m % 997} above 90%`, scheduled ? now + DAY : null);
      }
      const { status, reason } = statusOf(i);
      const recipient = i % 400 === 0 ? HOT : numberOf(i);
      const out = status === 'delivered' || status === 'sent';
      const final = status === 'delivered' || status === 'failed' || status === 'suppressed';
      insert.outbox.run({
        id: i + 1, queueId, recipient, status, reason, key: `${queueId}.${i % 2}`, createdAt, setupId,
        next: status === 'queued' ? (scheduled ? now + DAY : reason ? now + 60_000 : now - 1000) : null,
        lease: status === 'sending' ? now + 30_000 : null, attempts: status === 'queued' ? (reason ? 2 : 0) : 1,
        providerId: out || status === 'failed' ? `p${i}` : null, sentAt: out ? createdAt + 800 : null, finalAt: final ? createdAt + 2000 : null,
      });
      insert.event.run(createdAt + 100, i + 1, queueId, 'claimed', 'attempt 1');
      insert.event.run(createdAt + 2000, i + 1, queueId, status, reason);
      if (out) {
        insert.receipt.run(createdAt + 2000, `p${i}`);
        insert.send.run(recipient, i + 1, setupId, createdAt, createdAt + 800);
      }
      if (i % 1000 === 0) insert.consent.run(createdAt, createdAt, recipient);
    }
  });
  const started = performance.now();
  for (let from = 0; from < OUTBOX; from += 50_000) {
    batch(from, Math.min(OUTBOX, from + 50_000));
    if (from % 500_000 === 0) process.stdout.write(`  ${from.toLocaleString('en')} outbox rows (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  db.exec('ANALYZE');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-console-bench-'));
  const path = args.db ?? join(dir, 'ledger.db');
  if (!existsSync(path)) {
    process.stdout.write(`generating ${OUTBOX.toLocaleString('en')} outbox rows into ${path}\n`);
    const db = openDatabase(path);
    migrate(db);
    generate(db);
    fillHotNumber(db, { recipient: DEEP, count: DEEP_SMS, newest: now - 3_600_000, prefix: 'Z' });
    db.close();
  }
  const check = openDatabase(path);
  const tables = ['messages', 'outbox', 'events', 'receipts', 'sends', 'consent_events'];
  const counts = Object.fromEntries(tables.map((t) => [t, (check.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n]));
  check.close();
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  process.stdout.write(`ledger: ${total.toLocaleString('en')} rows ${JSON.stringify(counts)}\n`);

  const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, done) => done() }) });
  const ledger = await startLedgerThread({ path, bookkeepingDelayMs: 10, logLevel: 'warn', logger });
  // As the daemon wires it: pages read on the reader threads' own connections, never the ledger thread's.
  const readers = startLedgerReaders({ path, logger });
  const opsConsole = createConsole({
    ledger: readers, tokens: () => [{ name: 'bench', sha256: createHash('sha256').update(TOKEN).digest('hex'), scopes: ['console:pii'] }],
    setups: () => [], status: () => ({ startedAt: now, pid: process.pid, host: 'bench', ledger: { backend: 'sqlite', path }, dispatching: true }),
    refusals: () => ({}), secure: () => false, clock: systemClock, logger,
  });
  // The bench never posts receipts or inbound SMS: the provider is never called.
  const provider = {} as SmsProvider;
  const http = createHttpApi({ listen: { host: '127.0.0.1', port: 0 }, ledger, provider, logger, mounts: [{ prefix: CONSOLE_PREFIX, handle: opsConsole.handle }] });
  const port = await http.start();
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  // The key of page 199 of the deep number, as page 198's "older" link (Link header) gives it.
  const page198 = await fetch(`${base}/console/numbers/${DEEP}?page=198`, { headers: auth });
  await page198.arrayBuffer();
  const deepKey = /<([^>]+)>/.exec(page198.headers.get('link') ?? '')?.[1];
  if (!deepKey) throw new Error('page 198 of the deep number has no next page');

  const pages: [string, (i: number) => string][] = [
    ['overview', () => '/console/'],
    ['queue, first page', () => '/console/queue'],
    ['queue, page 20', (i) => `/console/queue?after=${now - 1000}.${1 + i * 97}`],
    ['number', (i) => `/console/numbers/${numberOf(i * 7919)}`],
    ['number, hot (5,000 rows), page 1', () => `/console/numbers/${HOT}`],
    ['number, hot, page 40 (old ?page=)', () => `/console/numbers/${HOT}?page=40`],
    ['number, 20,000 SMS, page 1', () => `/console/numbers/${DEEP}`],
    ['number, 20,000 SMS, page 199 by key', () => deepKey],
    ['number, 20,000 SMS, ?page=199 (old)', () => `/console/numbers/${DEEP}?page=199`],
    ['consent', (i) => `/console/consent/${numberOf(i * 1000)}`],
    ['mail', (i) => `/console/mails/${queueIdOf((i * 104_729) % (OUTBOX / 2))}`],
    ['search by ref', (i) => `/console/search?q=${encodeURIComponent(`[ref s${((i * 7) % (OUTBOX / 2)).toString(36)}.1]`)}`],
    ['overview as JSON', () => '/console/?format=json'],
  ];
  const all: number[] = [];
  process.stdout.write(`\n${'page'.padEnd(40)} ${'p50'.padStart(8)} ${'p95'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}  (ms, ${REQUESTS} requests each)\n`);
  for (const [name, pathOf] of pages) {
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const started = performance.now();
      const response = await fetch(base + pathOf(i), { headers: auth, redirect: 'manual' });
      await response.arrayBuffer();
      times.push(performance.now() - started);
      if (response.status >= 400) throw new Error(`${pathOf(i)}: ${response.status}`);
    }
    times.sort((a, b) => a - b);
    all.push(...times);
    const cell = (p: number) => percentile(times, p).toFixed(1).padStart(8);
    process.stdout.write(`${name.padEnd(40)} ${cell(50)} ${cell(95)} ${cell(99)} ${times[times.length - 1]?.toFixed(1).padStart(8)}\n`);
  }
  all.sort((a, b) => a - b);
  process.stdout.write(`${'all pages'.padEnd(40)} ${percentile(all, 50).toFixed(1).padStart(8)} ${percentile(all, 95).toFixed(1).padStart(8)} ${percentile(all, 99).toFixed(1).padStart(8)} ${all[all.length - 1]?.toFixed(1).padStart(8)}\n`);

  await http.stop();
  await readers.close();
  await ledger.close();
  if (!args.keep && !args.db) rmSync(dir, { recursive: true, force: true });
  else process.stdout.write(`kept ${path}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
  process.exit(1);
});
