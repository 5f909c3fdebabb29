import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { createClaimPolicy } from '../src/dispatch/claim-policy.js';
import { migrate, openDatabase } from '../src/ledger/sqlite/db.js';
import { createPostgresLedger } from '../src/ledger/postgres/ledger.js';
import { connectionOptions, createPgPool } from '../src/ledger/postgres/pool.js';
import { createSqliteLedger } from '../src/ledger/sqlite/ledger.js';
import type { Ledger, RecipientRules } from '../src/ledger/types.js';
import { alertsSetup, writeConfig, type TestDirs } from './helpers.js';
import { intakeMessage, quietLogger } from './ledger-fixture.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';

/*
 * Every ledger command of the CLI on PostgreSQL prints what it prints on
 * SQLite: the same commands, through the real CLI (bin/), against a SQLite
 * ledger and a PostgreSQL one (a throwaway server for this file) that went
 * through the same changes.
 */

const run = promisify(execFile);
const cli = async (args: string[]) => (await run(process.execPath, ['bin/mail2sms.js', ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code: number; stderr: string }) => e);
const HOUR = 3_600_000;
// Each CLI run is a Node process (2 s on an idle machine, 10 s and more on a busy one) and a test runs up to a dozen.
const SLOW = 600_000;

let server: TestPostgres;
let url: string;
let sqlite: TestDirs;
let postgres: TestDirs;
const started = Date.now();

const configOf = (storage: Record<string, unknown>) => writeConfig({
  main: { storage, consent: { purposes: { newsletter: { max_silence: '180d' } } }, groups: { board: {} } },
  setups: [
    alertsSetup({ cooldown: '1h', groups: ['board'] }),
    alertsSetup({ id: 'news', senders: ['news@example.test'], category: 'marketing', purpose: 'newsletter', sender_name: '4570000000', cooldown: 'off' }),
  ],
});

beforeAll(async () => {
  server = await startTestPostgres();
  url = await server.createDatabase();
  sqlite = configOf({ path: 'data/ledger.db' });
  postgres = configOf({ type: 'postgres', url, pool: 2 });
  for (const dirs of [sqlite, postgres]) await cli(['migrate', '-c', dirs.configFile]);
});
afterAll(async () => {
  sqlite?.cleanup();
  postgres?.cleanup();
  await server?.stop();
});

/** The command's output on both backends (run side by side: each is a process of its own on a ledger of its own). */
async function both(args: string[]): Promise<{ sqlite: string; postgres: string }> {
  const [onSqlite, onPostgres] = await Promise.all([cli([...args, '-c', sqlite.configFile]), cli([...args, '-c', postgres.configFile])]);
  return { sqlite: onSqlite.replaceAll(sqlite.dir, '<config>'), postgres: onPostgres.replaceAll(postgres.dir, '<config>') };
}

/**
 * What differs between two runs of one command and is no backend's doing:
 * times of "now" (recorded_at of a change made by the CLI itself) and the
 * random part of queue ids, numbered in order of appearance.
 */
function comparable(output: string): string {
  const queueIds = new Map<string, string>();
  return output
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, (iso) => (Date.parse(iso) >= started ? '<now>' : iso))
    .replace(/\b[0-9A-Z]{8}[0-9A-F]{8}\b/g, (id) => queueIds.get(id) ?? (queueIds.set(id, `<queue ${queueIds.size + 1}>`), `<queue ${queueIds.size}>`));
}

async function expectSame(args: string[]): Promise<string> {
  const out = await both(args);
  expect(comparable(out.postgres)).toBe(comparable(out.sqlite));
  return out.sqlite;
}

/** Both ledgers through the ledger interface on one clock, the same calls on each. */
async function onBothLedgers(clock: ReturnType<typeof createManualClock>, fill: (ledger: Ledger) => Promise<void>): Promise<void> {
  const db = openDatabase(sqlite.dbFile);
  migrate(db);
  const onSqlite = createSqliteLedger({ db, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() });
  const start = clock.now();
  try {
    await fill(onSqlite);
  } finally {
    await onSqlite.close();
  }
  clock.set(start);
  const pool = createPgPool(url, 2);
  try {
    await fill(createPostgresLedger({ pool, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() }));
  } finally {
    await pool.end();
  }
}

async function pgCount(sql: string, on = url): Promise<number> {
  const client = new pg.Client(connectionOptions(on));
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
  } finally {
    await client.end();
  }
}

