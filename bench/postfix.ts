/*
 * mail2sms against Postfix's durable queue (the trusted way to script
 * email-to-SMS), with a bare smtp-server that stores nothing as the upper
 * bound: the same client and ~1 KB one-recipient mails (bench/harness.ts)
 * against each, in alternating rounds, at each connection count.
 *
 *   npm run build && npm run bench:postfix -- [--messages 20000] [--warmup 1000] [--rounds 3]
 *       [--connections 20,100] [--targets bare,floor-sqlite-inline,floor-sqlite,postfix,intake,e2e] [--quick]
 *
 * Targets, each a fresh server per run:
 *   bare     bench/bare-smtp-server.js: accepts and discards.
 *   floor-sqlite  the floor of the chosen stack: the same bare smtp-server
 *            hashes each body and stores it as one row in a SQLite file (WAL,
 *            synchronous=FULL, a primary key and one index) in a worker thread,
 *            group-committed per turn, and answers 250 after the commit
 *            (bench/floor-ledger.ts). The least a durable smtp-server +
 *            better-sqlite3 + worker-thread daemon can do per mail.
 *   floor-sqlite-inline  the same with the commit on the SMTP thread (no
 *            worker, no messages): a lower bound.
 *   postfix  a private Postfix (bench/postfix-instance.ts) that fsyncs each
 *            mail into its hold queue before the 250 and delivers nothing.
 *   intake   mail2sms accepting only: each mail asks for a send tomorrow
 *            (X-SMS-Send-At), so nothing is dispatched while it is measured.
 *   e2e      mail2sms end to end: dispatch to the provider simulator (its own
 *            process) while mail comes in, and its 3 part receipts back; the
 *            CPU counts until the last receipt is in.
 * CPU µs per mail is the server's process CPU (user + system, from /proc)
 * over the measured mails ÷ their number; for Postfix the sum over master and
 * every process it forked (smtpd, cleanup, trivial-rewrite, qmgr, postlogd...),
 * exited ones included through their parent's cutime/cstime. mail2sms's CPU
 * is its one process (the ledger and parse threads included); end to end, the
 * simulator's is printed beside it. Each row is the median of the rounds.
 */
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import * as bench from './harness.js';
import type { Measured, PhasePlan, PhaseResult } from './harness.js';
import { postfixUnavailable, startPostfix } from './postfix-instance.js';
import { countStatementsPerSms } from './statements.js';

const TARGETS = ['bare', 'floor-sqlite-inline', 'floor-sqlite', 'postfix', 'intake', 'e2e'] as const;
type Target = (typeof TARGETS)[number];

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '20,100' },
    targets: { type: 'string', default: TARGETS.join(',') },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`usage: node dist/bench/postfix.js [--messages N] [--warmup W] [--rounds R] [--connections 20,100] [--targets ${TARGETS.join(',')}] [--quick]\n`);
  process.exit(0);
}
const quick = args.quick || process.env.BENCH_QUICK === '1';
const whole = (name: string, value: string | undefined, fallback: number, min: number) => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < min) bench.fail(`--${name}: a whole number >= ${min}`);
  return n;
};
const MESSAGES = whole('messages', args.messages, quick ? 2000 : 20000, 1);
const WARMUP = whole('warmup', args.warmup, quick ? 200 : 1000, 0);
const ROUNDS = whole('rounds', args.rounds, 3, 1);
const CONNECTIONS = (args.connections ?? '20,100').split(',').map((c) => whole('connections', c, 20, 1));
const CHOSEN = (args.targets ?? '').split(',').map((t) => t.trim()) as Target[];
if (CHOSEN.some((t) => !TARGETS.includes(t))) bench.fail(`--targets: some of ${TARGETS.join(',')}`);
const DOMAIN = 'sms.example.test';

interface Run {
  target: Target;
  connections: number;
  phase: PhaseResult;
  /** Server CPU seconds over the measured mails (end to end: until the last receipt), by process. */
  cpuS: Map<string, number> | undefined;
  notes: string[];
  ok: boolean;
}

