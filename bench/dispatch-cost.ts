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
 * Alternating with those rounds, the floor of the stack (bench/dispatch-floor.ts):
 * a process that only POSTs each SMS to a node:http provider in its own
 * process and verifies the 3 signed part receipts it posts back, nothing
 * stored; its CPU per SMS, and the daemon's (both threads) ÷ it.
 *
 *   npm run build && node dist/bench/dispatch-cost.js [--sms 5000] [--rounds 3] [--quick]
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { createMetrics } from '../src/core/metrics.js';
import { createDispatcher } from '../src/dispatch/worker.js';
import { createHttpApi, RECEIPTS_PATH } from '../src/http/server.js';
import { migrate, openDatabase } from '../src/ledger/sqlite/db.js';
import { startLedgerThread } from '../src/ledger/sqlite/thread.js';
import type { IntakeMessage } from '../src/ledger/types.js';
import { measureSms } from '../src/message/encoding.js';
import { createSimulatorProvider } from '../src/providers/simulator-client.js';
import { CLI, cpuSeconds, fmt, mainThreadCpuSeconds, freePort, getJson, HOST, jsonLines, PARTS_PER_SMS, sleep, startChild, stopChild, tail, waitFor, type Child, type SimStats } from './harness.js';

const { values } = parseArgs({ options: { sms: { type: 'string' }, rounds: { type: 'string' }, quick: { type: 'boolean', default: false } } });
const SMS = Number(values.sms ?? (values.quick ? 500 : 5000));
const ROUNDS = Number(values.rounds ?? (values.quick ? 1 : 3));
const FLOOR = fileURLToPath(new URL('./dispatch-floor.js', import.meta.url));
/** Three GSM segments (153 characters each), as the Postfix bench's truncated alerts. */
const TEXT = 'Disk /var on db-7 is 97 % full; writes will fail within the hour. '.repeat(7).slice(0, 440);

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

interface FloorCost {
  /** The floor's client + receipt receiver, CPU µs per SMS (all its threads). */
  client: number;
  provider: number;
  smsPerS: number;
}

/** The floor's provider (bench/dispatch-floor.js provider), kept for every round. */
async function startFloorProvider(secret: string): Promise<{ child: Child; url: string }> {
  const child = startChild('dispatch-floor-provider', [FLOOR, 'provider', '--secret', secret]);
  const port = await waitFor('the floor provider port', async () => jsonLines(child).map((l) => l.port).find((p) => typeof p === 'number'), 15_000, child);
  return { child, url: `http://${HOST}:${port as number}` };
}

