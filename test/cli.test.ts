import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { alertsSetup, sendMail, startTestDaemon, waitFor, writeConfig, type TestDirs } from './helpers.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args]);
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code: number; stderr: string; stdout: string }) => e);

let dirs: TestDirs | undefined;
afterEach(() => dirs?.cleanup());

describe('mail2sms migrate', () => {
  it('creates the ledger, then reports it up to date', async () => {
    dirs = writeConfig();
    expect((await cli('migrate', '-c', dirs.configFile)).stdout).toBe('applied 0001_initial.sql, 0002_consent.sql, 0003_dispatch.sql, 0004_contacts.sql, 0005_console.sql, 0006_automations.sql, 0007_ledger_cost.sql, 0009_steps_from_outbox.sql, 0010_reply_threads.sql; schema version 10\n');
    expect((await cli('migrate', '-c', dirs.configFile)).stdout).toBe('up to date; schema version 10\n');
  });
});

describe('mail2sms backup', () => {
  it('copies a running ledger, including what is still in the WAL', async () => {
    dirs = writeConfig();
    const t = await startTestDaemon(dirs);
    try {
      const result = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520123490@sms.example.test', text: 'backup me' });
      expect(result.code).toBe(250);
      const target = join(dirs.dir, 'backup.db');
      const { stdout } = await cli('backup', target, '-c', dirs.configFile);
      expect(stdout).toMatch(/^backed up .* to .*backup\.db \(\d+ pages\)/);
      const copy = new Database(target, { readonly: true });
      const rows = copy.prepare('SELECT recipient FROM outbox').all();
      copy.close();
      expect(rows).toEqual([{ recipient: '+4520123490' }]);
      const again = await failure(cli('backup', target, '-c', dirs.configFile));
      expect(again).toMatchObject({ code: 73 });
      expect(again?.stderr).toContain('already exists');
    } finally {
      await t.stop();
    }
  });

  it('says so when there is no ledger yet', async () => {
    dirs = writeConfig();
    const error = await failure(cli('backup', join(dirs.dir, 'b.db'), '-c', dirs.configFile));
    expect(error).toMatchObject({ code: 69 });
    expect(existsSync(join(dirs.dir, 'b.db'))).toBe(false);
  });
});

describe('mail2sms provider-sim', () => {
  it('refuses to start without a secret (exit 64)', async () => {
    const error = await failure(run(process.execPath, ['bin/mail2sms.js', 'provider-sim'], { env: { ...process.env, MAIL2SMS_SIM_SECRET: '' } }));
    expect(error).toMatchObject({ code: 64 });
    expect(error?.stderr).toMatch(/--secret/);
  });

  it('refuses a malformed listen address (exit 64)', async () => {
    const error = await failure(cli('provider-sim', '--secret', 'x'.repeat(20), '--listen', 'localhost'));
    expect(error).toMatchObject({ code: 64 });
    expect(error?.stderr).toContain('--listen: "localhost" is not host:port');
  });
});

describe('mail2sms serve', () => {
  it('exits 69 with a clear message when its port is taken', async () => {
    dirs = writeConfig();
    const t = await startTestDaemon(dirs);
    try {
      const { writeFileSync, readFileSync } = await import('node:fs');
      const text = readFileSync(dirs.configFile, 'utf8').replace(/listen: 127\.0\.0\.1:0\n(\s+hostname)/, `listen: 127.0.0.1:${t.smtpPort}\n$1`);
      writeFileSync(dirs.configFile, text);
      const error = await failure(cli('serve', '-c', dirs.configFile));
      expect(error).toMatchObject({ code: 69 });
      expect(error?.stderr).toBe(`mail2sms: cannot start: 127.0.0.1:${t.smtpPort} (smtp.listen) is already in use by another program\n`);
    } finally {
      await t.stop();
    }
  });
});

