/*
 * The SMTP attacks of issue 18 against a real daemon (its own process), with
 * figures printed, not asserted: starvation by one address, pipelined
 * transactions, hostile MIME while another session measures NOOP latency.
 * Clients come through the PROXY protocol so one machine can be an attacker's
 * addresses and a normal client's at once.
 *
 *   npm run build && node dist/bench/attack.js
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import Database from 'better-sqlite3';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NORMAL = '198.51.100.7';

interface Conn {
  socket: Socket;
  /** Resolves with the next reply line (the last line of a multi-line reply), or '' when closed. */
  reply(timeoutMs?: number): Promise<string>;
  send(line: string): void;
}

function open(port: number, client: string): Promise<Conn> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffer = '';
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!/^\d{3} /.test(line)) continue;
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  socket.on('close', () => waiters.splice(0).forEach((w) => w('')));
  const conn: Conn = {
    socket,
    reply(timeoutMs = 30_000) {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      if (socket.destroyed) return Promise.resolve('');
      return new Promise((done) => {
        const timer = setTimeout(() => done('(no answer)'), timeoutMs);
        waiters.push((l) => (clearTimeout(timer), done(l)));
      });
    },
    send: (line) => void socket.write(line + '\r\n'),
  };
  socket.write(`PROXY TCP4 ${client} 127.0.0.1 40000 25\r\n`);
  return Promise.resolve(conn);
}

async function say(conn: Conn, line: string): Promise<string> {
  conn.send(line);
  return conn.reply();
}

async function mail(port: number, client: string, body: string, headers = 'Content-Type: text/plain; charset=utf-8'): Promise<string> {
  const conn = await open(port, client);
  await conn.reply();
  await say(conn, 'EHLO bench.test');
  await say(conn, 'MAIL FROM:<ops@example.test>');
  await say(conn, 'RCPT TO:<+4520123456@sms.example.test>');
  await say(conn, 'DATA');
  const reply = await say(conn, `From: ops@example.test\r\nSubject: bench\r\n${headers}\r\n\r\n${body}\r\n.`);
  conn.socket.end();
  return reply;
}

async function starvation(port: number): Promise<void> {
  const held: Conn[] = [];
  const greet = async (client: string) => {
    const conn = await open(port, client);
    held.push(conn);
    const greeting = await conn.reply(5000);
    if (greeting.startsWith('220')) await say(conn, 'EHLO attacker.test');
    return greeting;
  };
  const one = await Promise.all(Array.from({ length: 200 }, () => greet('203.0.113.5')));
  const flood = await Promise.all(Array.from({ length: 60 }, (_, i) => greet(`203.0.113.${10 + i}`)));
  let delivered = 0;
  for (let i = 0; i < 16; i++) if ((await mail(port, NORMAL, `normal mail ${i}`)).startsWith('250')) delivered++;
  const admitted = (list: string[]) => list.filter((g) => g.startsWith('220')).length;
  console.log(`starvation: one address got ${admitted(one)}/200 connections, a flood of 60 addresses ${admitted(flood)}/60; the normal client delivered ${delivered}/16 mails meanwhile`);
  held.forEach((c) => c.socket.destroy());
}

async function pipelining(port: number): Promise<void> {
  const conn = await open(port, NORMAL);
  await conn.reply();
  let batch = 'EHLO bench.test\r\n';
  for (let i = 0; i < 20; i++) batch += `MAIL FROM:<ops@example.test>\r\nRCPT TO:<+452012346${i % 10}@sms.example.test>\r\nDATA\r\nSubject: p${i}\r\n\r\npipelined ${i}\r\n.\r\n`;
  conn.socket.write(batch + 'QUIT\r\n');
  let answered = 0;
  for (;;) {
    const line = await conn.reply(5000);
    if (line.startsWith('250 2.0.0') || line.startsWith('250 OK') || /^250 .*[Qq]ueued/.test(line)) answered++;
    if (line === '' || line === '(no answer)' || line.startsWith('221')) {
      console.log(`pipelining: ${answered}/20 transactions written in one go were answered 250; ${line.startsWith('221') ? 'QUIT answered' : 'then silence'}`);
      break;
    }
  }
  conn.socket.destroy();
}

