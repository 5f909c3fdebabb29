/*
 * SMTP intake throughput: mail2sms (durable group commit + dispatch, as in
 * production) against a bare smtp-server that discards every mail.
 *
 *   npm run build && npm run bench -- [--messages 20000] [--connections 20] [--warmup 1000]
 *                                      [--target bare|mail2sms|both] [--quick] [--profile]
 *
 * Both servers run as child processes (the daemon with its provider simulator
 * as a third process); this process is the client only. The client is a small
 * raw SMTP client over node:net: each connection says EHLO once and then sends
 * many one-recipient ~1 KB mails (MAIL/RCPT/DATA pipelined), because
 * smtp-server pauses ~100 ms before every greeting and one mail per connection
 * would measure that pause. The DATA→250 latency is the time from writing the
 * final "\r\n.\r\n" to reading the final reply, i.e. what mail2sms adds for
 * parsing, policy and the fsync'd commit.
 *
 * Everything listens on and talks to 127.0.0.1 only, on free ports.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startTestPostgres } from './throwaway-postgres.js';
import {
  BARE,
  PARTS_PER_SMS,
  ROOT,
  awaitDelivery,
  danishNumbers,
  dispatchWarmup,
  fail,
  fmt,
  jsonLines,
  killAll,
  measure,
  percentile,
  startBare,
  startMail2sms,
  stopChild,
  tail,
  type LedgerChoice,
  type PhasePlan,
  type PhaseResult,
} from './harness.js';

// ---------------------------------------------------------------- options

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string' },
    connections: { type: 'string' },
    warmup: { type: 'string' },
    target: { type: 'string', default: 'both' },
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'dispatch-concurrency': { type: 'string' },
    'dispatch-rate': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    'deadline': { type: 'string', default: '1800' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stdout.write(`usage: node dist/bench/smtp-throughput.js [options]
  --messages N        measured mails per target (default 20000; 2000 with --quick)
  --connections C     concurrent SMTP connections (default 20)
  --warmup W          mails sent first and not counted (default 1000; 200 with --quick)
  --target T          bare | mail2sms | both (default both) | ledgers: mail2sms on SQLite, on PostgreSQL with
                      one daemon and with two (the client spreading its connections over both), in one run
  --quick             small run for smoke use (also BENCH_QUICK=1)
  --profile           run the servers with --cpu-prof and print their top functions
  --dispatch-concurrency K   override mail2sms dispatch.concurrency (default: the config default)
  --dispatch-rate R          mail2sms dispatch.rate_limit in SMS/s, a provider contract (default: 0 = unlimited)
  --log-level L              mail2sms log.level (default info, as in production; the log goes to a file)
  --deadline S        abort the whole run after S seconds (default 1800)
  --keep              keep the temp dir (config, db, profiles)
`);
  process.exit(0);
}

const quick = args.quick || process.env.BENCH_QUICK === '1';
function intArg(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`--${name}: must be a whole number >= ${min}`);
  return n;
}
const MESSAGES = intArg('messages', args.messages, quick ? 2000 : 20000, 1);
const CONNECTIONS = intArg('connections', args.connections, 20, 1);
const WARMUP = intArg('warmup', args.warmup, quick ? 200 : 1000, 0);
const DEADLINE_S = intArg('deadline', args.deadline, 1800, 10);
const DISPATCH_CONCURRENCY = args['dispatch-concurrency'] === undefined ? undefined : intArg('dispatch-concurrency', args['dispatch-concurrency'], 8, 1);
const DISPATCH_RATE = intArg('dispatch-rate', args['dispatch-rate'], 0, 0);
const LOG_LEVEL = args['log-level'] ?? 'info';
if (!['fatal', 'error', 'warn', 'info', 'debug'].includes(LOG_LEVEL)) fail('--log-level: fatal|error|warn|info|debug');
const TARGET = args.target ?? 'both';
if (!['bare', 'mail2sms', 'both', 'ledgers'].includes(TARGET)) fail('--target: bare, mail2sms, both or ledgers');

const RUN_ID = randomBytes(4).toString('hex');
const PLAN: PhasePlan = { connections: CONNECTIONS, warmup: WARMUP, messages: MESSAGES, rcptDomain: 'sms.example.test' };

// ---------------------------------------------------------------- targets

interface TargetResult {
  name: string;
  phase: PhaseResult;
  serverCpuS: Map<string, number> | undefined;
  clientCpuS: number;
  extra: string[];
  ok: boolean;
}

async function runBare(numbers: string[], profileDir: string | undefined): Promise<TargetResult> {
  process.stdout.write('\n[bare] starting bare smtp-server\n');
  const flags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, 'bare')] : [];
  const { child, port } = await startBare(CONNECTIONS, flags);
  try {
    const { phase, serverCpuS, clientCpuS } = await measure([port], numbers, PLAN, () => [{ name: 'bare-smtp-server', pid: child.proc.pid }]);
    await stopChild(child);
    const counted = jsonLines(child).map((l) => l.messages).find((n) => typeof n === 'number');
    const extra = [`server counted ${counted ?? '?'} mails (warmup + measured = ${WARMUP + MESSAGES})`];
    return { name: 'bare smtp-server', phase, serverCpuS, clientCpuS, extra, ok: phase.accepted === MESSAGES };
  } finally {
    await stopChild(child);
  }
}

async function runMail2sms(numbers: string[], workDir: string, profileDir: string | undefined, ledger: LedgerChoice = { kind: 'sqlite' }): Promise<TargetResult> {
  const name = ledger.kind === 'sqlite' ? 'mail2sms' : `mail2sms on PostgreSQL, ${ledger.daemons} daemon${ledger.daemons > 1 ? 's' : ''}`;
  process.stdout.write(`\n[${name}] starting provider simulator and daemon(s)\n`);
  const dir = join(workDir, ledger.kind === 'sqlite' ? 'mail2sms' : `postgres-${ledger.daemons}`);
  mkdirSync(dir, { recursive: true });
  const m2s = await startMail2sms({
    dir,
    ledger,
    connections: CONNECTIONS,
    dispatchRate: DISPATCH_RATE,
    ...(DISPATCH_CONCURRENCY !== undefined ? { dispatchConcurrency: DISPATCH_CONCURRENCY } : {}),
    logLevel: LOG_LEVEL,
    nodeFlags: (what) => (profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, what)] : []),
  });
  const { daemons, sim } = m2s;
  try {
    const { phase, serverCpuS, clientCpuS } = await measure(
      m2s.smtpPorts,
      numbers,
      PLAN,
      () => [...daemons.map((child, n) => ({ name: `daemon${daemons.length > 1 ? ` ${n + 1}` : ''}`, pid: child.proc.pid })), { name: 'provider-sim', pid: sim.proc.pid }],
      () => dispatchWarmup(m2s, WARMUP),
    );
    const intakeEnd = performance.now();
    const intakeStart = intakeEnd - phase.elapsedMs;
    const total = WARMUP + MESSAGES;
    const extra: string[] = [];
    let ok = phase.accepted === MESSAGES;

    // Dispatch: every accepted mail must reach the provider exactly once.
    const expected = WARMUP + phase.accepted;
    const { dispatchedAt, receiptsAt, stats, problems } = await awaitDelivery(m2s, expected);
    if (problems.length > 0) ok = false;
    extra.push(...problems);
    if (dispatchedAt !== undefined) {
      const e2e = (dispatchedAt - intakeStart) / 1000;
      extra.push(`end-to-end: all ${phase.accepted} SMS at the provider ${fmt(e2e, 2)} s after the first measured mail ` +
        `(${fmt((dispatchedAt - intakeEnd) / 1000, 2)} s after the last 250; ${fmt(phase.accepted / e2e, 0)} SMS/s overall)`);
    }
    if (receiptsAt !== undefined) extra.push(`all delivery receipts posted back ${fmt((receiptsAt - intakeStart) / 1000, 2)} s after the first measured mail`);
    if (stats) {
      extra.push(`simulator: ${stats.messages} messages, ${stats.duplicates} duplicates, ${stats.receipts_posted} receipts posted (expected ${expected} messages, 0 duplicates, ${expected * PARTS_PER_SMS} part receipts)`);
      if (stats.messages !== expected || stats.duplicates !== 0) ok = false;
    }

    // Stop the daemons cleanly (SIGTERM), then count the outbox.
    for (const child of daemons) {
      const code = await stopChild(child);
      if (code !== 0) {
        ok = false;
        extra.push(`${child.name} exited with ${code}:\n${tail(child)}`);
      }
      const warnings = child.out.filter((line) => /"level":(40|50|60)/.test(line));
      if (warnings.length > 0) extra.push(`${child.name} logged ${warnings.length} warning/error line(s), e.g.: ${warnings[0]?.slice(0, 300)}`);
    }
    const counted = await countOutbox(ledger, m2s.dbFile);
    extra.push(
      `${ledger.kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'} outbox: ${counted.outbox} rows (expected ${expected} = ${phase.accepted} measured + ${WARMUP} warmup) [${counted.byStatus.map((r) => `${r.status} ${r.n}`).join(', ')}]; messages table ${counted.messages}`,
    );
    if (counted.outbox !== expected || total !== expected) ok = false;
    return { name, phase, serverCpuS, clientCpuS, extra, ok };
  } finally {
    await m2s.stop();
  }
}

async function countOutbox(ledger: LedgerChoice, dbFile: string): Promise<{ outbox: number; messages: number; byStatus: { status: string; n: number }[] }> {
  if (ledger.kind === 'postgres') {
    const client = new pg.Client({ connectionString: ledger.url });
    await client.connect();
    try {
      const one = async (sql: string) => Number((await client.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
      const byStatus = (await client.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM outbox GROUP BY status ORDER BY status')).rows;
      return { outbox: await one('SELECT count(*) AS n FROM outbox'), messages: await one('SELECT count(*) AS n FROM messages'), byStatus: byStatus.map((r) => ({ status: r.status, n: Number(r.n) })) };
    } finally {
      await client.end();
    }
  }
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return {
      outbox: (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n,
      messages: (db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n,
      byStatus: db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status ORDER BY status').all() as { status: string; n: number }[],
    };
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- profiles

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const sourceLines = new Map<string, string[]>();
/** The text of a line of a local file (for naming a caller), trimmed. */
function sourceLine(url: string, lineNumber: number): string {
  if (!url.startsWith('file://')) return '';
  const path = fileURLToPath(url);
  let lines = sourceLines.get(path);
  if (!lines) {
    try {
      lines = readFileSync(path, 'utf8').split('\n');
    } catch {
      lines = [];
    }
    sourceLines.set(path, lines);
  }
  return (lines[lineNumber] ?? '').trim().slice(0, 90);
}

