import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../bench/throwaway-postgres.js';
import { inboundGetUrl } from '../src/providers/kannel/index.js';

/*
 * A real Kannel for tests, from Debian's `kannel` and `kannel-extras` packages
 * (.ci/run installs them): bearerbox with one `smsc = fake` connection, the
 * fakesmsc test SMSC connected to it, and smsbox with a sendsms-user and a
 * catch-all sms-service whose get-url points at the test's HTTP receiver.
 * Everything on random loopback ports in a temp dir.
 *
 * fakesmsc is Kannel's own test client: it prints every SMS bearerbox hands
 * it ("Got message N: <from to type data>") and sends the messages given on
 * its command line as SMS from phones. bearerbox serves one fakesmsc at a
 * time, so an inbound SMS is injected by replacing the running one.
 */

export const BEARERBOX = '/usr/sbin/bearerbox';
export const SMSBOX = '/usr/sbin/smsbox';
export const FAKESMSC = '/usr/lib/kannel/test/fakesmsc';

export function kannelInstalled(): boolean {
  return [BEARERBOX, SMSBOX, FAKESMSC].every((path) => existsSync(path));
}

/** One SMS as fakesmsc received it from bearerbox. */
export interface SmscMessage {
  from: string;
  to: string;
  /** fakesmsc's word for the coding: text, data, ucs-2, udh… */
  type: string;
  /** The text, decoded (url-decoded bytes as UTF-16BE for ucs-2). */
  text: string;
}

export interface KannelPeerOptions {
  /** Base URL of the sms-service get-url (inbound SMS), e.g. http://127.0.0.1:<port>/inbound/office. */
  inboundUrl: string;
  username: string;
  password: string;
}

export interface KannelPeer {
  /** smsbox's sendsms URL. */
  readonly sendsmsUrl: string;
  /** Every SMS fakesmsc has received so far. */
  readonly received: readonly SmscMessage[];
  /** Resolves with the first SMS fakesmsc received that matches; rejects after `timeoutMs`. */
  waitForSms(match: (sms: SmscMessage) => boolean, timeoutMs?: number): Promise<SmscMessage>;
  /** An SMS from a phone, through fakesmsc; resolves when the new fakesmsc is online again. */
  injectMo(from: string, to: string, text: string): Promise<void>;
  /** Stops bearerbox (and with it smsbox); resolves when both have exited. */
  stopBearerbox(): Promise<void>;
  /** The tail of bearerbox's and smsbox's logs, for a failing test's message. */
  logs(): string;
  stop(): Promise<void>;
}

interface Ports {
  admin: number;
  smsbox: number;
  smsc: number;
  sendsms: number;
}

function kannelConf(dir: string, ports: Ports, options: KannelPeerOptions & { getUrl: string }): string {
  return `# written by test/kannel-peer.ts
group = core
admin-port = ${ports.admin}
admin-password = admin-${ports.admin}
admin-interface = 127.0.0.1
admin-allow-ip = "127.0.0.1"
smsbox-port = ${ports.smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "${join(dir, 'bearerbox.log')}"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
allowed-smsc-id = fake
our-host = 127.0.0.1
port = ${ports.smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = ${ports.smsbox}
sendsms-port = ${ports.sendsms}
sendsms-interface = 127.0.0.1
log-file = "${join(dir, 'smsbox.log')}"
log-level = 1
mo-recode = true

group = sendsms-user
username = ${options.username}
password = ${options.password}
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "${options.getUrl}"
`;
}