/** One floor round: a fresh client process sends a warmup, then SMS measured, and prints its cost. */
async function floorRound(provider: { child: Child; url: string }, secret: string): Promise<FloorCost> {
  const warmup = String(Math.min(1000, SMS));
  const args = ['client', '--provider', provider.url, '--provider-pid', String(provider.child.proc.pid), '--secret', secret, '--sms', String(SMS), '--warmup', warmup];
  const client = startChild('dispatch-floor-client', [FLOOR, ...args]);
  const code = await client.exited;
  const result = jsonLines(client).find((l) => typeof l.clientUs === 'number');
  if (code !== 0 || !result) throw new Error(`the floor client failed (exit ${code}):\n${tail(client)}`);
  if (result.receipts !== SMS * PARTS_PER_SMS) throw new Error(`the floor client counted ${String(result.receipts)} receipts, expected ${SMS * PARTS_PER_SMS}`);
  return { client: result.clientUs as number, provider: typeof result.providerUs === 'number' ? result.providerUs : NaN, smsPerS: SMS / (result.seconds as number) };
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
  const floorProvider = await startFloorProvider(secret);
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
  process.stdout.write(`dispatch cost: ${SMS} SMS of ${PARTS_PER_SMS} parts a round, ${ROUNDS} round(s), each with a floor round (alternating order); node ${process.version}\n`);
  const perSms: { main: number; process: number; sim: number }[] = [];
  const floors: FloorCost[] = [];
  let sent = 0;
  const mail2smsRound = async (label: string) => {
    for (let i = 0; i < SMS; i += 200) await Promise.all(Array.from({ length: Math.min(200, SMS - i) }, (_, k) => ledger.acceptMessage(message(sent + i + k))));
    sent += SMS;
    const [main0, proc0, sim0, claims0] = [mainThreadCpuSeconds(process.pid) ?? NaN, process.cpuUsage(), cpuSeconds(sim.proc.pid) ?? NaN, claims];
    const started = performance.now();
    dispatcher.start();
    const stats = await waitFor('every receipt answered', async () => {
      const s = (await getJson(`${simUrl}/stats`)) as SimStats | undefined;
      return s && s.receipts_posted >= sent * PARTS_PER_SMS ? s : undefined;
    }, 600_000, sim, 250);
    const seconds = (performance.now() - started) / 1000;
    await dispatcher.stop();
    const proc = process.cpuUsage(proc0);
    const cost = { main: (((mainThreadCpuSeconds(process.pid) ?? NaN) - main0) * 1e6) / SMS, process: (proc.user + proc.system) / SMS, sim: (((cpuSeconds(sim.proc.pid) ?? NaN) - sim0) * 1e6) / SMS };
    process.stdout.write(
      `  ${label.padEnd(8)} ${fmt(SMS / seconds, 0).padStart(5)} SMS/s  main thread ${fmt(cost.main, 0).padStart(4)} µs/SMS  daemon (both threads) ${fmt(cost.process, 0).padStart(4)}  simulator ${fmt(cost.sim, 0)}  claims ${fmt((claims - claims0) / SMS, 2)}/SMS  (at the simulator: ${stats.messages}, duplicates ${stats.duplicates})\n`,
    );
    return cost;
  };
  const runFloor = async (label: string) => {
    const floor = await floorRound(floorProvider, secret);
    process.stdout.write(`  ${label.padEnd(8)} ${fmt(floor.smsPerS, 0).padStart(5)} SMS/s  floor: client + receipt receiver ${fmt(floor.client, 0).padStart(4)} µs/SMS  its provider ${fmt(floor.provider, 0)}\n`);
    floors.push(floor);
  };
  try {
    // The first round warms up (JIT, sockets); it is not counted.
    await mail2smsRound('warmup');
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternating: the floor goes first in even rounds, so neither always meets the machine first.
      if (round % 2 === 0) await runFloor(`round ${round}`);
      perSms.push(await mail2smsRound(`round ${round}`));
      if (round % 2 === 1) await runFloor(`round ${round}`);
    }
  } finally {
    await api.stop();
    provider.close?.();
    await ledger.close();
    await stopChild(sim);
    await stopChild(floorProvider.child);
    rmSync(dir, { recursive: true, force: true });
  }
  printMedians(perSms, floors);
  await sleep(0);
}

function printMedians(perSms: { main: number; process: number; sim: number }[], floors: FloorCost[]): void {
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const [main, daemon, floor] = [median(perSms.map((c) => c.main)), median(perSms.map((c) => c.process)), median(floors.map((f) => f.client))];
  process.stdout.write(
    `median: main thread ${fmt(main, 0)} µs per SMS after intake, daemon ${fmt(daemon, 0)}, simulator ${fmt(median(perSms.map((c) => c.sim)), 0)}\n`,
  );
  process.stdout.write(
    `floor (node:http client + signed-receipt receiver, nothing stored): ${fmt(floor, 0)} µs per SMS, its provider ${fmt(median(floors.map((f) => f.provider)), 0)}; ` +
      `daemon ÷ floor ${fmt(daemon / floor, 2)}, main thread ÷ floor ${fmt(main / floor, 2)}\n`,
  );
}

await main();
