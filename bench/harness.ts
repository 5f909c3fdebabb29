/*
 * What the SMTP benches share (smtp-throughput.ts, postfix.ts): child
 * processes and their CPU, the raw pipelining SMTP client, the ~1 KB test
 * mails, one measured phase, and a mail2sms (daemon + provider simulator in
 * processes of their own) to measure. Loopback only, free ports only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { SmtpConnection } from './smtp-client.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export const HOST = '127.0.0.1';
const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
export const ROOT = resolve(HERE, '..', '..');
export const CLI = join(ROOT, 'bin', 'mail2sms.js');
export const BARE = join(HERE, 'bare-smtp-server.js');

export function fail(message: string): never {
  process.stderr.write(`${process.argv[1]?.split('/').pop()?.replace(/\.js$/, '') ?? 'bench'}: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- child processes

export interface Child {
  name: string;
  proc: ChildProcess;
  out: string[]; // tail of stdout+stderr
  exited: Promise<number | null>;
  exitCode: number | null | undefined;
}

const children = new Set<Child>();

export function startChild(name: string, argv: string[], nodeFlags: string[] = [], logFile?: string): Child {
  // A daemon's log goes to a file, as to journald in production, so this client does not pay for reading it.
  const stdout = logFile ? openSync(logFile, 'a') : 'pipe';
  // BENCH_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") reaches every server child, for profiling any bench.
  const extra = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  // BENCH_WRAP (e.g. "strace -f -c -o /tmp/s.txt") runs each server child under that command, to count its syscalls.
  const wrap = (process.env.BENCH_WRAP ?? '').split(' ').filter(Boolean);
  const command = [...wrap, process.execPath, ...extra, ...nodeFlags, ...argv];
  const proc = spawn(command[0] as string, command.slice(1), { cwd: ROOT, stdio: ['ignore', stdout, 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
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

export async function stopChild(child: Child, timeoutMs = 40_000): Promise<number | null | undefined> {
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

export function killAll(): void {
  for (const child of children) child.proc.kill('SIGKILL');
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping children\n`);
    killAll();
    process.exit(130);
  });
}

export function tail(child: Child, lines = 20): string {
  return child.out.slice(-lines).map((line) => `  | ${line}`).join('\n');
}

/** /proc/PID/stat after the command name: [0] state, [1] ppid, ..., [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime of /proc/<task>/stat in seconds (clock ticks, USER_HZ = 100). */
function taskCpuSeconds(task: string): number | undefined {
  const fields = statFields(task);
  return fields ? (Number(fields[11]) + Number(fields[12])) / 100 : undefined;
}

/** CPU seconds (user+system) a process has used so far, from /proc; undefined where there is no /proc. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : taskCpuSeconds(String(pid));
}

/** CPU seconds of a process's main thread (its task id is the pid): SMTP in the daemon, not its worker threads. */
export function mainThreadCpuSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : taskCpuSeconds(`${pid}/task/${pid}`);
}

/**
 * CPU seconds of a process and all its descendants (Postfix's master and the
 * daemons it forks), from /proc: each live one's own time plus the time of
 * the children it has reaped (cutime + cstime), so a process that exits in
 * between still counts, in its parent, once.
 */
export function treeCpuSeconds(rootPid: number | undefined): number | undefined {
  if (rootPid === undefined || !statFields(rootPid)) return undefined;
  const parentOf = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const fields = statFields(pid);
    if (!fields) continue;
    parentOf.set(pid, Number(fields[1]));
    ticks.set(pid, Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
  }
  const inTree = (pid: number): boolean => {
    for (let at: number | undefined = pid, hops = 0; at !== undefined && at > 1 && hops < 64; at = parentOf.get(at), hops++) if (at === rootPid) return true;
    return false;
  };
  let total = 0;
  for (const [pid, t] of ticks) if (inTree(pid)) total += t;
  return total / 100;
}

// ---------------------------------------------------------------- small helpers

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
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

export async function getJson(url: string, timeoutMs = 2000): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** Polls until `check` returns a value (not undefined), the child dies, or the time is up. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, child?: Child, intervalMs = 50): Promise<T> {
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

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const fmt = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(digits));

// ---------------------------------------------------------------- test data

