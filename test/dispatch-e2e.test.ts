import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderSimulator, type ProviderSimulator } from '../src/simulator/server.js';
import { createLogger } from '../src/core/log.js';
import { Writable } from 'node:stream';
import { alertsSetup, queueIdOf, sendMail, SIM_SECRET, simulatorMessages, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Dispatch rules end to end: SMTP in over TCP, the real simulator over HTTP
 * with its fault injection, the ledger file, and the CLI reading it.
 */

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args], { cwd: process.cwd() });
const hour = new Date().getUTCHours();
// A window that is surely closed now: two hours from now, in UTC.
const closedWindow = { timezone: 'UTC', days: 'mon-sun', hours: hour < 20 ? `${String(hour + 2).padStart(2, '0')}:00-${String(hour + 3).padStart(2, '0')}:00` : '01:00-02:00' };

let dirs: TestDirs;
let t: TestDaemon;
const faults = (body: object) => fetch(`${t.simUrl}/faults`, { method: 'PUT', body: JSON.stringify(body) });

beforeAll(async () => {
  dirs = writeConfig({
    main: { dispatch: { poll_interval: '100ms', retry_base: '100ms', retry_max: '500ms', max_schedule_ahead: '1d' } },
    setups: [
      alertsSetup({ cooldown: 'off', max_segments: 5 }),
      alertsSetup({ id: 'night', senders: ['night@example.test'], cooldown: 'off', sending_window: closedWindow }),
      alertsSetup({ id: 'fresh', senders: ['fresh@example.test'], cooldown: 'off', max_age: '2s' }),
    ],
  });
  t = await startTestDaemon(dirs);
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

const mail = (to: string, headers: Record<string, string> = {}, from = 'nagios@example.test', text = 'Disk full on db1') =>
  sendMail({ port: t.smtpPort, from, to: `${to}@sms.example.test`, text, headers });

describe('X-SMS-Send-At', () => {
  it.each([
    ['malformed', 'tomorrow at nine', /^554 5\.6\.0 .*X-SMS-Send-At/],
    ['in the past', '2020-01-01T09:00:00Z', /^554 5\.6\.0 .*in the past/],
    ['beyond max_schedule_ahead', new Date(Date.now() + 3 * 86_400_000).toISOString(), /^554 5\.6\.0 .*/],
  ])('a %s time is refused with 554 5.6.0', async (_name, value, reply) => {
    const result = await mail('+4520123481', { 'X-SMS-Send-At': value });
    expect(result.code).toBe(554);
    expect(result.response).toMatch(reply);
  });

  it('a time two seconds ahead is accepted and not sent before it', async () => {
    const at = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000);
    const result = await mail('+4520123482', { 'X-SMS-Send-At': at.toISOString() });
    expect(result.code).toBe(250);
    const sms = await waitFor(async () => (await simulatorMessages(t.simUrl)).find((m) => m.to === '+4520123482'), 'scheduled SMS');
    expect(sms.received_at_ms).toBeGreaterThanOrEqual(at.getTime());
  });
});

describe('multipart SMS', () => {
  it('a three-segment SMS is delivered once the receipts of all three parts are in', async () => {
    const text = 'Backup job failed on every node. '.repeat(12).trim();
    const result = await mail('+4520123483', {}, 'nagios@example.test', text);
    const queueId = queueIdOf(result.response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'delivered');
    const sms = (await simulatorMessages(t.simUrl)).find((m) => m.to === '+4520123483');
    expect(sms?.parts).toBeGreaterThanOrEqual(3);
  });
});

describe('sending windows', () => {
  it('a row outside the window waits, and history says until when', async () => {
    const result = await mail('+4520123484', {}, 'night@example.test');
    expect(result.code).toBe(250);
    await waitFor(async () => (await cli('history', '+4520123484', '-c', dirs.configFile)).stdout.includes('outside the sending window'), 'deferral in history');
    const [row] = await t.daemon.ledger.outbox({ recipient: '+4520123484' });
    expect(row?.status).toBe('queued');
    expect((await simulatorMessages(t.simUrl)).some((m) => m.to === '+4520123484')).toBe(false);
  });
});

describe('freshness and outages', () => {
  it('during a provider outage a max_age 2s alert ends expired, and an alert without max_age is sent once the provider is back', async () => {
    await faults({ outage_until: Date.now() + 3500 });
    const stale = queueIdOf((await mail('+4520123485', {}, 'fresh@example.test', 'Stale soon')).response);
    const patient = queueIdOf((await mail('+4520123486', {}, 'nagios@example.test', 'Will wait')).response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId: stale }))[0]?.status === 'expired', 'expired', 20_000);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId: patient }))[0]?.status === 'delivered', 'delivered after the outage', 20_000);
    expect((await t.daemon.ledger.outbox({ queueId: stale }))[0]?.reason).toMatch(/^max_age: not sent by /);
    expect((await simulatorMessages(t.simUrl)).filter((m) => m.to === '+4520123485')).toEqual([]);
    expect((await simulatorMessages(t.simUrl)).filter((m) => m.to === '+4520123486')).toHaveLength(1);
    await fetch(`${t.simUrl}/faults`, { method: 'DELETE' });
  });
});

