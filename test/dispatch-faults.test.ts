import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import Database from 'better-sqlite3';
import { alertsSetup, sendMail, SIM_SECRET, simulatorMessages, simulatorStats, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';
import { danishNumbers, loadMail, sendBatch } from './load.js';
import { freePort, startProcess } from './process.js';
import type { SimulatedSms } from '../src/simulator/server.js';
import { rowEventsSql } from '../src/ledger/row-events.js';

/*
 * Dispatch under provider faults (issue 6): the real daemon with its embedded
 * simulator over HTTP, faults switched on with PUT /faults, outcomes read from
 * the simulator's log of accepted sends and from the ledger file.
 */

let dirs: TestDirs | undefined;
let daemon: TestDaemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  dirs?.cleanup();
  dirs = undefined;
});

async function start(dispatch: Record<string, unknown>, setup: Record<string, unknown> = { cooldown: 'off' }, provider?: Record<string, unknown>): Promise<TestDaemon> {
  dirs = writeConfig({
    ...(provider ? { provider } : {}),
    setups: [alertsSetup(setup)],
    main: { dispatch: { poll_interval: '100ms', retry_base: '100ms', ...dispatch }, log: { level: 'info' } },
  });
  daemon = await startTestDaemon(dirs);
  return daemon;
}

async function putFaults(d: TestDaemon, faults: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${d.simUrl}/faults`, { method: 'PUT', body: JSON.stringify(faults) });
  expect(response.status, await response.clone().text()).toBe(200);
}

/** One mail per number over a few raw SMTP connections; every mail must be answered 250. */
async function burst(d: TestDaemon, numbers: string[], tag: string): Promise<void> {
  const items = numbers.map((to, i) => ({
    rcpt: `${to}@sms.example.test`,
    message: loadMail({ to: `${to}@sms.example.test`, messageId: `${tag}-${i}-${Date.now()}@example.test`, text: `${tag} ${i}` }),
  }));
  const replies = await sendBatch(d.smtpPort, items, 8);
  expect(replies.map((r) => r?.code).filter((code) => code !== 250), 'mails not answered 250').toEqual([]);
}

interface Row {
  id: number;
  recipient: string;
  status: string;
  reason: string | null;
  attempts: number;
}

function query<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(dirs!.dbFile, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const rows = () => query<Row>('SELECT id, recipient, status, reason, attempts FROM outbox ORDER BY id');

async function settled(count: number, what: string, timeoutMs: number, final = ['delivered', 'failed']): Promise<Row[]> {
  return waitFor(() => {
    const all = rows();
    return all.length === count && all.every((r) => final.includes(r.status)) ? all : undefined;
  }, what, timeoutMs);
}

function perNumber(messages: SimulatedSms[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const sms of messages) counts.set(sms.to, (counts.get(sms.to) ?? 0) + 1);
  return counts;
}

async function metric(d: TestDaemon, line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${d.daemon.ports.http}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

// 30 000 (the 30 s) was run by hand; CI uses a shorter outage.
const OUTAGE_MS = Number(process.env.MAIL2SMS_OUTAGE_MS ?? 6000);

describe('provider outage during a burst', () => {
  it(`200 mails during a ${OUTAGE_MS} ms outage all end delivered, each number once, after retries`, async () => {
    const d = await start({ retry_max: '3s', concurrency: 8 });
    const outageUntil = Date.now() + OUTAGE_MS;
    await putFaults(d, { outage_until: outageUntil });
    const numbers = danishNumbers(200);
    await burst(d, numbers, 'outage');
    const acceptedBy = Date.now();

    const final = await settled(numbers.length, 'all 200 rows final', OUTAGE_MS + 45_000);
    expect(final.filter((r) => r.status !== 'delivered')).toEqual([]);
    const messages = await simulatorMessages(d.simUrl);
    const counts = perNumber(messages);
    expect(numbers.filter((n) => counts.get(n) !== 1)).toEqual([]);
    expect(messages).toHaveLength(numbers.length);
    expect((await simulatorStats(d.simUrl)).duplicates).toBe(0);
    // Nothing got through while the provider was down.
    expect(messages.filter((m) => m.received_at_ms < outageUntil)).toEqual([]);

    const retries = query<{ outbox_id: number; detail: string }>(`SELECT outbox_id, detail FROM events WHERE type = 'retry'`);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((e) => e.detail.includes('HTTP 503'))).toBe(true);
    expect(await metric(d, 'mail2sms_dispatch_total{result="retry"}')).toBe(retries.length);
    const attempts = final.map((r) => r.attempts);
    const lastArrival = Math.max(...messages.map((m) => m.received_at_ms));
    console.log(
      `[outage] ${OUTAGE_MS} ms outage, ${numbers.length} mails (all accepted ${Math.max(0, outageUntil - acceptedBy)} ms before its end): ` +
        `${retries.length} retries on ${new Set(retries.map((e) => e.outbox_id)).size} rows, attempts max ${Math.max(...attempts)}, ` +
        `all at the simulator ${lastArrival - outageUntil} ms after the outage, 0 duplicates`,
    );
  }, OUTAGE_MS + 60_000);
});

describe('provider rate limit, measured at the provider', () => {
  it('no sliding second holds more sends than the limit, not even the first', async () => {
    const rate = 100;
    // The simulator in a process of its own: one inside the daemon would stamp
    // arrivals late (and in bunches) while the daemon's event loop is busy with
    // the burst of mail, and the count would measure that, not the limiter.
    const simPort = await freePort();
    const sim = startProcess(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10']);
    const simUrl = `http://127.0.0.1:${simPort}`;
    let d: TestDaemon;
    try {
      await sim.waitForLog('provider simulator ready');
      d = await start({ rate_limit: rate, concurrency: 8 }, { cooldown: 'off' }, { listen: `127.0.0.1:${simPort}`, embedded: false });
    } catch (error) {
      await sim.kill('SIGKILL');
      throw error;
    }
    onTestFinished(async () => void (await sim.kill('SIGKILL')));
    // About three seconds of sends at the limit: the first second (after idle) and two of catching up.
    const numbers = danishNumbers(3 * rate + 20);
    await burst(d, numbers, 'rate');
    const messages = await waitFor(async () => {
      const list = await simulatorMessages(simUrl);
      return list.length >= numbers.length ? list : undefined;
    }, `${numbers.length} SMS at the simulator`, 45_000);
    expect(messages).toHaveLength(numbers.length);
    expect(numbers.filter((n) => perNumber(messages).get(n) !== 1)).toEqual([]);

    // For every send, the sends in the 1000 ms from it (that send included): a count, not a timing.
    const times = messages.map((m) => m.received_at_ms).sort((a, b) => a - b);
    const span = (times[times.length - 1] as number) - (times[0] as number);
    let maxPerSecond = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (j < times.length && (times[j] as number) < (times[i] as number) + 1000) j++;
      maxPerSecond = Math.max(maxPerSecond, j - i);
    }
    // Pacing alone let 105 through at 100/s; a token bucket would allow 2 × rate
    // in the second after an idle one. The pacer caps the starts of the calls.
    console.log(`[rate] limit ${rate}/s, ${times.length} sends over ${span} ms at the simulator: at most ${maxPerSecond} in any sliding second`);
    expect(maxPerSecond).toBeLessThanOrEqual(rate);
  });
});

