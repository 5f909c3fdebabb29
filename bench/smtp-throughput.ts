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
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, openSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startTestPostgres } from './throwaway-postgres.js';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

const HOST = '127.0.0.1';
const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = resolve(HERE, '..', '..');
const CLI = join(ROOT, 'bin', 'mail2sms.js');
const BARE = join(HERE, 'bare-smtp-server.js');

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

/** Each SMTP reply must come within this, or the connection counts as failed. */
const REPLY_TIMEOUT_MS = 30_000;

function fail(message: string): never {
  process.stderr.write(`smtp-throughput: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- child processes

interface Child {
  name: string;
  proc: ChildProcess;
  out: string[]; // tail of stdout+stderr
  exited: Promise<number | null>;
  exitCode: number | null | undefined;
}

const children = new Set<Child>();

function startChild(name: string, argv: string[], nodeFlags: string[] = [], logFile?: string): Child {
  // A daemon's log goes to a file, as to journald in production, so this client does not pay for reading it.
  const stdout = logFile ? openSync(logFile, 'a') : 'pipe';
  const proc = spawn(process.execPath, [...nodeFlags, ...argv], { cwd: ROOT, stdio: ['ignore', stdout, 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
  const child: Child = { name, proc, out: [], exitCode: undefined, exited: Promise.resolve(null) };
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      child.out.push(line);
      if (child.out.length > 200) child.out.shift();
    }
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  child.exited = new Promise((resolveExit) => {
    proc.on('exit', (code, signal) => {
      child.exitCode = code ?? (signal ? 128 : null);
      children.delete(child);
      resolveExit(code);
    });
  });
  children.add(child);
  return child;
}

async function stopChild(child: Child, timeoutMs = 40_000): Promise<number | null | undefined> {
  if (child.exitCode !== undefined) return child.exitCode;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    process.stderr.write(`${child.name} did not stop within ${timeoutMs} ms; killing it\n`);
    child.proc.kill('SIGKILL');
  }, timeoutMs);
  await child.exited;
  clearTimeout(timer);
  return child.exitCode;
}

function killAll(): void {
  for (const child of children) child.proc.kill('SIGKILL');
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`smtp-throughput: ${signal}, stopping children\n`);
    killAll();
    process.exit(130);
  });
}

function tail(child: Child, lines = 20): string {
  return child.out.slice(-lines).map((line) => `  | ${line}`).join('\n');
}

/** CPU seconds (user+system) a process has used so far, from /proc; undefined where there is no /proc. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- small helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function getJson(url: string, timeoutMs = 2000): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** Polls until `check` returns a value (not undefined), the child dies, or the time is up. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, child?: Child, intervalMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < until) {
    if (child && child.exitCode !== undefined) throw new Error(`${child.name} exited (${child.exitCode}) while waiting for ${what}:\n${tail(child)}`);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}${child ? `\n${tail(child)}` : ''}`);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

const fmt = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));

// ---------------------------------------------------------------- test data

/** W+N distinct valid Danish mobile numbers, so neither cooldown nor dedup touches a mail. */
function danishNumbers(count: number): string[] {
  const numbers: string[] = [];
  let skipped = 0;
  for (let n = 4520100000; numbers.length < count; n++) {
    if (n > 4529999999) fail('ran out of Danish test numbers');
    const e164 = `+${n}`;
    if (parsePhoneNumberFromString(e164)?.isValid()) numbers.push(e164);
    else skipped++;
  }
  if (skipped > 0) process.stdout.write(`(skipped ${skipped} numbers libphonenumber-js/max calls invalid)\n`);
  return numbers;
}

const FILLER =
  'Disk usage on db-%N% crossed the warning threshold. Check the retention jobs and the backup volume; ' +
  'the on-call runbook has the steps. This alert repeats until it is acknowledged in the console. ';

const RUN_ID = randomBytes(4).toString('hex');

