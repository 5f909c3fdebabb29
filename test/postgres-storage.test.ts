import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { migratePostgres } from '../src/ledger/postgres/migrate.js';
import { connectionOptions, createPgPool } from '../src/ledger/postgres/pool.js';
import { createPostgresLedger, type PostgresLedger } from '../src/ledger/postgres/ledger.js';
import { createClaimPolicy } from '../src/dispatch/claim-policy.js';
import type { Ledger } from '../src/ledger/types.js';
import { writeConfig, type TestDirs } from './helpers.js';
import { intakeMessage, openTestLedger, quietLogger } from './ledger-fixture.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';
import { freePort } from './process.js';

/*
 * The PostgreSQL ledger from the command line: config, startup errors,
 * moving a SQLite ledger over, purge on both backends, backup. A throwaway
 * PostgreSQL for this file, a database per test.
 */

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['bin/mail2sms.js', ...args], { env: { ...process.env, ...env } });
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code: number; stderr: string; stdout: string }) => e);
const DAY = 86_400_000;

let server: TestPostgres;
const cleanups: (() => void | Promise<void>)[] = [];
beforeAll(async () => {
  server = await startTestPostgres();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => server.stop());

function postgresConfig(url: string, extra: Record<string, unknown> = {}): TestDirs {
  const dirs = writeConfig({ main: { storage: { type: 'postgres', url, pool: 4, ...extra } } });
  cleanups.push(() => dirs.cleanup());
  return dirs;
}

async function rows<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client(connectionOptions(url));
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A PostgreSQL ledger on a fresh database, driven by `clock`. */
async function pgLedger(clock: ReturnType<typeof createManualClock>): Promise<{ url: string; ledger: PostgresLedger }> {
  const url = await server.createDatabase();
  const pool = createPgPool(url, 4);
  const client = await pool.connect();
  await migratePostgres(client);
  client.release();
  cleanups.push(() => pool.end());
  return { url, ledger: createPostgresLedger({ pool, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() }) };
}

describe('storage: postgres in the config', () => {
  it('check-config reads the url from ${ENV} and never shows its password; a malformed url is refused', async () => {
    const dirs = postgresConfig('${M2S_TEST_PG_URL}');
    const ok = await cli(['check-config', '-c', dirs.configFile], { M2S_TEST_PG_URL: 'postgres://mail2sms:s3cret-pw@db.example.test:5432/mail2sms' });
    expect(ok.stdout).toMatch(/OK/);
    const bad = await failure(cli(['check-config', '-c', dirs.configFile], { M2S_TEST_PG_URL: 'mysql://mail2sms:s3cret-pw@db.example.test/mail2sms' }));
    expect(bad).toMatchObject({ code: 78 });
    expect(bad!.stderr).toMatch(/storage\.url: is not a PostgreSQL URL/);
    expect(bad!.stderr).not.toContain('s3cret-pw');
    const unset = await failure(cli(['check-config', '-c', dirs.configFile]));
    expect(unset!.stderr).toContain('environment variable M2S_TEST_PG_URL is not set');
  });

  it('a database the daemon cannot reach stops startup with exit 69, naming host and port and not the password', async () => {
    const port = await freePort();
    const dirs = postgresConfig(`postgres://mail2sms:s3cret-pw@127.0.0.1:${port}/mail2sms`);
    const error = await failure(cli(['serve', '-c', dirs.configFile]));
    expect(error).toMatchObject({ code: 69 });
    expect(error!.stderr).toContain(`127.0.0.1:${port}`);
    expect(error!.stderr + error!.stdout).not.toContain('s3cret-pw');
  });

  it('migrate applies the PostgreSQL migrations once; backup says to use pg_dump', async () => {
    const url = await server.createDatabase();
    const dirs = postgresConfig(url);
    expect((await cli(['migrate', '-c', dirs.configFile])).stdout).toBe('applied 0001_initial.sql, 0002_contacts.sql, 0003_console.sql, 0004_automations.sql, 0005_ledger_cost.sql, 0007_steps_from_outbox.sql, 0008_reply_threads.sql; schema version 8\n');
    expect((await cli(['migrate', '-c', dirs.configFile])).stdout).toBe('up to date; schema version 8\n');
    const backup = await failure(cli(['backup', join(dirs.dir, 'copy.dump'), '-c', dirs.configFile]));
    expect(backup).toMatchObject({ code: 64 });
    expect(backup!.stderr).toContain('pg_dump --format=custom');
  });
});

describe('mail2sms migrate --from-sqlite', () => {
  it('copies a SQLite ledger into an empty database with ids, consent evidence and history; refuses a non-empty one; the rules carry on', async () => {
    const clock = createManualClock(Date.now() - 60_000);
    const source = openTestLedger(clock);
    cleanups.push(() => source.close());
    const cooldown = { setupId: 'alerts', cooldownMs: 3_600_000, purpose: null, dailyLimit: null, numberDailyLimit: null };
    await source.ledger.acceptMessage(intakeMessage(['+4520700001', '+4520700002'], { rules: cooldown }));
    const [sms] = await source.ledger.claimDue(1, 60_000);
    await source.ledger.recordSent(sms!.outboxId, 'copy-1');
    await source.ledger.applyReceipt({ providerMessageId: 'copy-1', status: 'delivered', rawBody: '{}' });
    await source.ledger.recordInbound({ providerId: 'in-copy', from: '+4520700003', to: undefined, text: 'STOP', receivedAt: clock.now(), kind: 'opt_out', keyword: 'STOP' });
    await source.ledger.changeConsent([{ recipient: '+4520700004', purpose: 'news', action: 'opt_in', source: 'import', evidence: 'signup form 2026-01-02' }]);
    const sqliteFile = join(source.dir, 'ledger.db');

    const url = await server.createDatabase();
    const dirs = postgresConfig(url);
    const { stdout } = await cli(['migrate', '--from-sqlite', sqliteFile, '-c', dirs.configFile]);
    expect(stdout).toMatch(/copied .*messages 1, outbox 2, .*consent_events 2, contacts 0.*; row counts match/);
    const consent = await rows<{ id: number; recipient: string; evidence: string; inbound_id: number | null }>(url, 'SELECT id, recipient, evidence, inbound_id FROM consent_events ORDER BY id');
    const original = source.db.prepare('SELECT id, recipient, evidence, inbound_id FROM consent_events ORDER BY id').all();
    expect(consent).toEqual(original);
    expect(await rows(url, `SELECT status FROM outbox WHERE provider_message_id = 'copy-1'`)).toEqual([{ status: 'delivered' }]);

    const again = await failure(cli(['migrate', '--from-sqlite', sqliteFile, '-c', dirs.configFile]));
    expect(again).toMatchObject({ code: 73 });
    expect(again!.stderr).toContain('not empty');

    // The copied ledger is the organisation's memory: the opt-out and the cooldown hold on PostgreSQL.
    const pool = createPgPool(url, 2);
    cleanups.push(() => pool.end());
    const ledger = createPostgresLedger({ pool, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() });
    const next = await ledger.acceptMessage(intakeMessage(['+4520700001', '+4520700003'], { rules: cooldown }));
    expect(next.decisions.map((d) => d.reason)).toEqual(['cooldown', 'opted_out']);
    const fresh = await ledger.acceptMessage(intakeMessage(['+4520700009'], { rules: cooldown }));
    expect(fresh.decisions[0]?.outcome).toBe('queued');
  });
});

describe('mail2sms purge --older-than', () => {
  /** Old finished rows, an old row still queued, an old consent event and an old marketing send; then purge. */
  async function fill(ledger: Ledger, clock: ReturnType<typeof createManualClock>): Promise<void> {
    const newsletter = { setupId: 'news', cooldownMs: null, purpose: { name: 'news', maxSilenceMs: 400 * DAY }, dailyLimit: null, numberDailyLimit: null };
    await ledger.changeConsent([{ recipient: '+4520800001', purpose: 'news', action: 'opt_in', source: 'import' }]);
    await ledger.acceptMessage(intakeMessage(['+4520800001'], { setupId: 'news', rules: newsletter }));
    await ledger.acceptMessage(intakeMessage(['+4520800002', '+4520800003']));
    for (const sms of await ledger.claimDue(10, 60_000)) await ledger.recordSent(sms.outboxId, `old-${sms.outboxId}`);
    await ledger.applyReceipt({ providerMessageId: 'old-1', status: 'delivered', rawBody: '{}' });
    await ledger.acceptMessage(intakeMessage(['+4520800004'], { sendAt: clock.now() + 600 * DAY }));
    clock.set(Date.now());
    await ledger.acceptMessage(intakeMessage(['+4520800005']));
  }

  it.each(['SQLite', 'PostgreSQL'])('%s: deletes finished rows older than the cutoff, keeps consent, pending rows and the send that keeps an opt-in fresh', async (backend) => {
    const clock = createManualClock(Date.now() - 500 * DAY);
    let configFile: string;
    let count: (sql: string) => Promise<number>;
    if (backend === 'SQLite') {
      const dirs = writeConfig();
      cleanups.push(() => dirs.cleanup());
      const { migrate, openDatabase } = await import('../src/ledger/sqlite/db.js');
      const { createSqliteLedger } = await import('../src/ledger/sqlite/ledger.js');
      const db = openDatabase(dirs.dbFile);
      migrate(db);
      const ledger = createSqliteLedger({ db, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() });
      await fill(ledger, clock);
      await ledger.close();
      configFile = dirs.configFile;
      count = async (sql) => {
        const check = openDatabase(dirs.dbFile);
        try {
          return (check.prepare(sql).get() as { n: number }).n;
        } finally {
          check.close();
        }
      };
    } else {
      const { url, ledger } = await pgLedger(clock);
      await fill(ledger, clock);
      configFile = postgresConfig(url).configFile;
      count = async (sql) => Number((await rows<{ n: number }>(url, sql))[0]!.n);
    }
    const { stdout } = await cli(['purge', '--older-than', '400d', '-c', configFile]);
    expect(stdout).toMatch(/^purged rows older than .*: .*3 outbox rows, 2 messages.*; consent events kept/);
    expect(await count('SELECT count(*) AS n FROM consent_events')).toBe(1);
    // Left: the scheduled row (still queued) and today's mail.
    expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(2);
    expect(await count(`SELECT count(*) AS n FROM outbox WHERE status = 'queued'`)).toBe(2);
    // The newest marketing send per number and purpose stays: it keeps the opt-in fresh.
    expect(await count(`SELECT count(*) AS n FROM sends WHERE purpose = 'news' AND state = 'sent'`)).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM receipts`)).toBe(0);
    const tooShort = await failure(cli(['purge', '--older-than', '1d', '-c', configFile]));
    expect(tooShort).toMatchObject({ code: 64 });
  });
});

describe('values written into SQL text', () => {
  it("the send guard reads the opt-out of a value holding $' $& $` as it is (String.replace would expand them)", async () => {
    const { ledger } = await pgLedger(createManualClock(Date.UTC(2026, 0, 5, 12)));
    // Not a number intake would let through (recipients are E.164 first): the guard's SQL must hold for any value.
    const recipients = ["+4520$'1", '+4520$&2', '+4520$`3', "+4520$$4'"];
    await ledger.changeConsent(recipients.map((recipient) => ({ recipient, action: 'opt_out' as const, source: 'test' })));
    let calls = 0;
    for (const recipient of recipients) {
      expect(await ledger.guardSend(recipient, async () => ++calls), recipient).toEqual({ sent: false });
    }
    expect(await ledger.guardSend('+4520$&5', async () => ++calls)).toEqual({ sent: true, value: 1 });
  });
});
