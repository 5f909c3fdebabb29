import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, queueIdOf, sendMail, simulatorMessages, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * "What happened to this mail, cancel that scheduled one, retry that failed
 * one" without SQL: the CLI against the ledger of a running daemon, mails
 * sent over SMTP, SMS counted at the simulator.
 */

const run = promisify(execFile);
let dirs: TestDirs;
let t: TestDaemon;

const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args, '-c', dirs.configFile]);
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code: number; stdout: string; stderr: string }) => e);

beforeAll(async () => {
  dirs = writeConfig({ setups: [alertsSetup({ cooldown: 'off' })] });
  t = await startTestDaemon(dirs);
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

describe('queue operations from the command line', () => {
  it('lists a scheduled SMS, cancels it with who and why, and the row ends suppressed (cancelled) with its reservation freed', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const result = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520111001@sms.example.test', text: 'Maintenance tonight', headers: { 'X-SMS-Send-At': later } });
    const queueId = queueIdOf(result.response);
    const queue = await cli('queue', '--status', 'scheduled', '--json');
    expect(JSON.parse(queue.stdout)).toMatchObject([{ queueId, recipient: '+4520111001', state: 'scheduled', nextAttemptAt: Date.parse(later) }]);

    const cancel = await cli('cancel', queueId, '--reason', 'maintenance moved', '--by', 'alice');
    expect(cancel.stdout).toBe('cancelled: +4520111001\n');
    const again = await failure(cli('cancel', queueId));
    expect(again).toMatchObject({ code: 65, stdout: 'nothing cancelled\n  +4520111001: left as it is (suppressed)\n' });

    const status = await cli('status', queueId);
    expect(status.stdout).toContain('+4520111001: suppressed (cancelled), 0 attempt(s)');
    expect(status.stdout).toMatch(/cancelled: by alice: maintenance moved/);
    expect((await cli('queue', '--json')).stdout).toBe('[]\n');
  });

  it('retries a failed SMS under the same idempotency key once the number works again', async () => {
    await fetch(`${t.simUrl}/faults`, { method: 'PUT', body: JSON.stringify({ permanent_for: ['+4520111002'] }) });
    const queueId = queueIdOf((await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520111002@sms.example.test', text: 'Disk full' })).response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'failed', 'the row to fail');
    expect(JSON.parse((await cli('queue', '--status', 'failed', '--json')).stdout)).toMatchObject([{ queueId, state: 'failed' }]);

    await fetch(`${t.simUrl}/faults`, { method: 'PUT', body: JSON.stringify({}) });
    expect((await cli('retry', queueId, '--reason', 'number fixed')).stdout).toBe('queued again: +4520111002\n');
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'the retried row to be delivered');
    const sms = (await simulatorMessages(t.simUrl)).filter((m) => m.to === '+4520111002');
    expect(sms).toHaveLength(1);
    const status = JSON.parse((await cli('status', queueId, '--json')).stdout) as { recipients: { attempts: number; events: { type: string }[] }[] };
    expect(status.recipients[0]?.attempts).toBe(2);
    expect(status.recipients[0]?.events.map((e) => e.type)).toEqual(expect.arrayContaining(['failed', 'retry requested', 'sent', 'delivered']));
  });

  it('history --json gives structured entries; a text with a line break stays one entry', async () => {
    const queueId = queueIdOf((await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520111003@sms.example.test', text: 'Line one\nLine two' })).response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'delivery');
    const entries = JSON.parse((await run(process.execPath, ['bin/mail2sms.js', 'history', '+4520111003', '--json', '-c', dirs.configFile])).stdout) as Record<string, unknown>[];
    const sms = entries.filter((e) => e.kind === 'sms');
    expect(sms).toEqual([expect.objectContaining({ status: 'delivered', setupId: 'alerts', queueId, mailFrom: 'ops@example.test', text: 'Line one\nLine two' })]);
    expect(typeof sms[0]?.at).toBe('string');
    expect(sms[0]).not.toHaveProperty('reason');
  });

  it('says so for an unknown queue id and a bad --status', async () => {
    expect(await failure(cli('status', 'NOSUCHID'))).toMatchObject({ code: 65, stderr: 'mail2sms: no mail with queue id NOSUCHID\n' });
    expect(await failure(cli('queue', '--status', 'stuck'))).toMatchObject({ code: 64 });
  });
});