/** A ~1 KB mail (headers + text/plain body) to `to`, with a unique Message-ID. */
function buildMail(index: number, to: string, rcptDomain: string): Buffer {
  let body = '';
  while (body.length < 700) body += FILLER.replace('%N%', String(index % 97));
  const lines = [
    `From: Bench Alerts <bench@example.test>`,
    `To: <${to}@${rcptDomain}>`,
    `Subject: Bench alert ${index}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <bench-${RUN_ID}-${index}@example.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    `Alert ${index}: ${body.trim()}`,
  ];
  // Wrap the body at ~76 columns; no line starts with "." so no dot-stuffing is needed.
  const wrapped: string[] = [];
  for (const line of lines) {
    let rest = line;
    while (rest.length > 76) {
      const cut = rest.lastIndexOf(' ', 76);
      const at = cut > 0 ? cut : 76;
      wrapped.push(rest.slice(0, at));
      rest = rest.slice(at + 1);
    }
    wrapped.push(rest);
  }
  return Buffer.from(wrapped.join('\r\n') + '\r\n.\r\n', 'utf8');
}

// ---------------------------------------------------------------- raw SMTP client

interface Reply {
  code: number;
  text: string;
}

class SmtpConnection {
  private socket: Socket | undefined;
  private buffer = '';
  private lines: string[] = [];
  private readonly replies: Reply[] = [];
  private waiter: { resolve: (reply: Reply) => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;

  constructor(private readonly port: number) {}

  async open(): Promise<void> {
    this.socket = await new Promise<Socket>((resolveSocket, reject) => {
      const socket = connect({ host: HOST, port: this.port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolveSocket(socket);
      });
      socket.once('error', reject);
    });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => this.onData(chunk));
    this.socket.on('error', (error) => this.onEnd(error));
    this.socket.on('close', () => this.onEnd(new Error('connection closed by server')));
    const greeting = await this.read();
    if (greeting.code !== 220) throw new Error(`greeting: ${greeting.code} ${greeting.text}`);
    this.write('EHLO bench-client.example.test\r\n');
    const ehlo = await this.read();
    if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.code} ${ehlo.text}`);
    if (!/\bPIPELINING\b/i.test(ehlo.text)) throw new Error('server does not advertise PIPELINING');
  }

  /** One mail; returns the final reply and the DATA→final-reply latency (ms), or undefined if DATA was refused. */
  async send(from: string, rcpt: string, message: Buffer): Promise<{ reply: Reply; latencyMs: number | undefined }> {
    this.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
    const mail = await this.read();
    const rcptReply = await this.read();
    const data = await this.read();
    if (data.code !== 354) {
      const first = mail.code !== 250 ? mail : rcptReply.code !== 250 ? rcptReply : data;
      return { reply: first, latencyMs: undefined };
    }
    const start = performance.now();
    this.write(message);
    const final = await this.read();
    const latencyMs = performance.now() - start;
    // A refused MAIL or RCPT followed by a 354 would be a server bug; count it as the error it is.
    if (mail.code !== 250) return { reply: mail, latencyMs };
    if (rcptReply.code !== 250) return { reply: rcptReply, latencyMs };
    return { reply: final, latencyMs };
  }

  async quit(): Promise<void> {
    if (!this.socket || this.failure) return;
    try {
      this.write('QUIT\r\n');
      await this.read();
    } catch {
      // gone already
    }
    this.socket.destroy();
  }

  destroy(): void {
    this.socket?.destroy();
  }

  private write(data: string | Buffer): void {
    if (this.failure) throw this.failure;
    (this.socket as Socket).write(data);
  }

  private read(): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolveReply, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        const error = new Error(`no reply within ${REPLY_TIMEOUT_MS} ms`);
        this.onEnd(error);
        reject(error);
      }, REPLY_TIMEOUT_MS);
      this.waiter = { resolve: resolveReply, reject, timer };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let at: number;
    while ((at = this.buffer.indexOf('\r\n')) !== -1) {
      const line = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 2);
      this.lines.push(line);
      if (line.length < 4 || line[3] !== '-') {
        const reply: Reply = { code: Number(line.slice(0, 3)), text: this.lines.map((l) => l.slice(4)).join('\n') };
        this.lines = [];
        const waiter = this.waiter;
        if (waiter) {
          this.waiter = undefined;
          clearTimeout(waiter.timer);
          waiter.resolve(reply);
        } else {
          this.replies.push(reply);
        }
      }
    }
  }

  private onEnd(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.socket?.destroy();
  }
}