describe('permanent provider failure', () => {
  it('the refused number ends failed after one call; the other recipients of the mail are delivered', async () => {
    const d = await start({}, { cooldown: '10m' });
    const [bad, good1, good2] = danishNumbers(3) as [string, string, string];
    await putFaults(d, { permanent_for: [bad] });
    const result = await sendMail({
      port: d.smtpPort,
      from: 'ops@example.test',
      to: [good1, bad, good2].map((n) => `${n}@sms.example.test`),
      text: 'permanent',
    });
    expect(result.code).toBe(250);
    const final = await settled(3, 'three rows final', 30_000);
    const byNumber = new Map(final.map((r) => [r.recipient, r]));
    expect(byNumber.get(good1)?.status).toBe('delivered');
    expect(byNumber.get(good2)?.status).toBe('delivered');
    const failed = byNumber.get(bad) as Row;
    expect(failed.status).toBe('failed');
    expect(failed.reason).toContain('HTTP 400');
    // One provider call: one attempt, one claim, no retry.
    expect(failed.attempts).toBe(1);
    const events = query<{ type: string }>('SELECT type FROM events WHERE outbox_id = ? ORDER BY id', failed.id).map((e) => e.type);
    expect(events.filter((t) => t === 'claimed')).toHaveLength(1);
    expect(events).not.toContain('retry');
    expect(events[events.length - 1]).toBe('failed');
    expect(await metric(d, 'mail2sms_dispatch_total{result="failed"}')).toBe(1);
    expect(await metric(d, 'mail2sms_dispatch_total{result="retry"}')).toBe(0);
    // The simulator took the other two only.
    expect((await simulatorMessages(d.simUrl)).map((m) => m.to).sort()).toEqual([good1, good2].sort());
    // A row that fails for good releases its cooldown reservation.
    expect(query<{ state: string }>('SELECT state FROM sends WHERE outbox_id = ?', failed.id).map((s) => s.state)).toEqual(['released']);
  });
});