describe('the consent and send commands write the same on PostgreSQL as on SQLite', () => {
  it('consent set, revoke, import and record-send (one and --file) print the same, and leave the same trail', async () => {
    expect(await expectSame(['consent', 'set', '+4520300001', '--purpose', 'newsletter', '--source', 'web form', '--evidence', 'form #7', '--at', '2026-01-02T10:00:00Z']))
      .toBe('+4520300001: opted in to purpose newsletter (was none; event 1)\n');
    expect(await expectSame(['consent', 'revoke', '+4520300001', '--source', 'call', '--at', '2026-01-03T10:00:00Z']))
      .toBe('+4520300001: opted out of all SMS (was none; event 2)\n');
    const optIns = join(sqlite.dir, 'opt-ins.csv');
    writeFileSync(optIns, 'number,at,evidence\n+4520300002,2026-01-04T09:00:00Z,paper form\n20300003,2026-01-04T09:30:00Z,"=cmd|\' /C calc\'!A0"\n');
    expect(await expectSame(['consent', 'import', optIns, '--purpose', 'newsletter', '--source', 'crm', '--country', 'DK'])).toBe('imported 2 opt-in(s) for purpose newsletter\n');
    expect(await expectSame(['record-send', '+4520300002', '--at', '2026-01-05T08:00:00Z', '--channel', 'campaign', '--ref', 'c-1', '--purpose', 'newsletter'])).toBe('recorded 1 send(s)\n');
    const sends = join(sqlite.dir, 'sends.ndjson');
    writeFileSync(sends, '{"number":"+4520300002","at":"2026-01-05T08:00:00Z","channel":"campaign","ref":"c-1"}\n{"number":"+4520300003","at":"2026-01-06T08:00:00Z","ref":"api-2"}\n');
    expect(await expectSame(['record-send', '--file', sends])).toBe('recorded 1 send(s); 1 already recorded (same channel and ref)\n');
  }, SLOW);

  it('the trail they left reads the same: consent export and show, history', async () => {
    const csv = await expectSame(['consent', 'export']);
    expect(csv.split('\r\n')[0]).toBe('id,at,recorded_at,number,purpose,action,previous,source,evidence');
    expect(csv).toContain(`'=cmd|`);
    await expectSame(['consent', 'export', '--format', 'ndjson']);
    expect(await expectSame(['consent', 'show', '+4520300001'])).toMatch(/^\+4520300001: OPTED OUT of all SMS since 2026-01-03T10:00:00\.000Z \(call\)\n {2}purpose newsletter: opted in/);
    await expectSame(['consent', 'show', '+4520300001', '--json']);
    expect(await expectSame(['history', '20300002', '--country', 'DK'])).toContain('SMS sent by channel campaign (ref c-1) for purpose newsletter');
  }, SLOW);

  it('a number that is not one, a bad file or an undeclared purpose fails the same way on both, writing nothing', async () => {
    // (20300009 without a country code is read with the default_country every setup shares: DK.)
    for (const args of [['consent', 'set', '2030000', '--source', 'x'], ['consent', 'set', '+4520300009', '--purpose', 'offers', '--source', 'x']]) {
      const [onSqlite, onPostgres] = [await failure(cli([...args, '-c', sqlite.configFile])), await failure(cli([...args, '-c', postgres.configFile]))];
      expect(onPostgres).toMatchObject({ code: onSqlite!.code, stderr: onSqlite!.stderr });
    }
    expect(await expectSame(['consent', 'show', '+4520300009'])).toBe('+4520300009: may receive alerts\n  no consent recorded\n');
  }, SLOW);
});

