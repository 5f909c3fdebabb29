import pg from 'pg';
import { connectionOptions } from '../src/ledger/postgres/pool.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, SIM_SECRET, simulatorMessages, simulatorStats, waitFor, writeConfig, type TestDirs } from './helpers.js';
import { danishNumbers, loadMail, sendBatch, type BatchItem } from './load.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';
import { freePort, startProcess, type Proc } from './process.js';

/*
 * Several daemons, one PostgreSQL ledger: each daemon and the provider
 * simulator are separate OS processes (kill -9 kills one daemon only), on a
 * throwaway PostgreSQL started for this file, a fresh database per test.
 */

let server: TestPostgres;
let sim: Proc;
let simUrl: string;
let simPort: number;
let inboundPort: number;
const procs: Proc[] = [];
const dirs: TestDirs[] = [];

beforeAll(async () => {
  server = await startTestPostgres();
  [simPort, inboundPort] = [await freePort(), await freePort()];
  sim = startProcess(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10',
    '--inbound-url', `http://127.0.0.1:${inboundPort}/inbound`]);
  await sim.waitForLog('provider simulator ready');
  simUrl = `http://127.0.0.1:${simPort}`;
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  for (const d of dirs.splice(0)) d.cleanup();
  await putFaults({});
});
afterAll(async () => {
  await sim.kill('SIGTERM');
  await server.stop();
});

async function putFaults(faults: Record<string, unknown>): Promise<void> {
  expect((await fetch(`${simUrl}/faults`, { method: 'PUT', body: JSON.stringify(faults) })).status).toBe(200);
}

interface Node {
  proc: Proc;
  smtp: number;
  configFile: string;
}

/** A daemon's config on the shared database; `httpPort` is fixed so the simulator's receipts reach a restarted daemon. */
function nodeConfig(url: string, httpPort: number, options: { dispatch?: Record<string, unknown>; cooldown?: string } = {}): string {
  const d = writeConfig({
    setups: [alertsSetup({ cooldown: options.cooldown ?? 'off' })],
    provider: { listen: `127.0.0.1:${simPort}`, embedded: false, timeout: '5s' },
    main: {
      storage: { type: 'postgres', url, pool: 12 },
      http: { listen: `127.0.0.1:${httpPort}` },
      dispatch: { poll_interval: '100ms', retry_base: '100ms', lease: '3s', concurrency: 8, ...options.dispatch },
      log: { level: 'info' },
    },
  });
  dirs.push(d);
  return d.configFile;
}

async function startNode(configFile: string): Promise<Node> {
  const proc = startProcess(['serve', '-c', configFile]);
  procs.push(proc);
  const ready = await proc.waitForLog('mail2sms ready', 30_000);
  return { proc, smtp: (ready.ports as { smtp: number }).smtp, configFile };
}