async function hostileMime(port: number): Promise<void> {
  const parts = Array.from({ length: 1200 }, (_, i) => `--b\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('') + '--b--';
  let nested = 'deep\r\n';
  for (let i = 1000; i > 0; i--) nested = `--n${i}\r\nContent-Type: multipart/mixed; boundary="n${i + 1}"\r\n\r\n${nested}\r\n--n${i}--\r\n`;
  const html = 'Content-Type: text/html; charset=utf-8';
  const cases: [string, string, string][] = [
    ['1,200 MIME parts', parts, 'Content-Type: multipart/mixed; boundary="b"'],
    ['MIME nested 1,000 deep', nested, 'Content-Type: multipart/mixed; boundary="n1"'],
    ['3,000 nested <div>', '<div>'.repeat(3000) + 'x' + '</div>'.repeat(3000), html],
    ['150k nested <div>', '<div>'.repeat(150_000) + 'x', html],
    ['200k unclosed <b>', '<b>x'.repeat(200_000), html],
  ];
  for (const [name, body, headers] of cases) {
    const probe = await open(port, '198.51.100.9');
    await probe.reply();
    let done = false;
    let worst = 0;
    const sent = mail(port, NORMAL, body, headers).finally(() => (done = true));
    while (!done) {
      const start = performance.now();
      await say(probe, 'NOOP');
      worst = Math.max(worst, performance.now() - start);
      await new Promise((r) => setTimeout(r, 5));
    }
    probe.socket.destroy();
    console.log(`hostile MIME: ${name}: "${(await sent).slice(0, 90)}"; worst NOOP round trip on another session ${worst.toFixed(0)} ms`);
  }
}

const TOKEN = 'bench-token-0123456789abcdef0123';
const SIM_SECRET = 'bench-simulator-secret-0123456789';

/** Peak resident memory of a process (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

/** POSTs `size` bytes (streamed) and resolves with the status, or 'reset' when the connection dies before an answer. */
function upload(port: number, path: string, size: number, headers: Record<string, string>): Promise<number | 'reset'> {
  return new Promise((done) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': String(size), ...headers } });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', () => (answered ? undefined : done('reset')));
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    let written = 0;
    const pump = () => {
      while (written < size && !answered && !req.destroyed) {
        written += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}

async function post(port: number, path: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  await response.text();
  return response.status;
}

function tally(list: (number | string)[]): string {
  const counts = new Map<string, number>();
  for (const item of list) counts.set(String(item), (counts.get(String(item)) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n}× ${k}`).join(', ');
}

async function http(port: number, pid: number, dbFile: string): Promise<void> {
  const before = peakRssMb(pid);
  const uploads = await Promise.all(Array.from({ length: 20 }, () => upload(port, '/sends', 30 * 1024 * 1024, {})));
  console.log(`http: 20 parallel 30 MB POST /sends without a token: ${tally(uploads)}; peak RSS ${before} → ${peakRssMb(pid)} MB`);
  const auth = { authorization: `Bearer ${TOKEN}` };
  console.log(`http: a 40 MB POST /sends with a token: ${await upload(port, '/sends', 40 * 1024 * 1024, auth)}; a 1 MB receipt: ${await upload(port, '/receipts', 1024 * 1024, {})}`);
  const odd = [];
  for (const body of ['null', '[null]', '[{"number":"+4520123456"},null]']) odd.push(`${body} → ${await post(port, '/sends', body, auth)}`);
  console.log(`http: /sends bodies ${odd.join('; ')}`);
  console.log(`http: /sends with at 2030-01-01: ${await post(port, '/sends', JSON.stringify({ number: '+4520123499', at: '2030-01-01T00:00:00Z' }), auth)}`);
  const receipt = JSON.stringify({ id: 'sim-replayed', status: 'delivered' });
  const t = String(Math.floor(Date.now() / 1000));
  const signature = `t=${t},v1=${createHmac('sha256', SIM_SECRET).update(`${t}.${receipt}`).digest('hex')}`;
  const replies = [];
  for (let i = 0; i < 500; i++) replies.push(await post(port, '/receipts', receipt, { 'x-mail2sms-signature': signature }));
  const db = new Database(dbFile, { readonly: true });
  const rows = db.prepare(`SELECT count(*) FROM receipts WHERE provider_message_id = 'sim-replayed'`).pluck().get();
  db.close();
  console.log(`http: 500 replays of one signed receipt: ${tally(replies)}; ${String(rows)} row(s) stored`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-attack-'));
  mkdirSync(join(dir, 'setups'));
  const configFile = join(dir, 'mail2sms.yaml');
  writeFileSync(configFile, [
    'smtp:', '  listen: 127.0.0.1:0', '  hostname: bench.test', '  max_message_size: 2MB', "  proxy_protocol: ['127.0.0.1']", '  max_connection_rate: 100000',
    'sms_domains: [sms.example.test]', 'storage:', '  path: data/ledger.db', 'http:', '  listen: 127.0.0.1:0', '  tokens:', '    - name: bench', `      sha256: ${createHash('sha256').update(TOKEN).digest('hex')}`,
    'provider:', '  type: simulator', '  listen: 127.0.0.1:0', `  secret: ${SIM_SECRET}`, 'log:', '  level: info', '',
  ].join('\n'));
  writeFileSync(join(dir, 'setups', 'alerts.yaml'), 'id: alerts\nsenders: [example.test]\nauthorize: {ip: [198.51.100.0/24]}\nsender_name: Example\ncooldown: "off"\ndefault_country: DK\n');
  const bin = join(ROOT, 'bin', 'mail2sms.js');
  execFileSync(process.execPath, [bin, 'migrate', '-c', configFile], { stdio: 'ignore' });
  const daemon = spawn(process.execPath, [bin, 'serve', '-c', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const ports = await new Promise<{ smtp: number; http: number }>((done, fail) => {
      createInterface({ input: daemon.stdout }).on('line', (line) => {
        try {
          const parsed = JSON.parse(line) as { msg?: string; ports?: { smtp: number; http: number } };
          if (parsed.msg === 'mail2sms ready' && parsed.ports) done(parsed.ports);
        } catch {
          // not a log line
        }
      });
      daemon.once('exit', (code) => fail(new Error(`daemon exited ${code}`)));
    });
    const only = process.argv[2];
    const port = ports.smtp;
    if (!only || only === 'http') await http(ports.http, daemon.pid as number, join(dir, 'data', 'ledger.db'));
    if (!only || only === 'smtp') {
      await starvation(port);
      await new Promise((r) => setTimeout(r, 500));
      await pipelining(port);
      await hostileMime(port);
    }
  } finally {
    daemon.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
