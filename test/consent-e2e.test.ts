import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, sendMail, simulatorMessages, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Consent end to end: a real daemon, SMTP over TCP, the simulator's signed
 * inbound webhook, the /sends API, and the CLI on the same ledger file.
 */

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args], { cwd: process.cwd() });
const TOKEN = 'test-token-for-the-campaign-tool-0123456789';
const REPLY_SENDER = '4570000000';

let dirs: TestDirs;
let t: TestDaemon;
let httpUrl: string;

beforeAll(async () => {
  dirs = writeConfig({
    main: {
      http: { listen: '127.0.0.1:0', tokens: [{ name: 'campaign-tool', sha256: createHash('sha256').update(TOKEN).digest('hex') }] },
      consent: {
        purposes: { newsletter: { max_silence: '180d' } },
        keywords: { opt_out: ['AFMELD'] },
        reply_sender: REPLY_SENDER,
        confirmation_text: 'Welcome back. Reply STOP to opt out.',
        help_text: 'Example alerts. Reply STOP to opt out.',
        stop_clause: { text: 'Reply STOP to opt out', detect: ['STOP', 'AFMELD'] },
      },
    },
    setups: [
      alertsSetup({ cooldown: 'off' }),
      alertsSetup({ id: 'news', senders: ['news@example.test'], category: 'marketing', purpose: 'newsletter', sender_name: REPLY_SENDER, cooldown: 'off' }),
      alertsSetup({ id: 'strict', senders: ['strict@example.test'], on_suppressed: 'reject', cooldown: '1h' }),
    ],
  });
  t = await startTestDaemon(dirs);
  httpUrl = `http://127.0.0.1:${t.daemon.ports.http}`;
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

const inbound = async (from: string, text: string) => {
  const response = await fetch(`${t.simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from, text }) });
  return { status: response.status, body: (await response.json()) as { action?: string; duplicate?: boolean } };
};
const rowsFor = (number: string) => t.daemon.ledger.outbox({ recipient: number });
const mailTo = (number: string, from = 'nagios@example.test', text = 'Disk full on db1') =>
  sendMail({ port: t.smtpPort, from, to: `${number}@sms.example.test`, text });

describe('keywords over the simulator webhook', () => {
  it('"Stop." opts out, and the next email to the number is suppressed with reason opted_out', async () => {
    const n = '+4520123401';
    expect((await inbound(n, 'Stop.')).body).toMatchObject({ action: 'opted out', duplicate: false });
    const sent = await mailTo(n);
    expect(sent.code).toBe(250);
    expect(sent.response).toContain('suppressed (opted_out)');
    expect((await rowsFor(n)).map((r) => [r.status, r.reason])).toEqual([['suppressed', 'opted_out']]);
  });

  it('"Cancel the callout" and "don\'t stop" change nothing; a configured translation does', async () => {
    const n = '+4520123402';
    expect((await inbound(n, 'Cancel the callout')).body.action).toBe('no keyword');
    expect((await inbound(n, "don't stop")).body.action).toBe('no keyword');
    expect((await mailTo(n)).response).not.toContain('suppressed');
    expect((await inbound(n, 'Afmeld!')).body.action).toBe('opted out');
    expect((await mailTo(n, 'nagios@example.test', 'Second alert')).response).toContain('suppressed (opted_out)');
  });

  it('START restores the number and sends the confirmation from the numeric reply sender, bypassing cooldown', async () => {
    const n = '+4520123403';
    await inbound(n, 'STOP');
    expect((await inbound(n, 'start')).body.action).toBe('opted in');
    const confirmation = await waitFor(async () => (await simulatorMessages(t.simUrl)).find((m) => m.to === n), 'confirmation SMS');
    expect(confirmation).toMatchObject({ from: REPLY_SENDER, text: 'Welcome back. Reply STOP to opt out.' });
    expect((await mailTo(n)).response).not.toContain('suppressed');
  });

  it('HELP is answered with the help text', async () => {
    const n = '+4520123404';
    expect((await inbound(n, 'Help')).body.action).toBe('help sent');
    const help = await waitFor(async () => (await simulatorMessages(t.simUrl)).find((m) => m.to === n), 'help SMS');
    expect(help.text).toBe('Example alerts. Reply STOP to opt out.');
  });

  it('an unsigned webhook is refused with 403', async () => {
    const response = await fetch(`${httpUrl}/inbound`, { method: 'POST', body: JSON.stringify({ id: 'x', from: '+4520123405', text: 'STOP' }) });
    expect(response.status).toBe(403);
  });
});

describe('marketing setups', () => {
  it('send only to opted-in numbers, with the STOP clause appended', async () => {
    const yes = '+4520123411';
    const no = '+4520123412';
    await cli('consent', 'set', yes, '--purpose', 'newsletter', '--source', 'web form', '--evidence', 'form #77', '-c', dirs.configFile);
    const sent = await sendMail({ port: t.smtpPort, from: 'news@example.test', to: [`${yes}@sms.example.test`, `${no}@sms.example.test`], text: 'Winter sale: 20% off' });
    expect(sent.response).toContain('1 of 2 recipient(s) suppressed (no_consent)');
    const sms = await waitFor(async () => (await simulatorMessages(t.simUrl)).find((m) => m.to === yes), 'newsletter SMS');
    expect(sms.text).toBe('Winter sale: 20% off\nReply STOP to opt out');
    expect((await rowsFor(no))[0]).toMatchObject({ status: 'suppressed', reason: 'no_consent' });
  });
});

describe('on_suppressed: reject', () => {
  it('answers 550 5.7.1 at RCPT TO naming the reason and when the cooldown ends', async () => {
    const n = '+4520123421';
    expect((await mailTo(n, 'strict@example.test')).code).toBe(250);
    await waitFor(async () => (await rowsFor(n))[0]?.status === 'delivered', 'first SMS delivered');
    const second = await mailTo(n, 'strict@example.test', 'Again');
    expect(second.code).toBe(550);
    expect(second.response).toMatch(/^550 5\.7\.1 \+4520123421 will not get this SMS: the number got an SMS recently; cooldown until \d{4}-\d\d-\d\dT[\d:.]+Z \[ref /);
  });
});

describe('other channels report their sends', () => {
  it('POST /sends needs the token, validates all rows with their lines, and the send counts for the cooldown', async () => {
    const n = '+4520123431';
    const post = (body: string, type: string, token = TOKEN) =>
      fetch(`${httpUrl}/sends`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
    expect((await post('{}', 'application/json', 'wrong')).status).toBe(401);
    const bad = await post('number,at,channel\n+4520123431,,campaign\n12345,,campaign\n+4520123432,yesterday,campaign\n', 'text/csv');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { line: number }[] }).errors.map((e) => e.line)).toEqual([3, 4]);
    const good = await post(JSON.stringify({ number: n, channel: 'campaign', ref: 'cmp-9' }), 'application/json');
    expect(await good.json()).toMatchObject({ recorded: 1, duplicates: 0, client: 'campaign-tool' });
    const refused = await mailTo(n, 'strict@example.test');
    expect(refused.code).toBe(550);
    expect(refused.response).toContain('cooldown');
  });

  it('mail2sms record-send does the same from the command line; history shows it all', async () => {
    const n = '+4520123441';
    const { stdout } = await cli('record-send', n, '--channel', 'automation', '--ref', 'job-1', '-c', dirs.configFile);
    expect(stdout).toBe('recorded 1 send(s)\n');
    expect((await mailTo(n, 'strict@example.test')).code).toBe(550);
    await inbound(n, 'STOP now');
    const history = (await cli('history', n, '-c', dirs.configFile)).stdout;
    expect(history).toMatch(/inbound\s+SMS received: "STOP now" → opted out/);
    expect(history).toMatch(/consent\s+opt-out \(all SMS\) by sms/);
    expect(history).toMatch(/send\s+SMS sent by channel automation \(ref job-1\)/);
  });
});

describe('consent import and export', () => {
  it('imports all rows or none, reporting bad rows by line', async () => {
    const file = join(dirs.dir, 'optins.csv');
    writeFileSync(file, 'number,evidence\n+4520123451,form 1\n+4530000001,form 2\nnot-a-number,form 3\n');
    const failed = await cli('consent', 'import', file, '--purpose', 'newsletter', '--source', 'crm', '-c', dirs.configFile).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 65 });
    expect((failed as { stderr: string }).stderr).toMatch(/2 invalid row\(s\); nothing was imported:\n.*optins\.csv:3: .*\n.*optins\.csv:4: /);
    expect((await cli('consent', 'show', '+4520123451', '-c', dirs.configFile)).stdout).toContain('no consent recorded');
    writeFileSync(file, 'number,evidence\n+4520123451,form 1\n+4520123452,"form 2, signed"\n');
    expect((await cli('consent', 'import', file, '--purpose', 'newsletter', '--source', 'crm', '-c', dirs.configFile)).stdout).toBe('imported 2 opt-in(s) for purpose newsletter\n');
    const csv = (await cli('consent', 'export', '-c', dirs.configFile)).stdout;
    expect(csv.split('\r\n')[0]).toBe('id,at,recorded_at,number,purpose,action,previous,source,evidence');
    expect(csv).toContain(',+4520123452,newsletter,opt_in,,crm,"form 2, signed"');
    const ndjson = (await cli('consent', 'export', '--format', 'ndjson', '-c', dirs.configFile)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { number: string });
    expect(ndjson.some((e) => e.number === '+4520123451')).toBe(true);
  });
});