function summariseProfile(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^file:\/\//, '').replace(ROOT + '/', '');
    const key = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const area = !url
      ? functionName.startsWith('(') ? functionName : '(native)'
      : url.startsWith('node:')
        ? url.split('/')[0] === 'node:internal' ? `node:internal/${url.split('/')[1] ?? ''}` : url
        : /node_modules\//.test(short)
          ? `npm:${short.split('node_modules/').pop()?.split('/').slice(0, short.includes('node_modules/@') ? 2 : 1).join('/')}`
          : short;
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  // better-sqlite3 runs statements and the COMMIT (with its WAL fsync) synchronously inside
  // sqliteTransaction, so its time is the ledger's; split it by which transaction called it.
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const subtreeUs = (node: ProfileNode): number =>
    (selfUs.get(node.id) ?? 0) + (node.children ?? []).reduce((sum, id) => sum + (byId.get(id) ? subtreeUs(byId.get(id) as ProfileNode) : 0), 0);
  const byTransaction = new Map<string, number>();
  for (const node of profile.nodes) {
    if (node.callFrame.functionName !== 'sqliteTransaction') continue;
    const caller = parentOf.get(node.id);
    if (!caller) continue;
    const { url, lineNumber, functionName } = caller.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.replace(/^file:\/\//, '').replace(ROOT + '/', '')}:${lineNumber + 1}  ${sourceLine(url, lineNumber)}`;
    byTransaction.set(key, (byTransaction.get(key) ?? 0) + subtreeUs(node));
  }
  const rows = (map: Map<string, number>) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `    ${fmt((100 * us) / totalUs, 1).padStart(5)}%  ${k}`).join('\n');
  return `  profile ${file} (${fmt(totalUs / 1e6, 1)} s sampled)\n  by module/area (self time):\n${rows(byArea)}\n  top functions (self time):\n${rows(byFunction)}` +
    (byTransaction.size > 0 ? `\n  SQLite transactions (statements + COMMIT/fsync) by caller:\n${rows(byTransaction)}` : '');
}