describe('a provider without idempotency that times out mid-call', () => {
  const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
  let sim: ProviderSimulator;
  let simUrl: string;
  let d: TestDirs;
  let daemon: TestDaemon;
  beforeAll(async () => {
    sim = createProviderSimulator({ listen: { host: '127.0.0.1', port: 0 }, secret: SIM_SECRET, receiptDelayMs: 5, logger: quiet });
    simUrl = (await sim.start()).url;
    d = writeConfig({
      main: {
        dispatch: { poll_interval: '100ms', retry_base: '100ms', retry_max: '300ms' },
        provider: {
          type: 'http', url: `${simUrl}/send`, timeout: '300ms', idempotency_header: 'off',
          body: { to: '{{to}}', from: '{{from}}', text: '{{text}}', callback_url: '{{callback_url}}' }, id_path: 'id',
          receipts: { secret: SIM_SECRET, id_path: 'id', status_path: 'status', status_map: { delivered: 'delivered', failed: 'failed' } },
        },
      },
      setups: [
        alertsSetup({ cooldown: 'off', on_unknown: 'fail' }),
        alertsSetup({ id: 'again', senders: ['again@example.test'], cooldown: 'off', on_unknown: 'retry' }),
      ],
    });
    daemon = await startTestDaemon(d);
  });
  afterAll(async () => {
    await daemon?.stop();
    await sim?.stop();
    d?.cleanup();
  });

  it('on_unknown: fail ends the row unknown after one call (at most once); retry sends again (at least once)', async () => {
    await fetch(`${simUrl}/faults`, { method: 'PUT', body: JSON.stringify({ hang: true }) });
    const once = queueIdOf((await sendMail({ port: daemon.smtpPort, from: 'ops@example.test', to: '+4520123487@sms.example.test', text: 'at most once' })).response);
    const twice = queueIdOf((await sendMail({ port: daemon.smtpPort, from: 'again@example.test', to: '+4520123488@sms.example.test', text: 'at least once' })).response);
    await waitFor(async () => (await daemon.daemon.ledger.outbox({ queueId: once }))[0]?.status === 'unknown', 'unknown');
    await waitFor(async () => ((await daemon.daemon.ledger.outbox({ queueId: twice }))[0]?.attempts ?? 0) >= 2, 'a second attempt');
    await fetch(`${simUrl}/faults`, { method: 'DELETE' });
    await waitFor(async () => (await daemon.daemon.ledger.outbox({ queueId: twice }))[0]?.status === 'delivered', 'delivered once the provider answers');
    const calls = await simulatorMessages(simUrl);
    expect(calls.filter((m) => m.to === '+4520123487')).toHaveLength(1);
    expect(calls.filter((m) => m.to === '+4520123488').length).toBeGreaterThanOrEqual(2);
    expect((await daemon.daemon.ledger.outbox({ queueId: once }))[0]?.reason).toContain('on_unknown: fail');
  });
});