interface PhaseResult {
  sent: number;
  accepted: number;
  errors: Map<string, number>;
  latencies: Float64Array; // DATA→250 of the accepted mails, ms
  elapsedMs: number;
}

/**
 * Sends mails [from, to) over the open connections; each connection takes the
 * next index until none is left. A connection that fails is reopened (up to 3
 * times) so one hiccup does not end the run.
 */
async function runPhase(conns: SmtpConnection[], ports: number[], numbers: string[], rcptDomain: string, from: number, to: number): Promise<PhaseResult> {
  let next = from;
  let accepted = 0;
  let sent = 0;
  const errors = new Map<string, number>();
  const latencies = new Float64Array(to - from);
  const countError = (key: string) => errors.set(key, (errors.get(key) ?? 0) + 1);
  const start = performance.now();
  await Promise.all(
    conns.map(async (_, slot) => {
      let reopen = 3;
      while (next < to) {
        const index = next++;
        const number = numbers[index] as string;
        const message = buildMail(index, number, rcptDomain);
        try {
          const { reply, latencyMs } = await (conns[slot] as SmtpConnection).send('bench@example.test', `${number}@${rcptDomain}`, message);
          sent++;
          if (reply.code === 250 && latencyMs !== undefined) latencies[accepted++] = latencyMs;
          else countError(`${reply.code} ${reply.text.replace(/\[ref [^\]]*\]|as \S+/g, '').slice(0, 100)}`);
        } catch (error) {
          sent++;
          countError(`connection: ${(error as Error).message}`);
          (conns[slot] as SmtpConnection).destroy();
          if (reopen-- <= 0) return;
          const fresh = new SmtpConnection(ports[slot % ports.length] as number);
          try {
            await fresh.open();
            conns[slot] = fresh;
          } catch (openError) {
            countError(`reconnect: ${(openError as Error).message}`);
            return;
          }
        }
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  return { sent, accepted, errors, latencies: latencies.slice(0, accepted).sort(), elapsedMs };
}

/** `count` connections spread round-robin over the ports (one per daemon). */
async function openConnections(ports: number[], count: number): Promise<SmtpConnection[]> {
  const conns = Array.from({ length: count }, (_, i) => new SmtpConnection(ports[i % ports.length] as number));
  await Promise.all(conns.map((c) => c.open()));
  return conns;
}

/** Connects, reads the 220 greeting and says QUIT: the SMTP listener is really up. */
async function smtpGreets(port: number): Promise<true | undefined> {
  const conn = new SmtpConnection(port);
  try {
    await conn.open();
    await conn.quit();
    return true;
  } catch {
    conn.destroy();
    return undefined;
  }
}

// ---------------------------------------------------------------- targets

interface TargetResult {
  name: string;
  phase: PhaseResult;
  serverCpuS: Map<string, number> | undefined;
  clientCpuS: number;
  extra: string[];
  ok: boolean;
}

async function measure(
  ports: number[],
  numbers: string[],
  rcptDomain: string,
  servers: () => { name: string; pid: number | undefined }[],
  afterWarmup?: () => Promise<void>,
): Promise<{ phase: PhaseResult; serverCpuS: Map<string, number> | undefined; clientCpuS: number }> {
  const conns = await openConnections(ports, CONNECTIONS);
  try {
    if (WARMUP > 0) {
      const warm = await runPhase(conns, ports, numbers, rcptDomain, 0, WARMUP);
      process.stdout.write(`  warmup: ${warm.accepted}/${WARMUP} accepted in ${fmt(warm.elapsedMs / 1000, 2)} s\n`);
      if (warm.accepted < WARMUP) {
        const replies = [...warm.errors].map(([reply, n]) => `${n} × ${reply}`).join('; ');
        throw new Error(`the warmup was not accepted: ${replies}`);
      }
      if (afterWarmup) await afterWarmup();
    }
    const cpuBefore = servers().map((s) => cpuSeconds(s.pid));
    const clientBefore = process.cpuUsage();
    process.stdout.write(`  measuring ${MESSAGES} mails over ${CONNECTIONS} connections...\n`);
    const phase = await runPhase(conns, ports, numbers, rcptDomain, WARMUP, WARMUP + MESSAGES);
    const clientUsage = process.cpuUsage(clientBefore);
    let serverCpuS: Map<string, number> | undefined = new Map();
    for (const [i, server] of servers().entries()) {
      const before = cpuBefore[i];
      const after = cpuSeconds(server.pid);
      if (before === undefined || after === undefined) serverCpuS = undefined;
      else serverCpuS?.set(server.name, after - before);
    }
    return { phase, serverCpuS, clientCpuS: (clientUsage.user + clientUsage.system) / 1e6 };
  } finally {
    await Promise.all(conns.map((c) => c.quit()));
  }
}

async function runBare(numbers: string[], profileDir: string | undefined): Promise<TargetResult> {
  process.stdout.write('\n[bare] starting bare smtp-server\n');
  const flags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, 'bare')] : [];
  const child = startChild('bare-smtp-server', [BARE, '--port', '0', '--max-clients', String(Math.max(200, CONNECTIONS + 10))], flags);
  try {
    const port = await waitFor(
      'the bare server port',
      async () => {
        for (const line of child.out) {
          try {
            const parsed = JSON.parse(line) as { port?: number };
            if (typeof parsed.port === 'number') return parsed.port;
          } catch {
            // not the port line
          }
        }
        return undefined;
      },
      15_000,
      child,
    );
    await waitFor('the bare SMTP greeting', () => smtpGreets(port), 15_000, child);
    const { phase, serverCpuS, clientCpuS } = await measure([port], numbers, 'sms.example.test', () => [{ name: 'bare-smtp-server', pid: child.proc.pid }]);
    await stopChild(child);
    const stats = child.out.map((line) => { try { return JSON.parse(line) as { messages?: number }; } catch { return {}; } }).find((s) => typeof s.messages === 'number');
    const extra = [`server counted ${stats?.messages ?? '?'} mails (warmup + measured = ${WARMUP + MESSAGES})`];
    return { name: 'bare smtp-server', phase, serverCpuS, clientCpuS, extra, ok: phase.accepted === MESSAGES };
  } finally {
    await stopChild(child);
  }
}

interface SimStats {
  messages: number;
  duplicates: number;
  receipts_posted: number;
}

/** Where the ledger is: the SQLite file, or a PostgreSQL database shared by `daemons` daemons. */
type LedgerChoice = { kind: 'sqlite' } | { kind: 'postgres'; url: string; daemons: number };

async function runMail2sms(numbers: string[], workDir: string, profileDir: string | undefined, ledger: LedgerChoice = { kind: 'sqlite' }): Promise<TargetResult> {
  const name = ledger.kind === 'sqlite' ? 'mail2sms' : `mail2sms on PostgreSQL, ${ledger.daemons} daemon${ledger.daemons > 1 ? 's' : ''}`;
  process.stdout.write(`\n[${name}] starting provider simulator and daemon(s)\n`);
  const daemonCount = ledger.kind === 'sqlite' ? 1 : ledger.daemons;
  const simPort = await freePort();
  const nodes: { smtpPort: number; httpPort: number; configFile: string }[] = [];
  const secret = `bench-secret-${randomBytes(12).toString('hex')}`;
  const dir = join(workDir, ledger.kind === 'sqlite' ? 'mail2sms' : `postgres-${ledger.daemons}`);
  mkdirSync(join(dir, 'setups'), { recursive: true });
  writeFileSync(
    join(dir, 'setups', 'alerts.yaml'),
    [
      'id: alerts',
      'senders: [example.test]',
      'authorize:',
      '  ip: [127.0.0.0/8, "::1/128"]',
      'sender_name: Example',
      'cooldown: off',
      'default_country: DK',
      // A ~1 KB alert is 7 segments: cut it to the default 3, as an alerting setup would.
      'on_overflow: truncate',
      '',
    ].join('\n'),
  );
  for (let n = 0; n < daemonCount; n++) {
    const [smtpPort, httpPort] = [await freePort(), await freePort()];
    const configFile = join(dir, `mail2sms-${n}.yaml`);
    nodes.push({ smtpPort, httpPort, configFile });
    writeFileSync(configFile, daemonConfig({ smtpPort, httpPort, simPort, secret, ledger }));
  }
  const simUrl = `http://${HOST}:${simPort}`;
  const flags = (what: string) => (profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, what)] : []);

  const sim = startChild('provider-sim', [CLI, 'provider-sim', '--listen', `${HOST}:${simPort}`, '--secret', secret], flags('provider-sim'));
  const daemons: Child[] = [];
  try {
    await waitFor('the simulator /healthz', async () => ((await getJson(`${simUrl}/healthz`)) ? true : undefined), 20_000, sim);
    for (const [n, node] of nodes.entries()) {
      const child = startChild(`mail2sms-${n}`, [CLI, 'serve', '--config', node.configFile], flags(`mail2sms-${n}`), join(dir, `mail2sms-${n}.log`));
      daemons.push(child);
      await waitFor('the daemon /healthz', async () => ((await getJson(`http://${HOST}:${node.httpPort}/healthz`)) ? true : undefined), 30_000, child);
      await waitFor('the daemon SMTP greeting', () => smtpGreets(node.smtpPort), 30_000, child);
    }
    const d = daemons[0] as Child;
    const simStats = () => getJson(`${simUrl}/stats`) as Promise<SimStats>;

    const { phase, serverCpuS, clientCpuS } = await measure(
      nodes.map((node) => node.smtpPort),
      numbers,
      'sms.example.test',
      () => [...daemons.map((child, n) => ({ name: `daemon${daemons.length > 1 ? ` ${n + 1}` : ''}`, pid: child.proc.pid })), { name: 'provider-sim', pid: sim.proc.pid }],
      async () => {
        // Let the warmup's SMS go out first, so the measured run starts from an empty queue.
        const t = performance.now();
        await waitFor('the warmup SMS to be dispatched', async () => ((await simStats()).messages >= WARMUP ? true : undefined), 300_000, d, 50);
        process.stdout.write(`  warmup SMS dispatched after a further ${fmt((performance.now() - t) / 1000, 2)} s\n`);
      },
    );
    const intakeEnd = performance.now();
    const intakeStart = intakeEnd - phase.elapsedMs;
    const total = WARMUP + MESSAGES;
    const extra: string[] = [];
    let ok = phase.accepted === MESSAGES;

    // Dispatch: every accepted mail must reach the provider exactly once.
    const expected = WARMUP + phase.accepted;
    let dispatchedAt: number | undefined;
    let stats: SimStats | undefined;
    try {
      stats = await waitFor('all SMS to be dispatched', async () => {
        const s = await simStats();
        return s.messages >= expected ? s : undefined;
      }, 600_000, d, 25);
      dispatchedAt = performance.now();
    } catch (error) {
      ok = false;
      extra.push(`dispatch did not finish: ${(error as Error).message.split('\n')[0]}`);
      stats = await simStats().catch(() => undefined);
    }
    let receiptsAt: number | undefined;
    try {
      stats = await waitFor('all receipts to be posted', async () => {
        const s = await simStats();
        return s.receipts_posted >= expected ? s : undefined;
      }, 120_000, d, 25);
      receiptsAt = performance.now();
    } catch (error) {
      ok = false;
      extra.push(`receipts did not finish: ${(error as Error).message.split('\n')[0]}`);
    }
    if (dispatchedAt !== undefined) {
      const e2e = (dispatchedAt - intakeStart) / 1000;
      extra.push(`end-to-end: all ${phase.accepted} SMS at the provider ${fmt(e2e, 2)} s after the first measured mail ` +
        `(${fmt((dispatchedAt - intakeEnd) / 1000, 2)} s after the last 250; ${fmt(phase.accepted / e2e, 0)} SMS/s overall)`);
    }
    if (receiptsAt !== undefined) extra.push(`all delivery receipts posted back ${fmt((receiptsAt - intakeStart) / 1000, 2)} s after the first measured mail`);
    if (stats) {
      extra.push(`simulator: ${stats.messages} messages, ${stats.duplicates} duplicates, ${stats.receipts_posted} receipts posted (expected ${expected} messages, 0 duplicates)`);
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
    const counted = await countOutbox(ledger, join(dir, 'mail2sms.db'));
    extra.push(
      `${ledger.kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'} outbox: ${counted.outbox} rows (expected ${expected} = ${phase.accepted} measured + ${WARMUP} warmup) [${counted.byStatus.map((r) => `${r.status} ${r.n}`).join(', ')}]; messages table ${counted.messages}`,
    );
    if (counted.outbox !== expected || total !== expected) ok = false;
    return { name, phase, serverCpuS, clientCpuS, extra, ok };
  } finally {
    for (const child of daemons) await stopChild(child);
    await stopChild(sim);
  }
}

function daemonConfig(o: { smtpPort: number; httpPort: number; simPort: number; secret: string; ledger: LedgerChoice }): string {
  return [
    'smtp:',
    `  listen: ${HOST}:${o.smtpPort}`,
    '  hostname: mail2sms.example.test',
    '  max_message_size: 1MB',
    '  max_recipients: 50',
    `  max_clients: ${Math.max(200, CONNECTIONS + 10)}`,
    'sms_domains: [sms.example.test]',
    'postmaster: admin@example.test',
    'setups_dir: setups',
    'storage:',
    ...(o.ledger.kind === 'sqlite' ? ['  path: mail2sms.db'] : ['  type: postgres', `  url: ${o.ledger.url}`, `  pool: ${Math.max(10, (DISPATCH_CONCURRENCY ?? 8) + 4)}`]),
    'http:',
    `  listen: ${HOST}:${o.httpPort}`,
    'provider:',
    '  type: simulator',
    `  listen: ${HOST}:${o.simPort}`,
    `  secret: ${o.secret}`,
    '  embedded: false',
    'dispatch:',
    ...(DISPATCH_CONCURRENCY !== undefined ? [`  concurrency: ${DISPATCH_CONCURRENCY}`] : []),
    `  rate_limit: ${DISPATCH_RATE}`,
    'log:',
    `  level: ${LOG_LEVEL}`,
    '',
  ].join('\n');
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
          process.stdout.write(`\n== CPU profile: ${sub}\n${summariseProfile(join(profileDir, sub, file))}\n`);
          if (args.keep) continue;
          cpSync(join(profileDir, sub, file), join(tmpdir(), `mail2sms-bench-${sub}-${RUN_ID}.cpuprofile`));
          process.stdout.write(`  (kept as ${join(tmpdir(), `mail2sms-bench-${sub}-${RUN_ID}.cpuprofile`)})\n`);
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