// ---------------------------------------------------------------- main

function report(result: TargetResult): void {
  const p = result.phase;
  const rate = p.accepted / (p.elapsedMs / 1000);
  process.stdout.write(`\n== ${result.name}\n`);
  process.stdout.write(`  messages/s:            ${fmt(rate, 0)}  (${p.accepted} accepted of ${p.sent} sent in ${fmt(p.elapsedMs / 1000, 2)} s)\n`);
  process.stdout.write(`  DATA→250 latency (ms): p50 ${fmt(percentile(p.latencies, 50), 2)}  p99 ${fmt(percentile(p.latencies, 99), 2)}  max ${fmt(percentile(p.latencies, 100), 2)}\n`);
  const errorCount = [...p.errors.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`  errors:                ${errorCount}\n`);
  for (const [text, count] of [...p.errors.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
    process.stdout.write(`    ${count} × ${text}\n`);
  }
  const seconds = p.elapsedMs / 1000;
  const cpu = (name: string, s: number) => `${name} ${fmt(s, 1)} s (${fmt((100 * s) / seconds, 0)}% of a core)`;
  const parts = [...(result.serverCpuS?.entries() ?? [])].map(([name, s]) => cpu(name, s));
  process.stdout.write(`  CPU during the measured run: ${[...parts, cpu('client', result.clientCpuS)].join(', ')}\n`);
  for (const line of result.extra) process.stdout.write(`  ${line}\n`);
}

async function main(): Promise<number> {
  if (!existsSync(BARE) || !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) fail('run `npm run build` first');
  const deadline = setTimeout(() => {
    process.stderr.write(`smtp-throughput: deadline of ${DEADLINE_S} s passed; stopping\n`);
    killAll();
    process.exit(3);
  }, DEADLINE_S * 1000);
  deadline.unref();

  process.stdout.write(
    `smtp-throughput: ${MESSAGES} measured mails (+${WARMUP} warmup), ${CONNECTIONS} connections, target ${TARGET}${quick ? ' (quick)' : ''}; node ${process.version}\n`,
  );
  const numbers = danishNumbers(WARMUP + MESSAGES);
  const workDir = mkdtempSync(join(tmpdir(), 'mail2sms-bench-'));
  const profileDir = args.profile ? join(workDir, 'profiles') : undefined;
  const results: TargetResult[] = [];
  try {
    if (TARGET === 'bare' || TARGET === 'both') results.push(await runBare(numbers, profileDir));
    if (TARGET === 'mail2sms' || TARGET === 'both' || TARGET === 'ledgers') results.push(await runMail2sms(numbers, workDir, profileDir));
    if (TARGET === 'ledgers') {
      // A throwaway PostgreSQL on this machine (Debian binaries), fsync on like the SQLite ledger: a fresh database per run.
      const server = await startTestPostgres({ durable: true });
      try {
        for (const daemons of [1, 2]) results.push(await runMail2sms(numbers, workDir, profileDir, { kind: 'postgres', url: await server.createDatabase(`bench${daemons}`), daemons }));
      } finally {
        await server.stop();
      }
    }
    for (const result of results) report(result);
    const bare = results.find((r) => r.name.startsWith('bare'));
    const m2s = results.find((r) => r.name === 'mail2sms');
    if (bare && m2s) {
      const rate = (r: TargetResult) => r.phase.accepted / (r.phase.elapsedMs / 1000);
      process.stdout.write(`\n== ratio mail2sms/bare messages/s: ${fmt(rate(m2s) / rate(bare), 3)}\n`);
    }
    if (profileDir && existsSync(profileDir)) {
      for (const sub of readdirSync(profileDir)) {
        for (const file of readdirSync(join(profileDir, sub)).filter((f) => f.endsWith('.cpuprofile'))) {
          // Node names each thread's profile CPU.<date>.<time>.<pid>.<thread id>.<seq>: thread 0 is the main thread.
          const thread = Number(file.split('.')[4] ?? 0) === 0 ? 'main thread' : `thread ${file.split('.')[4]}`;
          const name = `${sub}-${thread.replace(' ', '-')}`;
          process.stdout.write(`\n== CPU profile: ${sub}, ${thread}\n${summariseProfile(join(profileDir, sub, file))}\n`);
          if (args.keep) continue;
          cpSync(join(profileDir, sub, file), join(tmpdir(), `mail2sms-bench-${name}-${RUN_ID}.cpuprofile`));
          process.stdout.write(`  (kept as ${join(tmpdir(), `mail2sms-bench-${name}-${RUN_ID}.cpuprofile`)})\n`);
        }
      }
    }
    const ok = results.every((r) => r.ok);
    process.stdout.write(`\n${ok ? 'OK' : 'FAILED: see above'}\n`);
    return ok ? 0 : 1;
  } finally {
    killAll();
    if (args.keep) process.stdout.write(`(kept ${workDir})\n`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`smtp-throughput: ${(error as Error).stack ?? String(error)}\n`);
    killAll();
    process.exit(1);
  },
);
