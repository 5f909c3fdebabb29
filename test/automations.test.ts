import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { previewOccurrence } from '../src/automations/occurrence.js';
import { createAutomationRunner } from '../src/automations/runner.js';
import { loadConfig, type Config } from '../src/config/load.js';
import { createManualClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { startDaemon, type RunningDaemon } from '../src/daemon.js';
import type { ContactInput } from '../src/ledger/types.js';
import { openTestLedger, quietLogger, type TestLedger } from './ledger-fixture.js';
import { alertsSetup, sendMail, simulatorMessages, waitFor, writeConfig, type LogLine, type TestDirs } from './helpers.js';

/*
 * Automations end to end: the daemon with a clock the test moves, a real
 * SQLite ledger, the embedded provider simulator. Each run is "a group send
 * at the scheduled time", decided by the same ledger rules as an email.
 */

type Yaml = Record<string, unknown>;
const CPH = 'Europe/Copenhagen';
const MIN = 60_000;
const H = 60 * MIN;
const DAY = 24 * H;
/** 10:00 in Copenhagen (CEST) on Monday 1 June 2026. */
const TEN = Date.UTC(2026, 5, 1, 8, 0);

const dirs: TestDirs[] = [];
const daemons: RunningDaemon[] = [];
const ledgers: TestLedger[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  for (const l of ledgers.splice(0)) await l.close();
  for (const d of dirs.splice(0)) d.cleanup();
});

function birthday(over: Yaml = {}): Yaml {
  return {
    id: 'birthday', title: 'Birthday greeting', setup: 'club', schedule: { cron: '0 10 * * *', timezone: CPH },
    recipients: { group: 'members', where: { birthday: { anniversary: true } } },
    text: 'Happy birthday {{first_name}}! From your club', cooldown: '1d', catch_up: '6h', ...over,
  };
}

/** A config with the club setup, the `members` group and these automations. */
function clubConfig(automations: Yaml[]): TestDirs {
  const d = writeConfig({
    setups: [alertsSetup(), alertsSetup({ id: 'club', senders: ['club.test'], sender_name: 'Club', cooldown: '1d', groups: ['members'] })],
    main: { groups: { members: {} }, dispatch: { poll_interval: '50ms', retry_base: '50ms' } },
  });
  dirs.push(d);
  mkdirSync(join(d.dir, 'automations'));
  for (const a of automations) writeFileSync(join(d.dir, 'automations', `${String(a.id)}.yaml`), stringify(a));
  return d;
}

const member = (id: string, number: string, fields: Record<string, string>): ContactInput => ({ id, number, groups: ['members'], fields });
const MEMBERS = [
  member('anna', '+4520100001', { first_name: 'Anna', birthday: '1990-06-01' }),
  member('bo', '+4520100002', { first_name: 'Bo', birthday: '1985-06-01' }),
  member('carl', '+4520100003', { first_name: 'Carl', birthday: '1970-06-01' }),
  member('dora', '+4520100004', { first_name: 'Dora', birthday: '1999-07-01' }),
];

async function start(d: TestDirs, clock: ReturnType<typeof createManualClock>) {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const config = loadConfig(d.configFile);
  const daemon = await startDaemon({ config, logger: createLogger({ level: 'debug', destination: sink }), clock });
  daemons.push(daemon);
  // The first tick starts with the daemon; let it finish before the test moves the clock.
  await daemon.automations.tick();
  const simUrl = `http://127.0.0.1:${daemon.ports.simulator}`;
  return { daemon, config, logs, simUrl, http: daemon.ports.http };
}

async function stopLast(): Promise<void> {
  await daemons.pop()?.stop();
}

const sent = async (simUrl: string) => (await simulatorMessages(simUrl)).map((m) => [m.to, m.text]).sort();