function plan(connections: number, extraHeaders: readonly string[] = []): PhasePlan {
  return { connections, warmup: WARMUP, messages: MESSAGES, rcptDomain: DOMAIN, extraHeaders };
}

/** The server process and, as `main`, its main thread alone (SMTP; the rest is worker threads and V8's). */
const withMainThread = (server: Measured): Measured[] => [server, { name: 'main', pid: server.pid, mainThread: true }];

async function runBare(connections: number): Promise<Run> {
  const { child, port } = await bench.startBare(connections);
  try {
    const { phase, serverCpuS } = await bench.measure([port], NUMBERS, plan(connections), () => withMainThread({ name: 'bare', pid: child.proc.pid }));
    return { target: 'bare', connections, phase, cpuS: serverCpuS, notes: [], ok: phase.accepted === MESSAGES };
  } finally {
    await bench.stopChild(child);
  }
}

/**
 * The floor: the bare server storing each mail durably (bench/floor-ledger.ts).
 * Afterwards the file must hold each mail once: warmup + accepted rows, as
 * many distinct bodies (every mail has its own Message-ID) and queue ids.
 */
async function runFloor(target: 'floor-sqlite' | 'floor-sqlite-inline', connections: number, workDir: string): Promise<Run> {
  const dir = mkdtempSync(join(workDir, `${target}-`));
  const dbFile = join(dir, 'floor.db');
  const store = target === 'floor-sqlite' ? 'sqlite' : 'sqlite-inline';
  const { child, port } = await bench.startBare(connections, [], ['--store', store, '--db', dbFile]);
  try {
    const { phase, serverCpuS } = await bench.measure([port], NUMBERS, plan(connections), () => withMainThread({ name: 'floor', pid: child.proc.pid }));
    const exit = await bench.stopChild(child);
    const stored = countStored(dbFile);
    const expected = WARMUP + phase.accepted;
    const clean = exit === 0 && stored.rows === expected && stored.bodies === expected && stored.queueIds === expected;
    const notes = [`stored: ${stored.rows} rows, ${stored.bodies} distinct bodies, ${stored.queueIds} queue ids (expected ${expected})${exit === 0 ? '' : `; server exit ${exit}`}`];
    return { target, connections, phase, cpuS: serverCpuS, notes, ok: phase.accepted === MESSAGES && clean };
  } finally {
    await bench.stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

function countStored(dbFile: string): { rows: number; bodies: number; queueIds: number } {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare('SELECT count(*) AS rows, count(DISTINCT body_hash) AS bodies, count(DISTINCT queue_id) AS queueIds FROM mails').get() as { rows: number; bodies: number; queueIds: number };
  } finally {
    db.close();
  }
}

async function runPostfix(connections: number, workDir: string): Promise<Run> {
  const dir = mkdtempSync(join(workDir, 'postfix-'));
  const postfix = await startPostfix(dir, await bench.freePort());
  try {
    const servers = (): Measured[] => [{ name: 'postfix', pid: postfix.masterPid, tree: true }];
    const { phase, serverCpuS } = await bench.measure([postfix.port], NUMBERS, plan(connections), servers);
    const held = postfix.held();
    const notes = [`hold queue: ${held} mails (expected ${WARMUP + phase.accepted})`];
    return { target: 'postfix', connections, phase, cpuS: serverCpuS, notes, ok: phase.accepted === MESSAGES && held === WARMUP + phase.accepted };
  } finally {
    await postfix.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runMail2sms(target: 'intake' | 'e2e', connections: number, workDir: string): Promise<Run> {
  const dir = mkdtempSync(join(workDir, `${target}-`));
  mkdirSync(dir, { recursive: true });
  const m2s = await bench.startMail2sms({ dir, ledger: { kind: 'sqlite' }, connections, dispatchRate: 0, logLevel: 'info' });
  try {
    const daemon: Measured = { name: 'daemon', pid: m2s.daemons[0]?.proc.pid };
    const sim: Measured = { name: 'provider-sim', pid: m2s.sim.proc.pid };
    if (target === 'intake') {
      // Due tomorrow: accepted and committed like any other, and nothing dispatched while measured.
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
      const { phase, serverCpuS } = await bench.measure(m2s.smtpPorts, NUMBERS, plan(connections, [`X-SMS-Send-At: ${tomorrow}`]), () => withMainThread(daemon));
      return { target, connections, phase, cpuS: serverCpuS, notes: [], ok: phase.accepted === MESSAGES };
    }
    const measured = (): Measured[] => [...withMainThread(daemon), sim];
    const { phase, cpuAtStart } = await bench.measure(m2s.smtpPorts, NUMBERS, plan(connections), measured, () => bench.dispatchWarmup(m2s, WARMUP));
    const intakeEnd = performance.now();
    const delivery = await bench.awaitDelivery(m2s, WARMUP + phase.accepted);
    const cpuS = bench.cpuSince(measured(), cpuAtStart);
    const notes = [...delivery.problems];
    if (delivery.receiptsAt !== undefined) notes.push(`last receipt ${bench.fmt((delivery.receiptsAt - intakeEnd) / 1000, 1)} s after the last 250`);
    return { target, connections, phase, cpuS, notes, ok: phase.accepted === MESSAGES && delivery.problems.length === 0 };
  } finally {
    await m2s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- reporting

const rateOf = (run: Run) => run.phase.accepted / (run.phase.elapsedMs / 1000);
const p99Of = (run: Run) => bench.percentile(run.phase.latencies, 99);
const usPerMail = (run: Run, name: string) => {
  const s = run.cpuS?.get(name);
  return s === undefined ? NaN : (s * 1e6) / run.phase.accepted;
};
const SERVER: Record<Target, string> = { bare: 'bare', 'floor-sqlite-inline': 'floor', 'floor-sqlite': 'floor', postfix: 'postfix', intake: 'daemon', e2e: 'daemon' };

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const mainOf = (run: Run) => (run.cpuS?.has('main') ? ` (main thread ${bench.fmt(usPerMail(run, 'main'), 0)})` : '');

function printRun(run: Run, round: number): void {
  const sim = run.target === 'e2e' ? ` (+ simulator ${bench.fmt(usPerMail(run, 'provider-sim'), 0)})` : '';
  process.stdout.write(
    `  round ${round} ${run.target.padEnd(19)} c=${String(run.connections).padEnd(3)} ${bench.fmt(rateOf(run), 0).padStart(6)} mails/s  p99 ${bench.fmt(p99Of(run), 1).padStart(6)} ms  ` +
      `CPU ${bench.fmt(usPerMail(run, SERVER[run.target]), 0).padStart(5)} µs/mail${mainOf(run)}${sim}${run.ok ? '' : '  NOT OK'}${run.notes.length ? `  [${run.notes.join('; ')}]` : ''}\n`,
  );
}

const LABEL: Record<Target, string> = {
  bare: 'bare smtp-server (stores nothing)',
  'floor-sqlite-inline': 'floor: smtp-server + 1 durable SQLite row, commit on the SMTP thread',
  'floor-sqlite': 'floor: smtp-server + 1 durable SQLite row in a worker thread',
  postfix: 'Postfix, durable queue (hold)',
  intake: 'mail2sms, intake only',
  e2e: 'mail2sms, intake with dispatch + receipts',
};

function printSummary(runs: Run[]): void {
  process.stdout.write(`\n== medians of ${ROUNDS} round(s), ${MESSAGES} mails each (+${WARMUP} warmup)\n\n`);
  process.stdout.write('| target | connections | mails/s | × Postfix | p99 DATA→250 (ms) | CPU µs per mail |\n|---|---|---|---|---|---|\n');
  for (const connections of CONNECTIONS) {
    const of = (target: Target) => runs.filter((r) => r.target === target && r.connections === connections);
    const postfixRate = median(of('postfix').map(rateOf));
    for (const target of CHOSEN) {
      const mine = of(target);
      if (mine.length === 0) continue;
      const rate = median(mine.map(rateOf));
      const cpu = bench.fmt(median(mine.map((r) => usPerMail(r, SERVER[target]))), 0);
      const simCpu = target === 'e2e' ? ` (end to end; simulator +${bench.fmt(median(mine.map((r) => usPerMail(r, 'provider-sim'))), 0)})` : '';
      process.stdout.write(`| ${LABEL[target]} | ${connections} | ${bench.fmt(rate, 0)} | ${bench.fmt(rate / postfixRate, 2)} | ${bench.fmt(median(mine.map(p99Of)), 1)} | ${cpu}${simCpu} |\n`);
    }
  }
  printMainThreads(runs);
}

/** The main thread's share (SMTP; in mail2sms also the dispatcher and receipts end to end), where a target has one. */
function printMainThreads(runs: Run[]): void {
  for (const connections of CONNECTIONS) {
    const shares = CHOSEN.flatMap((target) => {
      const mine = runs.filter((r) => r.target === target && r.connections === connections && r.cpuS?.has('main'));
      return mine.length ? [`${target} ${bench.fmt(median(mine.map((r) => usPerMail(r, 'main'))), 0)}`] : [];
    });
    if (shares.length) process.stdout.write(`\nmain thread CPU µs per mail at ${connections} connections (medians): ${shares.join(', ')}\n`);
  }
}

/** The ledger's statements per SMS (bench/statements.ts: a real SQLite ledger, one SMS at a time, 3 part receipts). */
async function printStatements(): Promise<void> {
  const counted = await countStatementsPerSms();
  const phases = Object.entries(counted.perSms).map(([phase, n]) => `${phase} ${bench.fmt(n, 1)}`).join(', ');
  process.stdout.write(`\nstatements per SMS (SQLite ledger, 1 recipient, 3 parts): ${bench.fmt(counted.total, 1)} (${phases})\n`);
}

// ---------------------------------------------------------------- main

const NUMBERS = bench.danishNumbers(WARMUP + MESSAGES);

async function runOne(target: Target, connections: number, workDir: string): Promise<Run> {
  if (target === 'bare') return runBare(connections);
  if (target === 'postfix') return runPostfix(connections, workDir);
  if (target === 'floor-sqlite' || target === 'floor-sqlite-inline') return runFloor(target, connections, workDir);
  return runMail2sms(target, connections, workDir);
}

async function main(): Promise<number> {
  let targets = CHOSEN;
  if (targets.includes('postfix')) {
    const why = postfixUnavailable();
    if (why) {
      process.stdout.write(`Postfix skipped: ${why}\n`);
      targets = targets.filter((t) => t !== 'postfix');
    }
  }
  process.stdout.write(`postfix bench: ${targets.join(', ')}; ${MESSAGES} mails (+${WARMUP} warmup); connections ${CONNECTIONS.join(', ')}; ${ROUNDS} alternating round(s); node ${process.version}\n`);
  const workDir = mkdtempSync(join(tmpdir(), 'mail2sms-postfix-bench-'));
  chmodSync(workDir, 0o755); // Postfix's daemons (user postfix) reach their queue below it
  const runs: Run[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternating: each round starts one target later, so no target always runs first (or last) on a warming machine.
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as Target);
      for (const connections of CONNECTIONS) {
        for (const target of order) {
          const run = await runOne(target, connections, workDir);
          runs.push(run);
          printRun(run, round);
        }
      }
    }
    printSummary(runs);
    await printStatements();
    const ok = runs.every((r) => r.ok);
    process.stdout.write(`\n${ok ? 'OK' : 'FAILED: see NOT OK above'}\n`);
    return ok ? 0 : 1;
  } finally {
    bench.killAll();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`postfix bench: ${(error as Error).stack ?? String(error)}\n`);
    bench.killAll();
    process.exit(1);
  },
);
