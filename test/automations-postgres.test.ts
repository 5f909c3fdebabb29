import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { connectionOptions } from '../src/ledger/postgres/pool.js';
import { alertsSetup, SIM_SECRET, simulatorMessages, waitFor, writeConfig, type TestDirs } from './helpers.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';
import { freePort, startProcess, type Proc } from './process.js';

/*
 * Two daemons (separate processes) on one PostgreSQL ledger, an automation due
 * every minute: each occurrence is started by exactly one of them (the run's
 * key decides; the other gets already-ran), and `automations run` from the
 * command line joins in under the same key.
 */

const run = promisify(execFile);
let server: TestPostgres;
let sim: Proc;
let simUrl: string;
let simPort: number;
const procs: Proc[] = [];
const dirs: TestDirs[] = [];

beforeAll(async () => {
  server = await startTestPostgres();
  simPort = await freePort();
  sim = startProcess(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10']);
  await sim.waitForLog('provider simulator ready');
  simUrl = `http://127.0.0.1:${simPort}`;
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGTERM')));
  await sim.kill('SIGTERM');
  await server.stop();
  for (const d of dirs) d.cleanup();
});

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(connectionOptions(url));
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

function nodeConfig(url: string): string {
  const d = writeConfig({
    setups: [alertsSetup(), alertsSetup({ id: 'club', senders: ['club.test'], sender_name: 'Club', cooldown: 'off', groups: ['members'] })],
    provider: { listen: `127.0.0.1:${simPort}`, embedded: false, timeout: '5s' },
    main: { groups: { members: {} }, storage: { type: 'postgres', url, pool: 6 }, dispatch: { poll_interval: '100ms' }, log: { level: 'debug' } },
  });
  dirs.push(d);
  mkdirSync(join(d.dir, 'automations'));
  writeFileSync(join(d.dir, 'automations', 'minutely.yaml'), stringify({
    id: 'minutely', title: 'Every minute', setup: 'club', schedule: { cron: '* * * * *', timezone: 'Europe/Copenhagen' },
    recipients: { group: 'members' }, text: 'Hi {{first_name}}', catch_up: '1h',
  }));
  writeFileSync(join(d.dir, 'members.csv'), 'id,number,groups,first_name\n' + [1, 2, 3, 4, 5].map((i) => `m${i},+452040000${i},members,M${i}`).join('\n') + '\n');
  return d.configFile;
}

describe('automations on several daemons', () => {
  it('two daemons on one PostgreSQL ledger fire each run once; automations run by hand shares the key', async () => {
    const url = await server.createDatabase();
    const [configA, configB] = [nodeConfig(url), nodeConfig(url)];
    await run(process.execPath, ['bin/mail2sms.js', 'contacts', 'import', join(configA, '..', 'members.csv'), '--source', 'members', '-c', configA]);
    const [a, b] = [startProcess(['serve', '-c', configA]), startProcess(['serve', '-c', configB])];
    procs.push(a, b);
    await Promise.all([a.waitForLog('mail2sms ready', 30_000), b.waitForLog('mail2sms ready', 30_000)]);

    const byHand = JSON.parse((await run(process.execPath, ['bin/mail2sms.js', 'automations', 'run', 'minutely', '--json', '-c', configB])).stdout) as { outcome: string };
    expect(['ran', 'already-ran']).toContain(byHand.outcome);
    // The next minute's occurrence: both daemons' timers fire at it.
    await waitFor(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM automation_runs WHERE outcome = 'ran'`))[0]!.n >= 2, 'two runs', 100_000);
    await waitFor(async () => (await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM outbox WHERE status IN ('queued', 'sending')`))[0]!.n === 0, 'every SMS sent', 30_000);

    const runs = await query<{ scheduled_at: number; message_id: string; run_by: string }>(url, `SELECT scheduled_at, message_id, run_by FROM automation_runs WHERE outcome = 'ran' ORDER BY scheduled_at`);
    const rows = await query<{ message_id: string; recipient: string }>(url, 'SELECT message_id, recipient FROM outbox ORDER BY id');
    expect(rows).toHaveLength(5 * runs.length);
    expect(new Set(rows.map((r) => r.message_id))).toEqual(new Set(runs.map((r) => r.message_id)));
    const messages = (await simulatorMessages(simUrl)).filter((m) => m.to.startsWith('+45204'));
    expect(messages).toHaveLength(5 * runs.length);
    expect(new Set(messages.map((m) => m.idempotency_key)).size).toBe(messages.length);
    const started = [...a.lines, ...b.lines].filter((line) => line.includes('"automation run started"'));
    const alreadyRan = [...a.lines, ...b.lines].filter((line) => line.includes('already done'));
    console.log(`[automations pg] ${runs.length} run(s); started by a daemon: ${started.length}; already ran at the other: ${alreadyRan.length}`);
    // Each occurrence the daemons ran was started by one of them only.
    expect(started).toHaveLength(runs.filter((r) => r.run_by !== 'manual').length);
  }, 180_000);
});