describe('429 with Retry-After', () => {
  it('every mail is delivered, and no row is tried again before Retry-After has passed', async () => {
    const d = await start({ concurrency: 8 });
    // Seeded: the same sends are answered 429 on every run.
    await putFaults(d, { rate_429: 0.3, retry_after_s: 1, seed: 6 });
    const numbers = danishNumbers(40);
    await burst(d, numbers, 'r429');
    const final = await settled(numbers.length, 'all 40 rows final', 45_000);
    expect(final.filter((r) => r.status !== 'delivered')).toEqual([]);
    const messages = await simulatorMessages(d.simUrl);
    const counts = perNumber(messages);
    expect(numbers.filter((n) => counts.get(n) !== 1)).toEqual([]);
    const arrival = new Map(messages.map((m) => [m.to, m.received_at_ms]));

    // Each row's claims and retries: its events and the steps of its last attempt, read from the row (src/ledger/row-events.ts).
    const eventsOf = (outboxId: number) =>
      query<{ at: number; type: string; detail: string | null }>(rowEventsSql('@row'), { row: outboxId }).filter((e) => e.type === 'claimed' || e.type === 'retry');
    const recipientOf = new Map(final.map((r) => [r.id, r.recipient]));
    let checked = 0;
    let minGap = Number.POSITIVE_INFINITY;
    for (const [outboxId] of recipientOf) {
      const own = eventsOf(outboxId);
      for (let k = 0; k < own.length; k++) {
        const retry = own[k]!;
        if (retry.type !== 'retry') continue;
        expect(retry.detail).toContain('HTTP 429');
        const claimedBefore = own[k - 1]!;
        const claimedAfter = own[k + 1]!;
        expect([claimedBefore.type, claimedAfter?.type]).toEqual(['claimed', 'claimed']);
        const nextAttempt = Date.parse(/next attempt (\S+)$/.exec(retry.detail ?? '')?.[1] ?? '');
        // The 429 was answered after the claim, so Retry-After counts from later than claimedBefore.at.
        expect(nextAttempt - claimedBefore.at).toBeGreaterThanOrEqual(1000);
        expect(claimedAfter.at).toBeGreaterThanOrEqual(nextAttempt);
        minGap = Math.min(minGap, claimedAfter.at - claimedBefore.at);
        checked++;
      }
      // The accepted send itself came after the last 429's Retry-After.
      const lastRetry = own.filter((e) => e.type === 'retry').pop();
      if (lastRetry) {
        const lastClaimBefore = own[own.indexOf(lastRetry) - 1]!;
        expect(arrival.get(recipientOf.get(outboxId)!)! - lastClaimBefore.at).toBeGreaterThanOrEqual(1000);
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(await metric(d, 'mail2sms_dispatch_total{result="retry"}')).toBe(checked);
    console.log(`[429] ${numbers.length} mails, ${checked} answers 429 (Retry-After 1 s); shortest claim-to-reclaim gap ${minGap} ms; all delivered once`);
  });
});