describe('a scheduled run, decided by the ledger like an email', () => {
  it('fires once at 10:00 Copenhagen time: cooldown from an email SMS an hour before and an opt-out suppress (recorded with reasons); preview equals what the run sends', async () => {
    const d = clubConfig([birthday()]);
    const clock = createManualClock(TEN - H);
    const { daemon, config, simUrl, logs } = await start(d, clock);
    await daemon.ledger.importContacts('members', MEMBERS, false);
    await daemon.ledger.changeConsent([{ recipient: '+4520100002', action: 'opt_out', source: 'sms' }]);
    // 09:00: an alert by email to Carl goes out.
    expect((await sendMail({ port: daemon.ports.smtp, from: 'ops@example.test', to: '+4520100003@sms.example.test', text: 'Server down' })).ok).toBe(true);
    await waitFor(async () => (await simulatorMessages(simUrl)).length === 1, 'the email SMS');

    clock.set(TEN - 30 * MIN);
    await daemon.automations.tick();
    expect(await simulatorMessages(simUrl)).toHaveLength(1);
    const automation = config.automations[0]!;
    const preview = await previewOccurrence(daemon.ledger, config, automation, TEN, clock.now());
    expect(preview.ok && preview.rows.map((r) => [r.number, r.verdict, r.reason])).toEqual([
      ['+4520100001', 'would send', undefined], ['+4520100002', 'suppressed', 'opted_out'], ['+4520100003', 'suppressed', 'cooldown'],
    ]);

    clock.set(TEN);
    await daemon.automations.tick();
    await waitFor(async () => (await simulatorMessages(simUrl)).length === 2, 'the birthday SMS');
    const wouldSend = preview.ok ? preview.rows.filter((r) => r.verdict === 'would send').map((r) => [r.number, r.text]) : [];
    expect((await sent(simUrl)).filter(([, text]) => text !== 'Server down')).toEqual(wouldSend);
    expect(wouldSend).toEqual([['+4520100001', 'Happy birthday Anna! From your club']]);

    // Later ticks, the same minute and the next: nothing more.
    await daemon.automations.tick();
    clock.advance(MIN);
    await daemon.automations.tick();
    const runs = await daemon.ledger.runHistory('birthday', 10);
    expect(runs.map((r) => [r.scheduledAt, r.outcome, r.runBy, r.recipients, r.queued, r.suppressed])).toEqual([[TEN, 'ran', 'schedule', 3, 1, 2]]);
    expect(await simulatorMessages(simUrl)).toHaveLength(2);
    expect(logs.filter((l) => l.msg === 'automation run started')).toHaveLength(1);
    // The console's mail page names the automation where a mail has its sender.
    const mail = await daemon.ledger.consoleQuery({ kind: 'mail', queueId: runs[0]!.queueId!, eventLimit: 10 });
    expect(mail.message).toMatchObject({ mailFrom: '', automationId: 'birthday' });

    const carl = await daemon.ledger.consoleQuery({ kind: 'history', recipient: '+4520100003', limit: 10, now: clock.now() });
    expect(carl.entries.find((e) => e.kind === 'suppressed')).toMatchObject({ reason: 'cooldown' });
    expect(carl.entries.find((e) => e.kind === 'suppressed')?.summary).toContain('automation "Birthday greeting" (birthday) via setup club');
  });

  it('a restart after the run sends nothing again; a restart after the commit but before the SMS went sends each once', async () => {
    const d = clubConfig([birthday({ recipients: { group: 'members' } })]);
    const clock = createManualClock(TEN - H);
    const first = await start(d, clock);
    await first.daemon.ledger.importContacts('members', MEMBERS, false);
    // The provider is down: the run commits, its SMS wait for retries.
    expect((await fetch(`${first.simUrl}/faults`, { method: 'PUT', body: JSON.stringify({ outage_until: TEN + 2 * MIN }) })).status).toBe(200);
    clock.set(TEN);
    await first.daemon.automations.tick();
    await waitFor(async () => (await first.daemon.ledger.outbox()).some((r) => r.attempts > 0), 'a first attempt');
    expect(await simulatorMessages(first.simUrl)).toHaveLength(0);
    await stopLast();

    clock.set(TEN + 5 * MIN);
    const second = await start(d, clock);
    await waitFor(async () => (await simulatorMessages(second.simUrl)).length === 4, 'the run\'s four SMS after the restart');
    await second.daemon.automations.tick();
    const afterRestart = await sent(second.simUrl);
    await stopLast();

    clock.set(TEN + 10 * MIN);
    const third = await start(d, clock);
    await third.daemon.automations.tick();
    expect(afterRestart.map(([to]) => to)).toEqual(MEMBERS.map((m) => m.number));
    expect(await simulatorMessages(third.simUrl)).toHaveLength(0);
    expect(await third.daemon.ledger.outbox()).toHaveLength(4);
    expect((await third.daemon.ledger.runHistory('birthday', 10)).map((r) => r.outcome)).toEqual(['ran']);
  });
});