/** Two daemons on one fresh database; A's HTTP port is where the simulator delivers inbound SMS. */
async function startPair(options: { dispatch?: Record<string, unknown>; cooldown?: string } = {}) {
  const url = await server.createDatabase();
  // Started together: the migrations' lock lets one migrate while the other waits.
  const [a, b] = await Promise.all([startNode(nodeConfig(url, inboundPort, options)), startNode(nodeConfig(url, await freePort(), options))]);
  return { url, a, b };
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(connectionOptions(url));
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

const mails = (numbers: string[], tag: string): BatchItem[] =>
  numbers.map((to, i) => ({ rcpt: `${to}@sms.example.test`, message: loadMail({ to: `${to}@sms.example.test`, messageId: `${tag}-${i}@example.test`, text: `${tag} ${i}` }) }));

const sentTo = async (numbers: Set<string>) => (await simulatorMessages(simUrl)).filter((m) => numbers.has(m.to));

describe('two daemons on one PostgreSQL ledger', () => {
  it('fifty parallel mails to one number, spread over both daemons: exactly one SMS', async () => {
    const { url, a, b } = await startPair({ cooldown: '10m' });
    const number = '+4520300001';
    const items = mails(Array.from({ length: 50 }, () => number), `race-${Date.now()}`);
    const replies = (await Promise.all([sendBatch(a.smtp, items.slice(0, 25), 25), sendBatch(b.smtp, items.slice(25), 25)])).flat();
    expect(replies.map((r) => r?.code)).toEqual(Array(50).fill(250));
    await waitFor(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM outbox WHERE status IN ('queued', 'sending')`))[0]?.n === 0, 'every row settled', 60_000);
    const rows = await query<{ status: string; reason: string | null }>(url, 'SELECT status, reason FROM outbox WHERE recipient = $1', [number]);
    expect(rows.filter((r) => r.status === 'suppressed' && r.reason === 'cooldown')).toHaveLength(49);
    expect(rows.filter((r) => r.status === 'sent' || r.status === 'delivered')).toHaveLength(1);
    expect(await sentTo(new Set([number]))).toHaveLength(1);
  }, 120_000);

  it('a STOP at daemon A while both dispatch a burst to that number: no provider call after the opt-out commit', async () => {
    const { url, b } = await startPair();
    const number = '+4520300002';
    // Calls to one number take turns (each holds the number's lock while it runs): the burst lasts rows × latency.
    await putFaults({ latency_ms: 20 });
    const rows = 200;
    const replies = await sendBatch(b.smtp, mails(Array.from({ length: rows }, () => number), `stop-${Date.now()}`), 16);
    expect(replies.every((r) => r?.code === 250)).toBe(true);
    await waitFor(async () => (await sentTo(new Set([number]))).length >= 10, 'some SMS sent');
    // The simulator delivers the STOP to daemon A's /inbound and passes A's answer back (after A's commit).
    const stop = await fetch(`${simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: number, text: 'STOP' }) });
    expect(stop.status).toBe(200);
    await waitFor(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM outbox WHERE status IN ('queued', 'sending')`))[0]?.n === 0, 'every row settled', 60_000);
    const [commit] = await query<{ at: number }>(url,
      `SELECT (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::float8 AS at FROM consent_events WHERE recipient = $1 AND action = 'opt_out'`, [number]);
    const calls = await sentTo(new Set([number]));
    const late = calls.filter((m) => m.received_at_ms >= commit!.at);
    const outcome = await query<{ status: string; n: number }>(url, 'SELECT status, count(*)::int AS n FROM outbox WHERE recipient = $1 GROUP BY status', [number]);
    const count = (s: string) => outcome.find((o) => o.status === s)?.n ?? 0;
    console.log(`[pg stop race] ${calls.length} calls before the opt-out commit, ${count('suppressed')} suppressed, ${late.length} calls after it`);
    expect(late).toEqual([]);
    expect(count('suppressed')).toBeGreaterThan(0);
    expect(count('sent') + count('delivered') + count('suppressed')).toBe(rows);
    expect(calls).toHaveLength(count('sent') + count('delivered'));
  }, 180_000);

  it('kill -9 of one daemon under load (2,000 mails over two daemons), restart: every accepted mail sent exactly once', async () => {
    const { url, a, b } = await startPair();
    await putFaults({ latency_ms: 25 });
    const total = 2000;
    const numbers = danishNumbers(total, 4520400000);
    const items = mails(numbers, `crash-${Date.now()}`);
    const half = total / 2;
    const killAfter = Math.floor(total * (0.1 + 0.5 * Math.random()));
    const watchNumbers = new Set(numbers);
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        if ((await sentTo(watchNumbers)).length >= killAfter) {
          a.proc.child.kill('SIGKILL');
          await a.proc.exited;
          return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return false;
    })();
    const [toA, toB] = await Promise.all([sendBatch(a.smtp, items.slice(0, half), 8), sendBatch(b.smtp, items.slice(half), 8)]);
    expect([...toA, ...toB].every((r) => r === undefined || r.code === 250)).toBe(true);
    await waitFor(() => Promise.race([killer, new Promise<false>((r) => setTimeout(() => r(false), 50))]), 'the kill', 120_000);
    stop = true;
    await putFaults({});
    const restarted = await startNode(a.configFile);
    procs.push(restarted.proc);
    const unanswered = items.slice(0, half).filter((_, i) => toA[i] === undefined);
    const resent = await sendBatch(restarted.smtp, unanswered, 8);
    expect(resent.every((r) => r?.code === 250)).toBe(true);
    const sent = await waitFor(async () => {
      const list = await sentTo(watchNumbers);
      return list.length >= total ? list : undefined;
    }, `${total} SMS at the simulator`, 90_000);
    await waitFor(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM outbox WHERE status NOT IN ('sent', 'delivered')`))[0]?.n === 0, 'every row sent', 30_000);
    const perNumber = new Map<string, number>();
    for (const sms of sent) perNumber.set(sms.to, (perNumber.get(sms.to) ?? 0) + 1);
    expect(numbers.filter((n) => perNumber.get(n) !== 1)).toEqual([]);
    const rows = await query<{ recipient: string; attempts: number }>(url, 'SELECT recipient, attempts FROM outbox');
    expect(rows).toHaveLength(total);
    expect(new Set(rows.map((r) => r.recipient)).size).toBe(total);
    console.log(`[pg crash] killed A after ${killAfter} sends; resent by client ${unanswered.length}; rows with >1 attempt ${rows.filter((r) => r.attempts > 1).length}; simulator duplicates ${(await simulatorStats(simUrl)).duplicates}`);
  }, 300_000);

  it('dispatch.rate_limit holds across two daemons (one elected dispatcher); the other takes over when it is killed', async () => {
    const rate = 20;
    const { url, a, b } = await startPair({ dispatch: { rate_limit: rate } });
    const leader = await waitFor(() => [a, b].find((n) => n.proc.lines.some((l) => l.includes('elected dispatcher'))), 'a dispatcher elected');
    const follower = leader === a ? b : a;
    const total = 120;
    const numbers = danishNumbers(total, 4520500000);
    const items = mails(numbers, `rate-${Date.now()}`);
    const replies = (await Promise.all([sendBatch(a.smtp, items.slice(0, total / 2), 8), sendBatch(b.smtp, items.slice(total / 2), 8)])).flat();
    expect(replies.every((r) => r?.code === 250)).toBe(true);
    const watch = new Set(numbers);
    await waitFor(async () => (await sentTo(watch)).length >= 40, '40 SMS sent', 30_000);
    leader.proc.child.kill('SIGKILL');
    await leader.proc.exited;
    await follower.proc.waitForLog('elected dispatcher: this daemon sends for the organisation (dispatch.rate_limit)', 30_000);
    const sent = await waitFor(async () => {
      const list = await sentTo(watch);
      return list.length >= total ? list : undefined;
    }, `${total} SMS`, 60_000);
    await waitFor(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM outbox WHERE status NOT IN ('sent', 'delivered')`))[0]?.n === 0, 'every row sent', 30_000);
    expect(new Set(sent.map((m) => m.to)).size).toBe(total);
    // The most arrivals in any one-second window (sliding over every arrival).
    const times = sent.map((m) => m.received_at_ms).sort((x, y) => x - y);
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    console.log(`[pg rate limit] ${total} SMS, rate_limit ${rate}/s, busiest second ${busiest}; takeover after kill -9 of the elected dispatcher`);
    // The pacer caps the starts in any second, and the newly elected daemon waits out the last one's second; two daemons unelected would reach ~2 × rate.
    expect(busiest).toBeLessThanOrEqual(rate);
  }, 120_000);
});
