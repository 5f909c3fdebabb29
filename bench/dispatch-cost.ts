/*
 * What the daemon's MAIN thread spends per SMS after intake: claiming it from
 * the ledger thread, the provider call out, recording the send, and the three
 * signed part receipts in (HTTP server, signature, parse, ledger call, answer).
 * The daemon's own parts, wired as `serve` wires them (the ledger thread, the
 * simulator provider, the HTTP API with metrics, the dispatcher, a log file at
 * info), in this process; the provider simulator in its own. N SMS are queued
 * through the ledger first (intake is not measured: bench/postfix does that),
 * then dispatch starts and the main thread's CPU (/proc/self/task/PID/stat) is
 * counted until the last part receipt has been answered. Printed, not asserted.
 *
 *   npm run build && node dist/bench/dispatch-cost.js [--sms 5000] [--rounds 3]
 */
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { createMetrics } from '../src/core/metrics.js';
import { createDispatcher } from '../src/dispatch/worker.js';
import { createHttpApi, RECEIPTS_PATH } from '../src/http/server.js';
import { migrate, openDatabase } from '../src/ledger/db.js';
import { startLedgerThread } from '../src/ledger/thread.js';
import type { IntakeMessage } from '../src/ledger/types.js';
import { measureSms } from '../src/message/encoding.js';
import { createSimulatorProvider } from '../src/providers/simulator-client.js';
import { CLI, cpuSeconds, fmt, freePort, getJson, HOST, PARTS_PER_SMS, sleep, startChild, stopChild, waitFor, type SimStats } from './harness.js';

const { values } = parseArgs({ options: { sms: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '3' } } });
const SMS = Number(values.sms);
const ROUNDS = Number(values.rounds);
/** Three GSM segments (153 characters each), as the Postfix bench's truncated alerts. */
const TEXT = 'Disk /var on db-7 is 97 % full; writes will fail within the hour. '.repeat(7).slice(0, 440);

/** User + system CPU seconds of this process's main thread (its task id is the pid). */
function mainThreadSeconds(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function message(i: number): IntakeMessage {
  return {
    setupId: 'alerts',
    senderName: 'Example',
    mailFrom: 'ops@example.test',
    headerMessageId: `<bench-${i}-${randomBytes(4).toString('hex')}@example.test>`,
    bodyHash: randomBytes(8).toString('hex'),
    clientIp: '127.0.0.1',
    sessionRef: `bench.${i}`,
    text: TEXT,
    measure: measureSms(TEXT),
    recipients: [`+4520${String(100000 + i).slice(-6)}`],
    rules: { setupId: 'alerts', cooldownMs: null, purpose: null, dailyLimit: null, numberDailyLimit: null },
    stopClauseAppended: false,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-dispatch-cost-'));
  const dbFile = join(dir, 'mail2sms.db');
  const db = openDatabase(dbFile);
  migrate(db);
  db.close();
  const secret = `bench-secret-${randomBytes(12).toString('hex')}`;
  const simPort = await freePort();
  const sim = startChild('provider-sim', [CLI, 'provider-sim', '--listen', `${HOST}:${simPort}`, '--secret', secret, '--receipt-delay', '0']);
  const simUrl = `http://${HOST}:${simPort}`;
  await waitFor('the simulator /healthz', async () => ((await getJson(`${simUrl}/healthz`)) ? true : undefined), 20_000, sim);
  const logger = createLogger({ level: 'info', fd: openSync(join(dir, 'mail2sms.log'), 'a') });
  const clock = systemClock;
  const ledger = await startLedgerThread({ path: dbFile, bookkeepingDelayMs: 10, logLevel: 'info', logger, clock });
  const provider = createSimulatorProvider({ baseUrl: simUrl, secret, timeoutMs: 10_000, maxSockets: 16, clock });
  const metrics = createMetrics();
  const api = createHttpApi({ listen: { host: HOST, port: 0 }, ledger, provider, logger: logger.child({ stage: 'http' }), clock, metrics });
  const httpPort = await api.start();
  // Claims counted: each is a message to the ledger thread, a commit there and an answer back.
  let claims = 0;
  const claimDue: typeof ledger.claimDue = (limit, leaseMs) => {
    claims++;
    return ledger.claimDue(limit, leaseMs);
  };
  const dispatcher = createDispatcher({
    ledger: { ...ledger, claimDue }, provider, clock, logger: logger.child({ stage: 'dispatch' }), metrics,
    callbackUrl: `http://${HOST}:${httpPort}${RECEIPTS_PATH}`,
    concurrency: 8, pollIntervalMs: 1000, leaseMs: 60_000, maxAttempts: 8, retryBaseMs: 2000,
  });
  ledger.onQueued(() => dispatcher.wake());
  process.stdout.write(`dispatch cost: ${SMS} SMS of ${PARTS_PER_SMS} parts a round, ${ROUNDS} round(s); node ${process.version}\n`);
  const perSms: { main: number; process: number; sim: number }[] = [];
  let sent = 0;
  try {
    for (let round = 1; round <= ROUNDS + 1; round++) {
      // Round 0 warms up (JIT, sockets); it is not counted.
      for (let i = 0; i < SMS; i += 200) await Promise.all(Array.from({ length: Math.min(200, SMS - i) }, (_, k) => ledger.acceptMessage(message(sent + i + k))));
      sent += SMS;
      const [main0, proc0, sim0, claims0] = [mainThreadSeconds(), process.cpuUsage(), cpuSeconds(sim.proc.pid) ?? NaN, claims];
      const started = performance.now();
      dispatcher.start();
      const stats = await waitFor('every receipt answered', async () => {
        const s = (await getJson(`${simUrl}/stats`)) as SimStats | undefined;
        return s && s.receipts_posted >= sent * PARTS_PER_SMS ? s : undefined;
      }, 600_000, sim, 250);
      const seconds = (performance.now() - started) / 1000;
      await dispatcher.stop();
      const proc = process.cpuUsage(proc0);
      const cost = { main: ((mainThreadSeconds() - main0) * 1e6) / SMS, process: (proc.user + proc.system) / SMS, sim: (((cpuSeconds(sim.proc.pid) ?? NaN) - sim0) * 1e6) / SMS };
      const label = round === 1 ? 'warmup' : `round ${round - 1}`;
      process.stdout.write(
        `  ${label.padEnd(8)} ${fmt(SMS / seconds, 0).padStart(5)} SMS/s  main thread ${fmt(cost.main, 0).padStart(4)} µs/SMS  daemon (both threads) ${fmt(cost.process, 0).padStart(4)}  simulator ${fmt(cost.sim, 0)}  claims ${fmt((claims - claims0) / SMS, 2)}/SMS  (at the simulator: ${stats.messages}, duplicates ${stats.duplicates})\n`,
      );
      if (round > 1) perSms.push(cost);
    }
  } finally {
    await api.stop();
    provider.close?.();
    await ledger.close();
    await stopChild(sim);
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  process.stdout.write(
    `median: main thread ${fmt(median(perSms.map((c) => c.main)), 0)} µs per SMS after intake, daemon ${fmt(median(perSms.map((c) => c.process)), 0)}, simulator ${fmt(median(perSms.map((c) => c.sim)), 0)}\n`,
  );
  await sleep(0);
}

await main();