/** `%00%C6…` (fakesmsc's url-encoded bytes) as text. */
function decodeSmscData(type: string, data: string): string {
  if (type === 'text') return data;
  const bytes = Buffer.from(data.replace(/\+/g, ' ').replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  return type === 'ucs-2' || type === 'ucs2' ? new TextDecoder('utf-16be').decode(bytes) : bytes.toString('utf8');
}

/** The UTF-16BE bytes of a text, url-encoded, as fakesmsc's `ucs2` type wants them. */
function ucs2Data(text: string): string {
  const bytes = Buffer.from(text, 'utf16le').swap16();
  return [...bytes].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
async function terminate(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`kannel: ${what} not within ${timeoutMs} ms\n${logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** bearerbox's status page: is the fake SMSC online and an smsbox connected? */
async function status(ports: Ports): Promise<string> {
  try {
    const response = await fetch(`http://127.0.0.1:${ports.admin}/status.txt?password=admin-${ports.admin}`);
    return await response.text();
  } catch {
    return '';
  }
}

const smscOnline = (text: string) => /fake\[fake\].*\(online/.test(text);
const smsboxOnline = (text: string) => /smsbox:.*\(on-line/.test(text);

/** What the three processes print: fakesmsc's "Got message" lines become SmscMessages a test can wait for. */
function createOutput() {
  const received: SmscMessage[] = [];
  const waiters: { match: (sms: SmscMessage) => boolean; resolve: (sms: SmscMessage) => void }[] = [];
  const output: string[] = [];
  const logs = () => output.slice(-40).join('\n');
  const onLine = (name: string, line: string) => {
    output.push(`${name}: ${line}`);
    const got = /Got message \d+: <(\S*) (\S*) (\S+) (.*)>$/.exec(line);
    if (!got) return;
    const sms: SmscMessage = { from: got[1]!, to: got[2]!, type: got[3]!, text: decodeSmscData(got[3]!, got[4]!) };
    received.push(sms);
    for (const waiter of [...waiters]) {
      if (waiter.match(sms)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(sms);
      }
    }
  };
  return {
    received,
    logs,
    keep(name: string, child: ChildProcess) {
      let rest = '';
      const onData = (chunk: Buffer) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) onLine(name, line);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
    },
    waitForSms(match: (sms: SmscMessage) => boolean, timeoutMs = 10_000): Promise<SmscMessage> {
      const already = received.find(match);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (sms: SmscMessage) => { clearTimeout(timer); resolve(sms); } };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`fakesmsc received no matching SMS within ${timeoutMs} ms; it has ${JSON.stringify(received)}\n${logs()}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
  };
}

export async function startKannelPeer(options: KannelPeerOptions & { token: string }): Promise<KannelPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-kannel-'));
  const ports: Ports = { admin: await freePort(), smsbox: await freePort(), smsc: await freePort(), sendsms: await freePort() };
  const confPath = join(dir, 'kannel.conf');
  writeFileSync(confPath, kannelConf(dir, ports, { ...options, getUrl: inboundGetUrl(options.inboundUrl, options.token) }));
  const out = createOutput();
  const logs = out.logs;
  const start = (name: string, program: string, args: string[]) => {
    const child = spawn(program, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    out.keep(name, child);
    return child;
  };
  // fakesmsc wants at least one message pattern even when it is to send none (-m 0).
  const fakesmsc = (messages: string[]) =>
    start('fakesmsc', FAKESMSC, ['-H', '127.0.0.1', '-r', String(ports.smsc), '-i', '0', '-m', String(messages.length), ...(messages.length > 0 ? messages : ['0 0 text idle'])]);

  // -v 2: warnings and worse on stderr; the log files keep the rest.
  const bearerbox = start('bearerbox', BEARERBOX, ['-v', '2', confPath]);
  let smsbox: ChildProcess | undefined;
  let smsc: ChildProcess | undefined;
  try {
    await until('bearerbox status page', async () => (await status(ports)) !== '', 15_000, logs);
    // Idle, it only prints what it receives.
    smsc = fakesmsc([]);
    await until('fakesmsc online', async () => smscOnline(await status(ports)), 15_000, logs);
    smsbox = start('smsbox', SMSBOX, ['-v', '2', confPath]);
    await until('smsbox connected', async () => smsboxOnline(await status(ports)), 15_000, logs);
  } catch (error) {
    await Promise.all([smsbox, smsc, bearerbox].map((child) => child && terminate(child)));
    throw error;
  }

  return {
    sendsmsUrl: `http://127.0.0.1:${ports.sendsms}/cgi-bin/sendsms`,
    received: out.received,
    waitForSms: out.waitForSms,
    async injectMo(from, to, text) {
      if (smsc) await terminate(smsc);
      await until('fake SMSC offline', async () => !smscOnline(await status(ports)), 10_000, logs);
      const message = /^[\x21-\x7e ]*$/.test(text) ? `${from} ${to} text ${text}` : `${from} ${to} ucs2 ${ucs2Data(text)}`;
      smsc = fakesmsc([message]);
      await until('fakesmsc online', async () => smscOnline(await status(ports)), 10_000, logs);
    },
    async stopBearerbox() {
      await terminate(bearerbox);
      if (smsbox) await terminate(smsbox);
    },
    logs,
    async stop() {
      await Promise.all([smsc, smsbox, bearerbox].map((child) => child && terminate(child)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
