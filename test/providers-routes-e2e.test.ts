import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createProviderSimulator, type ProviderSimulator } from '../src/simulator/server.js';
import { quietLogger } from './ledger-fixture.js';
import { freePort, queueIdOf, sendMail, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Named providers, end to end (issue 24): the daemon with two providers on one
 * route; the primary refuses connections, so every SMS goes via the backup,
 * whose receipts arrive at /receipts/backup (signed with its own secret) and
 * whose inbound SMS arrive at /inbound/backup. A real simulator, a real port
 * with nothing listening, real SMTP.
 */

const BACKUP_SECRET = 'backup-simulator-secret-0123456789';
let backup: ProviderSimulator;
let backupUrl: string;
let daemonUrl = '';
let dirs: TestDirs;
let t: TestDaemon;


beforeAll(async () => {
  backup = createProviderSimulator({
    listen: { host: '127.0.0.1', port: 0 }, secret: BACKUP_SECRET, receiptDelayMs: 20, logger: quietLogger(),
    inboundUrl: () => `${daemonUrl}/inbound/backup`,
  });
  const started = await backup.start();
  backupUrl = started.url;
  // A fixed HTTP port: `mail2sms providers` finds the daemon by the config's http.listen.
  const httpPort = await freePort();
  dirs = writeConfig({
    main: {
      http: { listen: `127.0.0.1:${httpPort}` },
      provider: undefined,
      providers: {
        primary: { type: 'simulator', embedded: false, listen: `127.0.0.1:${await freePort()}`, secret: 'primary-simulator-secret-0123456789', timeout: '2s' },
        backup: { type: 'simulator', embedded: false, listen: `127.0.0.1:${started.port}`, secret: BACKUP_SECRET },
      },
      routes: [{ providers: ['primary', 'backup'] }],
    },
  });
  t = await startTestDaemon(dirs);
  const http = t.logs.find((l) => l.msg === 'mail2sms ready')?.ports as { http: number } | undefined;
  daemonUrl = `http://127.0.0.1:${http?.http}`;
});
afterAll(async () => {
  await t?.stop();
  await backup?.stop();
  dirs?.cleanup();
});

describe('two providers on one route, the first refusing connections', () => {
  it('every SMS goes via the backup once, the hop is logged, and its receipts settle the rows', async () => {
    // Six: the primary's circuit opens after five refusals in a row.
    const numbers = ['+4520126001', '+4520126002', '+4520126003', '+4520126004', '+4520126005', '+4520126006'];
    const queued = await Promise.all(numbers.map((n) => sendMail({ port: t.smtpPort, from: 'ops@example.test', to: `${n}@sms.example.test`, text: 'Pump 3 down' })));
    const ids = queued.map((q) => queueIdOf(q.response));
    await waitFor(async () => {
      const rows = await Promise.all(ids.map(async (queueId) => (await t.daemon.ledger.outbox({ queueId }))[0]?.status));
      return rows.every((status) => status === 'delivered');
    }, 'every row delivered through /receipts/backup');
    const sent = (await (await fetch(`${backupUrl}/messages`)).json()) as { to: string }[];
    expect(sent.map((m) => m.to).sort()).toEqual(numbers);
    const lines = t.logs.filter((l) => l.msg === 'sms sent');
    expect(lines).toHaveLength(6);
    for (const line of lines) {
      expect(line.via).toBe('backup');
      expect((line.hops as string[])[0]).toMatch(/^primary: (provider unreachable: ECONNREFUSED|circuit open)/);
    }
  });

  it("/healthz says the primary's circuit is open, and stays 200 (degraded: the backup sends)", async () => {
    const health = await fetch(`${daemonUrl}/healthz`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; circuits: string };
    expect(body.status).toBe('degraded');
    expect(body.circuits).toMatch(/^primary (open|half-open) \(provider unreachable: ECONNREFUSED/);
  });

  it("a STOP through the backup's inbound webhook opts the number out", async () => {
    const number = '+4520126010';
    const stop = await fetch(`${backupUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: number, text: 'STOP' }) });
    expect(stop.status).toBe(200);
    const after = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: `${number}@sms.example.test`, text: 'Alarm' });
    expect(after.response).toMatch(/suppressed \(opted_out\)/);
  });

  it('an unsigned receipt to a named provider is refused; a name that is no provider is not found', async () => {
    const unsigned = await fetch(`${daemonUrl}/receipts/backup`, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(403);
    expect((await fetch(`${daemonUrl}/receipts/nobody`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(`${daemonUrl}/inbound/nobody`, { method: 'POST', body: '{}' })).status).toBe(404);
  });
});

describe('mail2sms providers', () => {
  it('lists each provider, its route and its circuit as the running daemon has it', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/mail2sms.js', 'providers', '--json', '-c', dirs.configFile]);
    const listed = JSON.parse(stdout) as { providers: { name: string; type: string; circuit: string; routes: string[] }[] };
    expect(listed.providers.map((p) => [p.name, p.type, p.routes])).toEqual([
      ['primary', 'simulator', ['#1 default: primary → backup']],
      ['backup', 'simulator', ['#1 default: primary → backup']],
    ]);
    expect(listed.providers[0]?.circuit).toMatch(/^(open|half-open) \(provider unreachable: ECONNREFUSED/);
    expect(listed.providers[1]?.circuit).toBe('closed');
    expect(stdout).not.toContain('secret');
  });
});

describe('check-config on routes', () => {
  it('refuses a route naming an unknown provider, and provider with providers', () => {
    const bad = writeConfig({ main: { provider: undefined, providers: { gw: { type: 'simulator', listen: '127.0.0.1:0', secret: 'x'.repeat(20) } }, routes: [{ providers: ['gw', 'office'] }] } });
    const both = writeConfig({ main: { providers: { gw: { type: 'simulator', listen: '127.0.0.1:0', secret: 'x'.repeat(20) } } } });
    try {
      expect(() => loadConfig(bad.configFile)).toThrow(/mail2sms\.yaml:\d+:\d+: routes\.0\.providers\.1: "office" is not a provider \(providers: gw\)/);
      expect(() => loadConfig(both.configFile)).toThrow(/providers: give either provider \(one\) or providers \(several\), not both/);
    } finally {
      bad.cleanup();
      both.cleanup();
    }
  });
});
