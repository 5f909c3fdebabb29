/*
 * The floor of dispatch for bench/dispatch-cost.ts: what node:http and
 * node:crypto cost per SMS when a process does nothing but the minimum the
 * provider exchange needs. Two roles, each its own process:
 *
 *   provider  a node:http server like the simulator's provider API: POST /send
 *             (JSON {to, from, text, callback_url}) is answered 200 {id, parts},
 *             then the SMS's 3 part receipts are POSTed one after the other to
 *             callback_url, each signed as the simulator signs them
 *             (x-mail2sms-signature: t=…,v1=HMAC-SHA256 of "t.body"), over a
 *             keep-alive agent. Prints {"port":N} once listening.
 *   client    the measured process: a keep-alive node:http client that sends N
 *             SMS, 8 at a time (the dispatcher's default concurrency), and a
 *             node:http receipt receiver that checks each signature
 *             (crypto.timingSafeEqual) and the timestamp, parses the receipt
 *             and answers 204. Nothing is stored. It sends a warmup first,
 *             then counts its own CPU (all threads, process.cpuUsage) and the
 *             provider's (/proc) from the first measured SMS until the last
 *             receipt is answered, prints one JSON line and exits.
 *
 *   node dist/bench/dispatch-floor.js provider --secret S
 *   node dist/bench/dispatch-floor.js client --provider http://127.0.0.1:P --provider-pid PID --secret S [--sms 5000] [--warmup 1000]
 */
import { createHmac, createSecretKey, randomUUID, timingSafeEqual, type KeyObject } from 'node:crypto';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const SIGNATURE_HEADER = 'x-mail2sms-signature';
const PARTS = 3;
const CONCURRENCY = 8;
const TEXT = 'Disk /var on db-7 is 97 % full; writes will fail within the hour. '.repeat(7).slice(0, 440);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    secret: { type: 'string', default: 'floor-secret' },
    provider: { type: 'string' },
    'provider-pid': { type: 'string' },
    sms: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '1000' },
  },
});

/** CPU seconds (user + system) of a process from /proc; not bench/harness.js, whose signal handlers a child must not carry. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** One POST over `agent`; resolves with the status and the body as text. */
function post(agent: Agent, url: URL, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, text }), reject),
    );
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------- provider

function sign(key: KeyObject, body: string): string {
  const t = String(Math.floor(Date.now() / 1000));
  return `t=${t},v1=${createHmac('sha256', key).update(`${t}.${body}`, 'utf8').digest('hex')}`;
}

function runProvider(secret: string): void {
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  async function postReceipts(callbackUrl: URL, id: string): Promise<void> {
    for (let part = 1; part <= PARTS; part++) {
      const body = JSON.stringify({ id, part, parts: PARTS, status: 'delivered', timestamp: new Date().toISOString() });
      await post(agent, callbackUrl, body, { [SIGNATURE_HEADER]: sign(key, body) });
    }
  }
  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const sms = JSON.parse(text) as { callback_url: string };
      const id = randomUUID();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, parts: PARTS }));
      postReceipts(new URL(sms.callback_url), id).catch((error: unknown) => process.stderr.write(`receipt: ${(error as Error).message}\n`));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }) + '\n');
  });
}

// ---------------------------------------------------------------- client

/** Checks a receipt's signature as the daemon must: the MAC over "t.body" as bytes, then the time. */
function createVerifier(secret: string): (body: string, header: string | undefined) => boolean {
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  return (body, header) => {
    const match = header === undefined ? null : /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header);
    if (!match) return false;
    const [, t, v1] = match as unknown as [string, string, string];
    const expected = createHmac('sha256', key).update(`${t}.${body}`, 'utf8').digest();
    return timingSafeEqual(Buffer.from(v1, 'hex'), expected) && Math.abs(Date.now() - Number(t) * 1000) <= 300_000;
  };
}

/** The receipt receiver; `onReceipt` after each verified one. */
function startReceiver(secret: string, onReceipt: () => void): Promise<number> {
  const verify = createVerifier(secret);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then((body) => {
      const header = req.headers[SIGNATURE_HEADER];
      if (!verify(body, Array.isArray(header) ? header[0] : header)) return res.writeHead(403).end();
      const receipt = JSON.parse(body) as { id?: unknown; part?: unknown };
      if (typeof receipt.id !== 'string' || typeof receipt.part !== 'number') return res.writeHead(400).end();
      res.writeHead(204).end();
      onReceipt();
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    resolve(typeof address === 'object' && address ? address.port : 0);
  }));
}

async function runClient(providerUrl: string, providerPid: number | undefined, secret: string, sms: number, warmup: number): Promise<void> {
  let receipts = 0;
  let waiting: { count: number; resolve(): void } | undefined;
  const receiverPort = await startReceiver(secret, () => {
    receipts++;
    if (waiting && receipts >= waiting.count) waiting.resolve();
  });
  const receiptsReach = (count: number) => new Promise<void>((resolve) => (receipts >= count ? resolve() : (waiting = { count, resolve })));
  const sendUrl = new URL('/send', providerUrl);
  const callbackUrl = `http://127.0.0.1:${receiverPort}/receipts`;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let next = 0;
  async function sendUntil(end: number): Promise<void> {
    while (next < end) {
      const i = next++;
      const body = JSON.stringify({ to: `+4520${String(100000 + (i % 900000))}`, from: 'Example', text: TEXT, callback_url: callbackUrl });
      const answer = await post(agent, sendUrl, body, { 'idempotency-key': `floor-${i}` });
      const sent = JSON.parse(answer.text) as { id?: unknown };
      if (answer.status !== 200 || typeof sent.id !== 'string') throw new Error(`provider answered ${answer.status} ${answer.text}`);
    }
  }
  const sendBatch = async (end: number) => {
    await Promise.all(Array.from({ length: CONCURRENCY }, () => sendUntil(end)));
    await receiptsReach(end * PARTS);
  };
  await sendBatch(warmup);
  const [cpu0, provider0, started] = [process.cpuUsage(), cpuSeconds(providerPid), performance.now()];
  await sendBatch(warmup + sms);
  const cpu = process.cpuUsage(cpu0);
  const provider1 = cpuSeconds(providerPid);
  const providerUs = provider0 === undefined || provider1 === undefined ? null : ((provider1 - provider0) * 1e6) / sms;
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ sms, receipts: receipts - warmup * PARTS, seconds, clientUs: (cpu.user + cpu.system) / sms, providerUs }) + '\n', () => process.exit(0));
}

const secret = values.secret as string;
if (positionals[0] === 'provider') runProvider(secret);
else if (positionals[0] === 'client' && values.provider) {
  const pid = values['provider-pid'] === undefined ? undefined : Number(values['provider-pid']);
  runClient(values.provider, pid, secret, Number(values.sms), Number(values.warmup)).catch((error: unknown) => {
    process.stderr.write(`dispatch-floor client: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: dispatch-floor.js provider --secret S | client --provider URL [--provider-pid PID] --secret S [--sms N] [--warmup W]\n');
  process.exit(2);
}