describe('mail2sms explain', () => {
  const eml = 'test/fixtures/mail/26-nagios-alert-7bit.eml';

  it('for the example newsletter: no consent without a ledger, the schedule, the window and an expiry that comes first', async () => {
    const file = join(tmpdir(), `explain-${process.pid}.eml`);
    // Saturday 10:00 in Copenhagen: the window opens Monday 09:00, after max_age (4h) has run out.
    writeFileSync(file, 'From: newsletter@example.test\r\nTo: +4520123456@sms.example.test\r\nSubject: Sale\r\nX-SMS-Send-At: 2099-11-28T10:00:00+01:00\r\n\r\nWinter sale today\r\n');
    try {
      const example = writeConfig({
        main: { consent: { purposes: { newsletter: { max_silence: '180d' } } }, dispatch: { max_schedule_ahead: '36500d' } },
        setups: [alertsSetup({ id: 'newsletter', senders: ['newsletter@example.test'], category: 'marketing', purpose: 'newsletter', sender_name: '4570000000', max_age: '4h', sending_window: { timezone: 'Europe/Copenhagen', days: 'mon-fri', hours: '09:00-20:00' } })],
      });
      const { stdout } = await cli('explain', file, '-c', example.configFile);
      expect(stdout).toContain('+4520123456: suppressed: no_consent');
      expect(stdout).toContain('When:       scheduled for 2099-11-28T09:00:00.000Z (X-SMS-Send-At)');
      expect(stdout).toContain('When:       outside the sending window; would wait until 2099-11-30T08:00:00.000Z');
      expect(stdout).toContain('When:       would EXPIRE at 2099-11-28T13:00:00.000Z before the window opens');
      expect(stdout).toMatch(/\n {2}\| Winter sale today\n {2}\| Reply STOP to opt out\n/);
      example.cleanup();
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('shows setup, authorisation, each recipient and the SMS text, reading the cooldown from the ledger', async () => {
    dirs = writeConfig();
    const t = await startTestDaemon(dirs);
    try {
      expect((await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520123495@sms.example.test', text: 'earlier' })).code).toBe(250);
      await waitFor(async () => (await t.daemon.ledger.outbox({ recipient: '+4520123495' }))[0]?.sentAt, 'the earlier SMS sent');
    } finally {
      await t.stop();
    }
    const { stdout } = await cli('explain', eml, '-c', dirs.configFile, '--from', 'nagios@example.test', '--to', '+4520123495@sms.example.test', '004520123496@sms.example.test', 'x@gmail.com', '--json');
    const report = JSON.parse(stdout) as import('../src/cli/explain.js').ExplainReport;
    expect(report.setup).toEqual({ id: 'alerts', file: expect.stringContaining('alerts.yaml'), matchedBy: 'domain example.test' });
    expect(report.sender).toEqual({ accepted: true });
    expect(report.recipients).toEqual([
      { address: '+4520123495@sms.example.test', verdict: 'suppressed', reason: 'cooldown', rejectedAtRcpt: false, number: '+4520123495', detail: expect.stringMatching(/^cooldown until \d{4}-\d\d-\d\dT/) },
      { address: '004520123496@sms.example.test', verdict: 'would_send', number: '+4520123496' },
      { address: 'x@gmail.com', verdict: 'refused', reply: expect.stringMatching(/^550 5\.7\.1 Relaying denied/) },
    ]);
    expect(report.sms).toMatchObject({ encoding: 'GSM-7', senderName: 'Example', text: readFileSync('test/fixtures/mail/26-nagios-alert-7bit.sms.txt', 'utf8').replace(/\n$/, '') });
  });

  it('--why lists each block stripped from the body with its lines and class; --json always carries them', async () => {
    dirs = writeConfig();
    const reply = 'test/fixtures/mail/01-outlook-en-reply.eml';
    const args = ['explain', reply, '-c', dirs.configFile, '--from', 'ops@example.test', '--to', '+4520123456@sms.example.test'];
    const plain = await cli(...args);
    expect(plain.stdout).not.toContain('Removed:');
    const why = await cli(...args, '--why');
    expect(why.stdout).toMatch(/Removed: {4}2 block\(s\) of the body\n {2}lines \d+-\d+: quote header\n {4}- _+\n {4}- From: Morten Lund/);
    expect(why.stdout).toMatch(/lines \d+-\d+: quoted text\n {4}- Hi Sarah,/);
    const json = JSON.parse((await cli(...args, '--json')).stdout) as { sms: { removed: { class: string; lines: number[] }[] } };
    expect(json.sms.removed.map((block) => block.class)).toEqual(['quote_header', 'quoted']);
  });

  it('says why a sender would be refused, in the text form', async () => {
    dirs = writeConfig();
    // A mail the daemon would refuse: the reason on stdout, exit 1, so scripts can test mails against the config.
    const fromElsewhere = await failure(cli('explain', eml, '-c', dirs.configFile, '--from', 'ops@example.test', '--ip', '192.0.2.7'));
    expect(fromElsewhere).toMatchObject({ code: 1 });
    expect(fromElsewhere?.stdout).toContain('MAIL FROM:  refused: 550 5.7.1 Sender <ops@example.test> is not authorised from 192.0.2.7');
    const unknown = await failure(cli('explain', eml, '-c', dirs.configFile, '--from', 'eve@evil.test'));
    expect(unknown).toMatchObject({ code: 1 });
    expect(unknown?.stdout).toContain('Setup:      none matches this sender');
  });

  it('takes the SMTP AUTH user into account', async () => {
    const { hashPassword } = await import('../src/core/passwords.js');
    const { alertsSetup } = await import('./helpers.js');
    dirs = writeConfig({
      main: { smtp: { listen: '127.0.0.1:0', require_tls: false } },
      setups: [alertsSetup({ authorize: { smtp_auth: [{ user: 'nagios', password_hash: await hashPassword('x') }] } })],
    });
    const anonymous = await failure(cli('explain', eml, '-c', dirs.configFile, '--from', 'nagios@example.test'));
    expect(anonymous?.stdout).toContain('MAIL FROM:  refused: 530 5.7.0 Authentication required to send as <nagios@example.test>');
    const loggedIn = await cli('explain', eml, '-c', dirs.configFile, '--from', 'nagios@example.test', '--user', 'nagios');
    expect(loggedIn.stdout).toContain('MAIL FROM:  accepted (authorised)');
  });

  it('exits 65 for a file it cannot read and 64 for a bad --ip', async () => {
    dirs = writeConfig();
    expect(await failure(cli('explain', 'nope.eml', '-c', dirs.configFile))).toMatchObject({ code: 65 });
    expect(await failure(cli('explain', eml, '-c', dirs.configFile, '--ip', 'localhost'))).toMatchObject({ code: 64 });
  });
});
