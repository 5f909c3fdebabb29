import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { Writable } from 'node:stream';
import nodemailer from 'nodemailer';
import { stringify } from 'yaml';
import { loadConfig, type Config } from '../src/config/load.js';
import { createLogger } from '../src/core/log.js';
import { startDaemon, type RunningDaemon } from '../src/daemon.js';
import type { SimulatedSms } from '../src/simulator/server.js';

export const SIM_SECRET = 'test-simulator-secret-0123456789';

export interface TestDirs {
  dir: string;
  configFile: string;
  dbFile: string;
  cleanup(): void;
}

type Yaml = Record<string, unknown>;

export function alertsSetup(overrides: Yaml = {}): Yaml {
  return {
    id: 'alerts',
    senders: ['example.test'],
    authorize: { ip: ['127.0.0.0/8', '::1/128'] },
    sender_name: 'Example',
    cooldown: '10m',
    default_country: 'DK',
    ...overrides,
  };
}

/** Writes a config tree into a fresh temp dir; every listener on a random port. */
export function writeConfig(options: { main?: Yaml; setups?: Yaml[]; provider?: Yaml } = {}): TestDirs {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-test-'));
  mkdirSync(join(dir, 'setups'));
  const main: Yaml = {
    smtp: { listen: '127.0.0.1:0', hostname: 'mail2sms.test', max_message_size: '64KB', max_recipients: 5 },
    sms_domains: ['sms.example.test'],
    postmaster: 'admin@example.test',
    storage: { path: 'data/ledger.db' },
    http: { listen: '127.0.0.1:0' },
    provider: { type: 'simulator', listen: '127.0.0.1:0', secret: SIM_SECRET, receipt_delay: '20ms', ...(options.provider ?? {}) },
    dispatch: { poll_interval: '100ms', retry_base: '50ms' },
    log: { level: 'debug' },
    ...(options.main ?? {}),
  };
  const configFile = join(dir, 'mail2sms.yaml');
  writeFileSync(configFile, stringify(main));
  for (const setup of options.setups ?? [alertsSetup()]) {
    writeFileSync(join(dir, 'setups', `${String(setup.id)}.yaml`), stringify(setup));
  }
  return { dir, configFile, dbFile: join(dir, 'data/ledger.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface TestDaemon {
  daemon: RunningDaemon;
  config: Config;
  logs: LogLine[];
  smtpPort: number;
  simUrl: string;
  stop(): Promise<void>;
}

export async function startTestDaemon(dirs: TestDirs, extra: { resolver?: (name: string, type: string) => Promise<unknown> } = {}): Promise<TestDaemon> {
  const config = loadConfig(dirs.configFile);
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination: sink });
  const daemon = await startDaemon({ config, logger, ...extra });
  return {
    daemon,
    config,
    logs,
    smtpPort: daemon.ports.smtp,
    simUrl: `http://127.0.0.1:${daemon.ports.simulator}`,
    stop: () => daemon.stop(),
  };
}

export interface SendOutcome {
  ok: boolean;
  /** The final server reply, e.g. "250 2.0.0 Queued as ..." or "550 5.7.1 ...". */
  response: string;
  code: number | undefined;
  rejected: string[];
}

export interface MailOptions {
  port: number;
  from: string;
  to: string | string[];
  bcc?: string | string[];
  text?: string;
  html?: string;
  subject?: string;
  messageId?: string;
  headers?: Record<string, string>;
  raw?: string;
  /** Envelope override (for MAIL FROM:<> or recipients not in headers). */
  envelope?: { from: string | false; to: string[] };
  /** STARTTLS (self-signed test certificate) and SMTP AUTH. */
  auth?: { user: string; pass: string; method?: 'PLAIN' | 'LOGIN' };
  starttls?: boolean;
}

