import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpConnection, type Reply } from '../bench/smtp-client.js';
import { createLogger } from '../src/core/log.js';
import { connectionOptions } from '../src/ledger/postgres/pool.js';
import { startPgSession } from '../src/ledger/postgres/session.js';
import { alertsSetup, queueIdOf, SIM_SECRET, simulatorMessages, simulatorStats, waitFor, writeConfig, type TestDirs } from './helpers.js';
import { danishNumbers, loadMail } from './load.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';
import { freePort, startProcess, type Proc } from './process.js';

/*
 * PostgreSQL stopped (`pg_ctl -m fast stop`: every session is ended) and
 * started again on the same port and data directory, three times, while four
 * SMTP clients send and the dispatcher holds connections across provider
 * calls. The daemon is a real process: it must never exit, must answer 451
 * while the database is away and recover by itself, and nothing that got a
 * 250 may be lost or sent twice.
 */

const RESTARTS = 3;
const CLIENTS = 4;
/** Mails accepted between two restarts. */
const PER_ROUND = 100;
const FROM = 'ops@example.test';

let server: TestPostgres;
let sim: Proc;
let simUrl: string;
let dirs: TestDirs | undefined;
let daemon: Proc | undefined;

beforeAll(async () => {
  server = await startTestPostgres();
  const simPort = await freePort();
  sim = startProcess(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10']);
  await sim.waitForLog('provider simulator ready');
  simUrl = `http://127.0.0.1:${simPort}`;
  // Every provider call takes a while: the dispatcher holds a connection across it (the send guard) when the database stops.
  expect((await fetch(`${simUrl}/faults`, { method: 'PUT', body: JSON.stringify({ latency_ms: 30 }) })).status).toBe(200);
});
afterAll(async () => {
  await daemon?.kill('SIGKILL');
  dirs?.cleanup();
  await sim?.kill('SIGTERM');
  await server?.restart();
  await server?.stop();
});

interface Mail {
  number: string;
  rcpt: string;
  message: string;
  queueId?: string;
}

interface Load {
  accepted(): number;
  /** How many replies of each code the clients got. */
  codes: Map<number, number>;
  /** Connections that failed (a reply that never came ends its connection after 30 s). */
  failures(): number;
  /** Stops making new mails; resolves when every mail made so far got its 250 (the clients retry 451s). */
  finish(): Promise<Mail[]>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `clients` connections, each sending one mail after the other, new mails until finish(); a 451 or a failed connection is retried like an MTA would. */
function startLoad(port: number, numbers: string[], clients: number): Load {
  const mails: Mail[] = [];
  const retries: Mail[] = [];
  const codes = new Map<number, number>();
  let failures = 0;
  let accepted = 0;
  let finished = false;
  const nextMail = (): Mail | undefined => {
    if (retries.length > 0) return retries.shift();
    const number = !finished ? numbers[mails.length] : undefined;
    if (!number) return undefined;
    const rcpt = `${number}@sms.example.test`;
    const mail = { number, rcpt, message: loadMail({ to: rcpt, messageId: `restart-${mails.length}@example.test`, text: `restart ${mails.length}` }) };
    mails.push(mail);
    return mail;
  };
  const client = async () => {
    let smtp: SmtpConnection | undefined;
    for (let mail = nextMail(); mail; mail = nextMail()) {
      try {
        if (!smtp) {
          smtp = new SmtpConnection(port);
          await smtp.open('load-client.example.test');
        }
        const reply = await smtp.sendInTurn(FROM, mail.rcpt, mail.message);
        codes.set(reply.code, (codes.get(reply.code) ?? 0) + 1);
        if (reply.code === 250) {
          mail.queueId = queueIdOf(reply.text);
          accepted++;
          continue;
        }
      } catch {
        failures++;
        smtp?.destroy();
        smtp = undefined;
      }
      retries.push(mail);
      await sleep(50);
    }
    await smtp?.quit();
  };
  const done = Promise.all(Array.from({ length: clients }, client));
  return {
    accepted: () => accepted,
    codes,
    failures: () => failures,
    async finish() {
      finished = true;
      await done;
      return mails;
    },
  };
}

/** One mail on its own connection, during the outage: its final reply, or a failure after 20 s (a hang). */
async function probeMail(port: number, number: string): Promise<Reply> {
  const smtp = new SmtpConnection(port);
  const reply = (async () => {
    await smtp.open('probe.example.test');
    const rcpt = `${number}@sms.example.test`;
    return smtp.sendInTurn(FROM, rcpt, loadMail({ to: rcpt, messageId: `probe-${number}@example.test`, text: 'during the outage' }));
  })();
  const hang = sleep(20_000).then(() => {
    throw new Error('no reply within 20 s while the database was away');
  });
  try {
    return await Promise.race([reply, hang]);
  } finally {
    await smtp.quit();
  }
}

async function healthStatus(httpPort: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status;
}

/** How often the daemon's LISTEN session came back after losing its connection. */
const listening = (proc: Proc) => proc.lines.filter((line) => line.includes('LISTEN connection back')).length;

/** Fails with the daemon's last words if it has exited. */
function assertAlive(proc: Proc): void {
  if (proc.child.exitCode === null && proc.child.signalCode === null) return;
  throw new Error(`the daemon exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.lines.filter((l) => /"level":(50|60)/.test(l)).slice(-5).join('\n')}`);
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client(connectionOptions(url));
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('PostgreSQL restarted under load', () => {
  it(`${RESTARTS} fast stops and starts while ${CLIENTS} clients send: no exit, 451 and 503 meanwhile, every 250 stored and sent exactly once`, async () => {
    const url = await server.createDatabase();
    dirs = writeConfig({
      setups: [alertsSetup({ cooldown: 'off' })],
      provider: { listen: simUrl.replace('http://', ''), embedded: false, timeout: '5s' },
      main: {
        storage: { type: 'postgres', url, pool: 8 },
        http: { listen: '127.0.0.1:0' },
        // No polling to speak of: after each restart, dispatch goes on only if the LISTEN session came back by itself.
        // The lease outlasts an outage, so an outcome the database missed is written when it is back (no second call).
        dispatch: { poll_interval: '10m', retry_base: '100ms', lease: '10s', concurrency: 8 },
        log: { level: 'info' },
      },
    });
    daemon = startProcess(['serve', '-c', dirs.configFile]);
    const ready = await daemon.waitForLog('mail2sms ready', 30_000);
    const ports = ready.ports as { smtp: number; http: number };
    const numbers = danishNumbers(4000 + RESTARTS, 4520600000);
    const probes = numbers.slice(-RESTARTS);
    const load = startLoad(ports.smtp, numbers.slice(0, -RESTARTS), CLIENTS);
    const outage: { health: number; probe: Reply; ms: number }[] = [];
    const afterwards: number[] = [];

    for (let round = 1; round <= RESTARTS; round++) {
      await waitFor(() => load.accepted() >= round * PER_ROUND, `${round * PER_ROUND} mails accepted`, 30_000);
      // The LISTEN session is back from the last restart before the next one.
      await waitFor(() => listening(daemon!) >= round - 1, 'the LISTEN session back', 20_000);
      const stoppedAt = Date.now();
      await server.halt();
      await sleep(100);
      assertAlive(daemon);
      const refusedBefore = load.codes.get(451) ?? 0;
      const health = await healthStatus(ports.http);
      const probe = await probeMail(ports.smtp, probes[round - 1]!);
      // Every client met the outage before the database comes back.
      await waitFor(() => (load.codes.get(451) ?? 0) >= refusedBefore + CLIENTS, `${CLIENTS} more 451 replies`, 20_000);
      await server.restart();
      outage.push({ health, probe, ms: Date.now() - stoppedAt });
      afterwards.push(await waitFor(async () => ((await healthStatus(ports.http)) === 200 ? 200 : undefined), '/healthz 200 after the restart', 20_000));
    }
    await waitFor(() => load.accepted() >= (RESTARTS + 1) * PER_ROUND, 'mails accepted after the last restart', 30_000);
    const mails = await load.finish();

    // Everything that got a 250 is sent, once.
    await waitFor(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM outbox WHERE status NOT IN ('sent', 'delivered')`))[0]?.n === 0,
      'every row sent', 30_000);
    const stored = await query<{ id: string }>(url, 'SELECT id FROM messages');
    const rows = await query<{ recipient: string }>(url, 'SELECT recipient FROM outbox');
    const perNumber = new Map<string, number>();
    for (const sms of await simulatorMessages(simUrl)) perNumber.set(sms.to, (perNumber.get(sms.to) ?? 0) + 1);
    const codes = Object.fromEntries(load.codes);
    const { duplicates } = await simulatorStats(simUrl);
    console.log(`[pg restart] ${RESTARTS} restarts (database away ${outage.map((o) => o.ms).join(', ')} ms); ${mails.length} mails, `
      + `replies ${JSON.stringify(codes)}, failed connections ${load.failures()}; provider calls repeated (same idempotency key) ${duplicates}`);

    expect(daemon.child.exitCode).toBe(null);
    expect(daemon.lines.filter((line) => line.includes('uncaught exception'))).toEqual([]);
    expect(outage.map((o) => o.health)).toEqual(Array(RESTARTS).fill(503));
    expect(outage.map((o) => `${o.probe.code} ${o.probe.text.slice(0, 5)}`)).toEqual(Array(RESTARTS).fill('451 4.3.0'));
    expect(afterwards).toEqual(Array(RESTARTS).fill(200));
    expect(Object.keys(codes).sort()).toEqual(['250', '451']);
    expect(load.failures()).toBe(0);
    expect(new Set(mails.map((m) => m.queueId)).size).toBe(mails.length);
    expect(stored.map((s) => s.id).sort()).toEqual(mails.map((m) => m.queueId).sort());
    expect(rows.map((r) => r.recipient).sort()).toEqual(mails.map((m) => m.number).sort());
    expect(mails.filter((m) => perNumber.get(m.number) !== 1)).toEqual([]);
    expect(probes.filter((p) => perNumber.has(p))).toEqual([]);
    expect(listening(daemon)).toBe(RESTARTS);
    // Outcomes the database missed were written when it was back, within the lease: no SMS went to the provider twice.
    expect(duplicates).toBe(0);
  }, 90_000);
});

describe('the LISTEN session across a restart', () => {
  it('reconnects with a doubling wait (capped) while the database is away, then listens again and hears a NOTIFY', async () => {
    const url = await server.createDatabase();
    const logs: { msg: string; retryInMs?: number; tries?: number }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as (typeof logs)[number]);
        done();
      },
    });
    let notices = 0;
    const session = startPgSession({
      url, channel: 'restart_test', logger: createLogger({ level: 'info', destination: sink }), onNotify: () => notices++, reconnectMs: 50, maxReconnectMs: 400,
    });
    try {
      // Connected: it says so by looking for rows queued before it listened.
      await waitFor(() => notices === 1, 'the session listening');
      await server.halt();
      const waits = () => logs.filter((l) => l.msg.startsWith('LISTEN connection lost')).map((l) => l.retryInMs);
      await waitFor(() => waits().length >= 6, 'six tries while the database is away', 20_000);
      expect(waits().slice(0, 6)).toEqual([50, 100, 200, 400, 400, 400]);
      await server.restart();
      const back = await waitFor(() => logs.find((l) => l.msg === 'LISTEN connection back; listening again'), 'the session back', 20_000);
      expect(back.tries).toBeGreaterThanOrEqual(6);
      const heard = notices;
      await query(url, `NOTIFY restart_test`);
      await waitFor(() => notices > heard, 'the NOTIFY heard on the new connection');
    } finally {
      await session.close();
    }
  });
});