describe('downtime: catch_up', () => {
  it('a run missed by 5 h (catch_up 6 h) still goes once; runs missed by more are recorded as missed: event, warn line, metric', async () => {
    const d = clubConfig([birthday({ id: 'training', title: 'Training is on', recipients: { group: 'members' }, text: 'Training tonight at 18' })]);
    const clock = createManualClock(TEN - H);
    const a = await start(d, clock);
    await a.daemon.ledger.importContacts('members', MEMBERS.slice(0, 1), false);
    clock.set(TEN);
    await a.daemon.automations.tick();
    await stopLast();

    clock.set(TEN + DAY + 5 * H);
    const b = await start(d, clock);
    await waitFor(async () => (await simulatorMessages(b.simUrl)).length === 1, 'the caught-up run');
    await stopLast();

    clock.set(TEN + 3 * DAY + 7 * H);
    const c = await start(d, clock);
    const runs = await c.daemon.ledger.runHistory('training', 10);
    expect(runs.map((r) => [r.scheduledAt - TEN, r.outcome, r.runBy])).toEqual([
      [3 * DAY, 'missed', 'schedule'], [2 * DAY, 'missed', 'schedule'], [DAY, 'ran', 'catch-up'], [0, 'ran', 'schedule'],
    ]);
    expect(c.logs.filter((l) => l.msg === 'automation run missed').map((l) => [l.level, l.occurrence])).toEqual([
      [40, new Date(TEN + 2 * DAY).toISOString()], [40, new Date(TEN + 3 * DAY).toISOString()],
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${c.http}/metrics`)).text();
    expect(metrics).toContain('mail2sms_automation_runs_total{automation="training",outcome="missed"} 2');
    expect(await simulatorMessages(c.simUrl)).toHaveLength(0);
  });
});

describe('the runner on a real SQLite ledger, ticking every 15 minutes', () => {
  async function runnerFor(automation: Yaml, contacts: ContactInput[], startAt: number) {
    const d = clubConfig([automation]);
    const config: Config = loadConfig(d.configFile);
    const clock = createManualClock(startAt);
    const opened = openTestLedger(clock);
    ledgers.push(opened);
    await opened.ledger.importContacts('members', contacts, false);
    const runner = createAutomationRunner({ ledger: opened.ledger, getConfig: () => config, clock, logger: quietLogger() });
    return { runner, clock, ledger: opened.ledger, config };
  }
  async function tickUntil(r: Awaited<ReturnType<typeof runnerFor>>, until: number): Promise<void> {
    for (; r.clock.now() <= until; r.clock.advance(15 * MIN)) await r.runner.tick();
  }
  const nightly = birthday({ id: 'nightly', schedule: { cron: '30 2 * * *', timezone: CPH }, recipients: { group: 'members' }, text: 'Night shift', cooldown: 'off' });

  it('DST spring forward (29 March 2026): 02:30 does not exist; the run goes once, at 03:00 CEST, and once the next night', async () => {
    const r = await runnerFor(nightly, MEMBERS.slice(0, 1), Date.UTC(2026, 2, 28, 12));
    await tickUntil(r, Date.UTC(2026, 2, 30, 12));
    const runs = await r.ledger.runHistory('nightly', 10);
    expect(runs.map((run) => [new Date(run.scheduledAt).toISOString(), run.outcome])).toEqual([
      ['2026-03-30T00:30:00.000Z', 'ran'], ['2026-03-29T01:00:00.000Z', 'ran'],
    ]);
  });

  it('DST fall back (25 October 2026): 02:30 happens twice; the run goes once that night and once the next', async () => {
    const r = await runnerFor(nightly, MEMBERS.slice(0, 1), Date.UTC(2026, 9, 24, 12));
    await tickUntil(r, Date.UTC(2026, 9, 26, 12));
    const runs = await r.ledger.runHistory('nightly', 10);
    expect(runs.map((run) => [new Date(run.scheduledAt).toISOString(), run.outcome])).toEqual([
      ['2026-10-26T01:30:00.000Z', 'ran'], ['2026-10-25T00:30:00.000Z', 'ran'],
    ]);
    expect(await r.ledger.outbox()).toHaveLength(2);
  });

  const leap = [
    member('leap', '+4520100011', { first_name: 'Lea', birthday: '1992-02-29' }),
    member('feb28', '+4520100012', { first_name: 'Fie', birthday: '1990-02-28' }),
    member('mar1', '+4520100013', { first_name: 'Mo', birthday: '1990-03-01' }),
  ];
  const atTen = (y: number, m: number, day: number) => Date.UTC(y, m - 1, day, 9); // 10:00 CET

  it.each([
    ['2027-02-28', atTen(2027, 2, 28), ['+4520100011', '+4520100012']],
    ['2028-02-28', atTen(2028, 2, 28), ['+4520100012']],
    ['2028-02-29', atTen(2028, 2, 29), ['+4520100011']],
    ['2028-03-01', atTen(2028, 3, 1), ['+4520100013']],
  ] as const)('anniversary on %s: 29 February falls on 28 February in other years (born 1992-02-29, 1990-02-28, 1990-03-01)', async (_day, at, expected) => {
    const r = await runnerFor(birthday(), leap, at - MIN);
    const preview = await previewOccurrence(r.ledger, r.config, r.config.automations[0]!, at, r.clock.now());
    expect(preview.ok && preview.rows.map((row) => row.number)).toEqual(expected);
    r.clock.set(at);
    await r.runner.tick();
    expect((await r.ledger.outbox()).map((row) => row.recipient)).toEqual(expected);
  });

  it('within: 7d reminds the renewals of the next 7 days (not today, not the 8th day); ago: 30d is exactly 30 days before', async () => {
    const renewals = [
      member('r0', '+4520100021', { first_name: 'A', renewal: '2026-06-01' }),
      member('r1', '+4520100022', { first_name: 'B', renewal: '2026-06-02' }),
      member('r7', '+4520100023', { first_name: 'C', renewal: '2026-06-08' }),
      member('r8', '+4520100024', { first_name: 'D', renewal: '2026-06-09' }),
      member('ago', '+4520100025', { first_name: 'E', renewal: '2026-05-02' }),
    ];
    const reminder = birthday({ id: 'renewal', title: 'Renewal reminder', recipients: { group: 'members', where: { renewal: { within: '7d' } } }, text: 'Your membership renews on {{renewal}}' });
    const r = await runnerFor(reminder, renewals, TEN - MIN);
    const preview = await previewOccurrence(r.ledger, r.config, r.config.automations[0]!, TEN, r.clock.now());
    expect(preview.ok && preview.rows.map((row) => [row.number, row.text])).toEqual([
      ['+4520100022', 'Your membership renews on 2026-06-02'], ['+4520100023', 'Your membership renews on 2026-06-08'],
    ]);
    const lapsed = { ...r.config.automations[0]!, recipients: { group: 'members', where: { renewal: { kind: 'date' as const, date: { ago: 30 * DAY } } } } };
    const agoPreview = await previewOccurrence(r.ledger, r.config, lapsed, TEN, r.clock.now());
    expect(agoPreview.ok && agoPreview.rows.map((row) => row.number)).toEqual(['+4520100025']);
  });

  it('a new automation does not fire occurrences from before it was first seen, beyond catch_up; merge_missing: reject records the run as not sent', async () => {
    const r = await runnerFor(birthday({ recipients: { group: 'members' }, text: 'Hi {{nickname}}' }), MEMBERS.slice(0, 2), TEN + 7 * H);
    await r.runner.tick();
    expect(await r.ledger.runHistory('birthday', 10)).toEqual([]);
    r.clock.set(TEN + DAY);
    await r.runner.tick();
    const [run] = await r.ledger.runHistory('birthday', 10);
    expect(run).toMatchObject({ scheduledAt: TEN + DAY, outcome: 'missed' });
    expect(run?.detail).toContain('not sent: Merge field {{nickname}} missing for 2 of 2 recipients');
    expect(await r.ledger.outbox()).toEqual([]);
  });
});