/** Sends one mail with nodemailer's SMTP client; resolves with the server's answer instead of throwing. */
export async function sendMail(options: MailOptions): Promise<SendOutcome> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: options.port,
    secure: false,
    ...(options.starttls ? { requireTLS: true, tls: { rejectUnauthorized: false } } : { ignoreTLS: true }),
    ...(options.auth ? { auth: { user: options.auth.user, pass: options.auth.pass }, authMethod: options.auth.method ?? 'PLAIN' } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  try {
    const info = await transport.sendMail({
      from: options.from,
      to: options.to,
      ...(options.bcc ? { bcc: options.bcc } : {}),
      subject: options.subject ?? 'Test',
      ...(options.raw !== undefined ? { raw: options.raw } : {}),
      ...(options.text !== undefined ? { text: options.text } : {}),
      ...(options.html !== undefined ? { html: options.html } : {}),
      ...(options.messageId ? { messageId: options.messageId } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.envelope ? { envelope: options.envelope as { from: string; to: string[] } } : {}),
    });
    return { ok: true, response: info.response, code: Number(info.response.slice(0, 3)), rejected: info.rejected.map(String) };
  } catch (error) {
    const e = error as { response?: string; responseCode?: number; rejected?: string[]; message: string };
    return { ok: false, response: e.response ?? e.message, code: e.responseCode, rejected: e.rejected ?? [] };
  } finally {
    transport.close();
  }
}

export async function simulatorMessages(simUrl: string): Promise<SimulatedSms[]> {
  const response = await fetch(`${simUrl}/messages`);
  return (await response.json()) as SimulatedSms[];
}

export async function simulatorStats(simUrl: string): Promise<{ messages: number; duplicates: number }> {
  const response = await fetch(`${simUrl}/stats`);
  return (await response.json()) as { messages: number; duplicates: number };
}

/** Polls until `check` returns a truthy value; fails with the last value after `timeoutMs`. Not a timing assertion. */
export async function waitFor<T>(check: () => Promise<T> | T, what: string, timeoutMs = 15_000): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await check();
    if (last) return last as Exclude<T, undefined | null | false | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function queueIdOf(response: string): string {
  const match = /queued as (\w+)/i.exec(response);
  if (!match) throw new Error(`no queue id in "${response}"`);
  return match[1] as string;
}

export interface SmtpConversation {
  /** Sends a line (or nothing, to read the greeting) and resolves with the next final reply line ('' once closed). */
  say(line?: string): Promise<string>;
  /** Writes bytes as they are, with no line ending and no wait (a trickle, a pipelined batch). */
  write(data: string): void;
  close(): void;
}

/** A raw SMTP connection for what a client library will not say; `proxyFrom` first sends a PROXY v1 header as a load balancer would. */
export function openSmtp(port: number, options: { proxyFrom?: string } = {}): SmtpConversation {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.setEncoding('utf8');
  if (options.proxyFrom) socket.write(`PROXY TCP4 ${options.proxyFrom} 127.0.0.1 40000 25\r\n`);
  const replies: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let closed = false;
  let buffer = '';
  const deliver = (line: string) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else replies.push(line);
  };
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (/^\d{3} /.test(line)) deliver(line);
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
    while (waiters.length > 0) deliver('');
  });
  return {
    say(line) {
      if (line !== undefined && !closed) socket.write(line + '\r\n');
      if (replies.length > 0) return Promise.resolve(replies.shift() as string);
      if (closed) return Promise.resolve('');
      return new Promise((resolve) => waiters.push(resolve));
    },
    write: (data) => void (closed || socket.write(data)),
    close: () => socket.end(),
  };
}

/** Greeting, then each line after the previous reply; returns every reply (greeting first). */
export async function smtpDialogue(port: number, lines: string[], options: { proxyFrom?: string } = {}): Promise<string[]> {
  const smtp = openSmtp(port, options);
  const replies = [await smtp.say()];
  for (const line of lines) {
    if (replies[replies.length - 1] === '' || replies[replies.length - 1]?.startsWith('421')) break;
    replies.push(await smtp.say(line));
  }
  smtp.close();
  return replies.filter((reply) => reply !== '');
}

/** A loopback port nothing listens on right now: for a listener whose address must be known before it starts, or a refused connection. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