/** W+N distinct valid Danish mobile numbers, so neither cooldown nor dedup touches a mail. */
export function danishNumbers(count: number): string[] {
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

export const FILLER =
  'Disk usage on db-%N% crossed the warning threshold. Check the retention jobs and the backup volume; ' +
  'the on-call runbook has the steps. This alert repeats until it is acknowledged in the console. ';

export const RUN_ID = randomBytes(4).toString('hex');

/** A ~1 KB mail (headers + text/plain body) to `to`, with a unique Message-ID. */
export function buildMail(index: number, to: string, rcptDomain: string, extraHeaders: readonly string[] = []): Buffer {
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
    ...extraHeaders,
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

export interface PhaseResult {
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
export async function runPhase(conns: SmtpConnection[], ports: number[], numbers: string[], rcptDomain: string, from: number, to: number, extraHeaders: readonly string[] = []): Promise<PhaseResult> {
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
        const message = buildMail(index, number, rcptDomain, extraHeaders);
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
export async function openConnections(ports: number[], count: number): Promise<SmtpConnection[]> {
  const conns = Array.from({ length: count }, (_, i) => new SmtpConnection(ports[i % ports.length] as number));
  await Promise.all(conns.map((c) => c.open()));
  return conns;
}

/** Connects, reads the 220 greeting and says QUIT: the SMTP listener is really up. */
export async function smtpGreets(port: number): Promise<true | undefined> {
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


// ---------------------------------------------------------------- one measured run

/** What one run sends: `warmup` mails first (not counted), then `messages` over `connections`. */
export interface PhasePlan {
  connections: number;
  warmup: number;
  messages: number;
  rcptDomain: string;
  extraHeaders?: readonly string[];
}

/** A process whose CPU the run counts; `tree` adds every process it forked (Postfix); `mainThread` counts its main thread alone. */
export interface Measured {
  name: string;
  pid: number | undefined;
  tree?: boolean;
  mainThread?: boolean;
}

export const cpuOf = (server: Measured): number | undefined =>
  server.tree ? treeCpuSeconds(server.pid) : server.mainThread ? mainThreadCpuSeconds(server.pid) : cpuSeconds(server.pid);

/** CPU seconds each server used since `before` (a snapshot by cpuOf); undefined where one cannot be read. */
export function cpuSince(servers: Measured[], before: (number | undefined)[]): Map<string, number> | undefined {
  const used = new Map<string, number>();
  for (const [i, server] of servers.entries()) {
    const [start, now] = [before[i], cpuOf(server)];
    if (start === undefined || now === undefined) return undefined;
    used.set(server.name, now - start);
  }
  return used;
}

/**
 * Opens the connections, sends the warmup (which must all be accepted), then
 * the measured mails, counting the servers' and this client's CPU over them.
 */
export async function measure(
  ports: number[],
  numbers: string[],
  plan: PhasePlan,
  servers: () => Measured[],
  afterWarmup?: () => Promise<void>,
): Promise<{ phase: PhaseResult; serverCpuS: Map<string, number> | undefined; clientCpuS: number; cpuAtStart: (number | undefined)[] }> {
  const { connections, warmup, messages, rcptDomain, extraHeaders = [] } = plan;
  const conns = await openConnections(ports, connections);
  try {
    if (warmup > 0) {
      const warm = await runPhase(conns, ports, numbers, rcptDomain, 0, warmup, extraHeaders);
      process.stdout.write(`  warmup: ${warm.accepted}/${warmup} accepted in ${fmt(warm.elapsedMs / 1000, 2)} s\n`);
      if (warm.accepted < warmup) {
        const replies = [...warm.errors].map(([reply, n]) => `${n} × ${reply}`).join('; ');
        throw new Error(`the warmup was not accepted: ${replies}`);
      }
      if (afterWarmup) await afterWarmup();
    }
    const cpuAtStart = servers().map(cpuOf);
    const clientBefore = process.cpuUsage();
    process.stdout.write(`  measuring ${messages} mails over ${connections} connections...\n`);
    const phase = await runPhase(conns, ports, numbers, rcptDomain, warmup, warmup + messages, extraHeaders);
    const clientUsage = process.cpuUsage(clientBefore);
    const serverCpuS = cpuSince(servers(), cpuAtStart);
    return { phase, serverCpuS, clientCpuS: (clientUsage.user + clientUsage.system) / 1e6, cpuAtStart };
  } finally {
    await Promise.all(conns.map((c) => c.quit()));
  }
}

// ---------------------------------------------------------------- a mail2sms to measure

export interface SimStats {
  messages: number;
  duplicates: number;
  receipts_posted: number;
}

/** Where the ledger is: the SQLite file, or a PostgreSQL database shared by `daemons` daemons. */
export type LedgerChoice = { kind: 'sqlite' } | { kind: 'postgres'; url: string; daemons: number };

export interface Mail2smsOptions {
  dir: string;
  ledger: LedgerChoice;
  /** The most SMTP connections the client opens (max_clients is set above it). */
  connections: number;
  dispatchRate: number;
  dispatchConcurrency?: number;
  logLevel: string;
  /** Node flags for a process by its name (--cpu-prof). */
  nodeFlags?: (what: string) => string[];
}

export interface Mail2sms {
  smtpPorts: number[];
  daemons: Child[];
  sim: Child;
  simStats(): Promise<SimStats>;
  dbFile: string;
  stop(): Promise<void>;
}

/**
 * The provider simulator and one daemon (several on PostgreSQL), each in its
 * own process, with an `alerts` setup that takes any mail from example.test
 * and truncates to 3 segments; returns once every daemon greets on SMTP.
 */
export async function startMail2sms(o: Mail2smsOptions): Promise<Mail2sms> {
  const daemonCount = o.ledger.kind === 'sqlite' ? 1 : o.ledger.daemons;
  const simPort = await freePort();
  const secret = `bench-secret-${randomBytes(12).toString('hex')}`;
  const nodes: { smtpPort: number; httpPort: number; configFile: string }[] = [];
  for (let n = 0; n < daemonCount; n++) {
    const [smtpPort, httpPort] = [await freePort(), await freePort()];
    // A directory per node, as on separate machines: its pid file and reload answer live next to its config.
    const nodeDir = daemonCount === 1 ? o.dir : join(o.dir, `node-${n}`);
    mkdirSync(join(nodeDir, 'setups'), { recursive: true });
    writeFileSync(join(nodeDir, 'setups', 'alerts.yaml'), ALERTS_SETUP);
    const configFile = join(nodeDir, `mail2sms-${n}.yaml`);
    nodes.push({ smtpPort, httpPort, configFile });
    writeFileSync(configFile, daemonConfig(o, { smtpPort, httpPort, simPort, secret }));
  }
  // serve never creates a SQLite ledger (a missing file is a lost one): create it as `npm start` does.
  if (o.ledger.kind === 'sqlite') execFileSync(process.execPath, [CLI, 'migrate', '--config', (nodes[0] as { configFile: string }).configFile], { cwd: ROOT, stdio: 'ignore' });
  const simUrl = `http://${HOST}:${simPort}`;
  const flags = o.nodeFlags ?? (() => []);
  const sim = startChild('provider-sim', [CLI, 'provider-sim', '--listen', `${HOST}:${simPort}`, '--secret', secret], flags('provider-sim'));
  const daemons: Child[] = [];
  const stop = async () => {
    for (const child of daemons) await stopChild(child);
    await stopChild(sim);
  };
  try {
    await waitFor('the simulator /healthz', async () => ((await getJson(`${simUrl}/healthz`)) ? true : undefined), 20_000, sim);
    for (const [n, node] of nodes.entries()) {
      const child = startChild(`mail2sms-${n}`, [CLI, 'serve', '--config', node.configFile], flags(`mail2sms-${n}`), join(o.dir, `mail2sms-${n}.log`));
      daemons.push(child);
      await waitFor('the daemon /healthz', async () => ((await getJson(`http://${HOST}:${node.httpPort}/healthz`)) ? true : undefined), 30_000, child);
      await waitFor('the daemon SMTP greeting', () => smtpGreets(node.smtpPort), 30_000, child);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    smtpPorts: nodes.map((node) => node.smtpPort),
    daemons,
    sim,
    simStats: () => getJson(`${simUrl}/stats`) as Promise<SimStats>,
    dbFile: join(o.dir, 'mail2sms.db'),
    stop,
  };
}

const ALERTS_SETUP = [
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
].join('\n');

/** Parts per SMS in these runs (the setup truncates every ~1 KB alert to 3 segments): one receipt each. */
export const PARTS_PER_SMS = 3;

function daemonConfig(o: Mail2smsOptions, at: { smtpPort: number; httpPort: number; simPort: number; secret: string }): string {
  return [
    'smtp:',
    `  listen: ${HOST}:${at.smtpPort}`,
    '  hostname: mail2sms.example.test',
    '  max_message_size: 1MB',
    '  max_recipients: 50',
    `  max_clients: ${Math.max(200, o.connections + 10)}`,
    // Every connection comes from 127.0.0.1.
    `  max_clients_per_address: ${Math.max(200, o.connections + 10)}`,
    'sms_domains: [sms.example.test]',
    'postmaster: admin@example.test',
    'setups_dir: setups',
    'storage:',
    ...(o.ledger.kind === 'sqlite' ? ['  path: mail2sms.db'] : ['  type: postgres', `  url: ${o.ledger.url}`, `  pool: ${Math.max(10, (o.dispatchConcurrency ?? 8) + 4)}`]),
    'http:',
    `  listen: ${HOST}:${at.httpPort}`,
    'provider:',
    '  type: simulator',
    `  listen: ${HOST}:${at.simPort}`,
    `  secret: ${at.secret}`,
    '  embedded: false',
    'dispatch:',
    ...(o.dispatchConcurrency !== undefined ? [`  concurrency: ${o.dispatchConcurrency}`] : []),
    `  rate_limit: ${o.dispatchRate}`,
    'log:',
    `  level: ${o.logLevel}`,
    '',
  ].join('\n');
}

/** Waits until the warmup's SMS are at the provider, so a measured run starts from an empty queue. */
export async function dispatchWarmup(m2s: Mail2sms, warmup: number): Promise<void> {
  const t = performance.now();
  await waitFor('the warmup SMS to be dispatched', async () => ((await m2s.simStats()).messages >= warmup ? true : undefined), 300_000, m2s.daemons[0], 50);
  process.stdout.write(`  warmup SMS dispatched after a further ${fmt((performance.now() - t) / 1000, 2)} s\n`);
}

/**
 * Waits for `expected` SMS at the simulator and then every part's receipt
 * posted back; says what did not happen (in `problems`) rather than throw.
 */
export async function awaitDelivery(
  m2s: Mail2sms,
  expected: number,
): Promise<{ dispatchedAt: number | undefined; receiptsAt: number | undefined; stats: SimStats | undefined; problems: string[] }> {
  const problems: string[] = [];
  const d = m2s.daemons[0];
  let dispatchedAt: number | undefined;
  let stats: SimStats | undefined;
  try {
    stats = await waitFor('all SMS to be dispatched', async () => {
      const s = await m2s.simStats();
      return s.messages >= expected ? s : undefined;
    }, 600_000, d, 25);
    dispatchedAt = performance.now();
  } catch (error) {
    problems.push(`dispatch did not finish: ${(error as Error).message.split('\n')[0]}`);
    stats = await m2s.simStats().catch(() => undefined);
  }
  let receiptsAt: number | undefined;
  try {
    stats = await waitFor('all receipts to be posted', async () => {
      const s = await m2s.simStats();
      return s.receipts_posted >= expected * PARTS_PER_SMS ? s : undefined;
    }, 120_000, d, 25);
    receiptsAt = performance.now();
  } catch (error) {
    problems.push(`receipts did not finish: ${(error as Error).message.split('\n')[0]}`);
  }
  if (stats && (stats.messages !== expected || stats.duplicates !== 0)) problems.push(`simulator: ${stats.messages} messages (expected ${expected}), ${stats.duplicates} duplicates`);
  return { dispatchedAt, receiptsAt, stats, problems };
}

// ---------------------------------------------------------------- the bare smtp-server

/** bench/bare-smtp-server.js as a child process (`serverArgs`: its --store and --db); returns once it greets on SMTP. */
export async function startBare(connections: number, nodeFlags: string[] = [], serverArgs: string[] = []): Promise<{ child: Child; port: number }> {
  const child = startChild('bare-smtp-server', [BARE, '--port', '0', '--max-clients', String(Math.max(200, connections + 10)), ...serverArgs], nodeFlags);
  try {
    const port = await waitFor('the bare server port', async () => jsonLines(child).map((l) => l.port).find((p) => typeof p === 'number'), 15_000, child);
    await waitFor('the bare SMTP greeting', () => smtpGreets(port as number), 15_000, child);
    return { child, port: port as number };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** The JSON lines a child printed (the bare server's {"port"} and {"messages"}). */
export function jsonLines(child: Child): Record<string, unknown>[] {
  return child.out.flatMap((line) => {
    try {
      const parsed: unknown = JSON.parse(line);
      return typeof parsed === 'object' && parsed !== null ? [parsed as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}