describe('reading a ledger on PostgreSQL: history, consent, explain', () => {
  // Ten minutes ago: the cooldown of these sends still holds when explain asks.
  const T = Math.floor((started - 10 * 60_000) / 1000) * 1000;
  const cooldown: RecipientRules = { setupId: 'alerts', cooldownMs: HOUR, purpose: null, dailyLimit: null, numberDailyLimit: null };

  beforeAll(async () => {
    const clock = createManualClock(T);
    await onBothLedgers(clock, async (ledger) => {
      await ledger.changeConsent([{ recipient: '+4520310002', purpose: 'newsletter', action: 'opt_in', source: 'import', evidence: 'signup 2026-01-02' }]);
      await ledger.acceptMessage(intakeMessage(['+4520310001', '+4520310002'], { rules: cooldown, subject: 'Disk', text: 'Disk full on db1' }));
      for (const sms of await ledger.claimDue(10, 60_000)) await ledger.recordSent(sms.outboxId, `h-${sms.recipient}`);
      await ledger.applyReceipt({ providerMessageId: 'h-+4520310001', status: 'delivered', rawBody: '{}' });
      clock.advance(60_000);
      await ledger.acceptMessage(intakeMessage(['+4520310001'], { rules: cooldown, text: 'Disk still full' }));
      await ledger.acceptMessage(intakeMessage(['+4520310004'], { rules: cooldown, sendAt: T + 24 * HOUR, personal: [{ groups: ['board'] }] }));
      clock.advance(60_000);
      await ledger.recordInbound({ providerId: 'in-h1', from: '+4520310003', to: undefined, text: 'STOP', receivedAt: clock.now(), kind: 'opt_out', keyword: 'STOP' });
      await ledger.recordExternalSends([{ recipient: '+4520310001', at: clock.now(), channel: 'api', ref: 'h-api' }]);
      await ledger.importContacts('members', [{ id: 'm1', number: '+4520310002', groups: ['board'], fields: { first_name: 'Anna' } }], false);
    });
  });

  it('history, in text and JSON and with --limit, is the same on both', async () => {
    const text = await expectSame(['history', '+4520310001']);
    expect(text).toMatch(new RegExp(`sms +email from ops@example\\.test via setup alerts: delivered; sent ${new Date(T).toISOString()}; final`));
    expect(text).toMatch(/suppressed +email from ops@example\.test via setup alerts: suppressed \(cooldown\)/);
    expect(text).toContain('"Disk full on db1"');
    await expectSame(['history', '+4520310001', '--json']);
    await expectSame(['history', '+4520310001', '--limit', '2']);
    expect(await expectSame(['history', '+4520310004'])).toMatch(/to group board: queued; waits until .* \(scheduled\)/);
    expect(await expectSame(['history', '+4520310003', '--json'])).toContain('"kind": "inbound"');
    expect(await expectSame(['history', '+4520319999'])).toBe('+4520319999: nothing recorded\n');
  }, SLOW);

  it('consent show and export are the same on both', async () => {
    expect(await expectSame(['consent', 'show', '+4520310003'])).toContain(`OPTED OUT of all SMS since ${new Date(T + 120_000).toISOString()} (sms)`);
    await expectSame(['consent', 'show', '+4520310002', '--json']);
    await expectSame(['consent', 'export', '--since', new Date(T).toISOString(), '--format', 'ndjson']);
  }, SLOW);

  it('explain gives the same verdicts on both (cooldown, opt-out, consent, a group), and writes nothing on PostgreSQL', async () => {
    const eml = 'test/fixtures/mail/26-nagios-alert-7bit.eml';
    const to = ['+4520310001@sms.example.test', '+4520310003@sms.example.test', '+4520310005@sms.example.test', 'board@sms.example.test'];
    const rowsBefore = await pgCount('SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM sends) + (SELECT count(*) FROM messages) AS n');
    const json = await expectSame(['explain', eml, '--from', 'nagios@example.test', '--to', ...to, '--json']);
    const report = JSON.parse(json) as import('../src/cli/explain.js').ExplainReport;
    expect(report.recipients.map((r) => [r.verdict, 'reason' in r ? r.reason : undefined])).toEqual([
      // The board's member got the first SMS ten minutes ago: its cooldown holds.
      ['suppressed', 'cooldown'], ['suppressed', 'opted_out'], ['would_send', undefined], ['group', undefined], ['suppressed', 'cooldown'],
    ]);
    await expectSame(['explain', eml, '--from', 'nagios@example.test', '--to', ...to]);
    const marketing = await expectSame(['explain', eml, '--from', 'news@example.test', '--to', '+4520310002@sms.example.test', '+4520310005@sms.example.test', '--json']);
    expect(marketing).toContain('"reason": "no_consent"');
    expect(await pgCount('SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM sends) + (SELECT count(*) FROM messages) AS n')).toBe(rowsBefore);
  }, SLOW);

  it('explain on a PostgreSQL database that was never migrated asks for `mail2sms migrate` and creates nothing', async () => {
    const emptyUrl = await server.createDatabase();
    const empty = configOf({ type: 'postgres', url: emptyUrl, pool: 2 });
    try {
      const error = await failure(cli(['explain', 'test/fixtures/mail/26-nagios-alert-7bit.eml', '-c', empty.configFile]));
      expect(error).toMatchObject({ code: 69 });
      expect(error!.stderr).toContain('schema version 0');
      expect(error!.stderr).toContain('run `mail2sms migrate`');
      expect(await pgCount(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'`, emptyUrl)).toBe(0);
    } finally {
      empty.cleanup();
    }
  }, SLOW);
});
