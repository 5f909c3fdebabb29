import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { alertsSetup, openSmtp, sendMail, startTestDaemon, waitFor, writeConfig, type TestDirs } from './helpers.js';

const run = promisify(execFile);
import { startProcess, type Proc } from './process.js';
import { loadConfig } from '../src/config/load.js';
import { restartOnlyChanges } from '../src/config/restart-only.js';
import { hashPassword } from '../src/core/passwords.js';

/* `systemctl reload` sends SIGHUP: prove that it really reloads, and that a bad edit keeps the running config. */

type Yaml = Record<string, unknown>;

/** Rewrites the main config file through `edit`. */
function editMain(file: string, edit: (main: Yaml) => void): void {
  const main = parse(readFileSync(file, 'utf8')) as Yaml;
  edit(main);
  writeFileSync(file, stringify(main));
}

let proc: Proc | undefined;
let dirs: TestDirs | undefined;
afterEach(async () => {
  await proc?.kill('SIGKILL');
  dirs?.cleanup();
});

describe('SIGHUP', () => {
  it('reloads setups for new sessions and keeps the old config when the new one is invalid', async () => {
    dirs = writeConfig({ main: { log: { level: 'info' } } });
    proc = startProcess(['serve', '-c', dirs.configFile]);
    const ready = await proc.waitForLog('mail2sms ready');
    const port = (ready.ports as { smtp: number }).smtp;
    const mail = { port, from: 'noc@partner.test', to: '+4520123480@sms.example.test', text: 'hello' };

    expect((await sendMail(mail)).code).toBe(550);

    writeFileSync(join(dirs.dir, 'setups', 'partner.yaml'), stringify(alertsSetup({ id: 'partner', senders: ['partner.test'], sender_name: 'Partner' })));
    proc.child.kill('SIGHUP');
    await proc.waitForLog('config reloaded; new sessions use it (listen addresses need a restart)');
    expect((await sendMail(mail)).code).toBe(250);

    writeFileSync(join(dirs.dir, 'setups', 'partner.yaml'), 'id: partner\ncooldown: soon\n');
    proc.child.kill('SIGHUP');
    const failed = await proc.waitForLog('config reload failed; keeping the running config');
    expect(String(failed.error)).toMatch(/partner\.yaml:2:1: cooldown: "soon" is not a duration/);
    expect((await sendMail({ ...mail, to: '+4520123481@sms.example.test' })).code).toBe(250);
    expect(proc.child.exitCode).toBeNull();

    // `mail2sms reload` checks the files first and leaves the daemon alone when they are wrong…
    const refused = await run(process.execPath, ['bin/mail2sms.js', 'reload', '-c', dirs.configFile]).catch((e: { code: number; stderr: string }) => e);
    expect(refused).toMatchObject({ code: 78 });
    // …and signals it when they are right.
    writeFileSync(join(dirs.dir, 'setups', 'partner.yaml'), stringify(alertsSetup({ id: 'partner', senders: ['other-partner.test'], sender_name: 'Partner' })));
    const { stdout } = await run(process.execPath, ['bin/mail2sms.js', 'reload', '-c', dirs.configFile]);
    expect(stdout).toBe(`config valid; asked mail2sms (pid ${proc.child.pid}) to reload\nreloaded: every change applies to new sessions\n`);
    await waitFor(() => proc!.lines.filter((l) => l.includes('config reloaded;')).length === 2, 'the second reload');
    expect((await sendMail({ ...mail, to: '+4520123482@sms.example.test' })).code).toBe(550);

    // A restart-only key: the answer names it rather than staying silent.
    editMain(dirs.configFile, (main) => ((main.dispatch as Yaml).concurrency = 3));
    const answer = await run(process.execPath, ['bin/mail2sms.js', 'reload', '-c', dirs.configFile]);
    expect(answer.stdout).toMatch(/\nreloaded, but these changes wait for a restart \(the running values stay\): dispatch\.concurrency\n$/);
  });
});

describe('reload under traffic', () => {
  it('a session that began before the reload finishes with the old setup; new sessions get the new one', async () => {
    const d = writeConfig({ setups: [alertsSetup({ cooldown: 'off' })] });
    const t = await startTestDaemon(d);
    try {
      const smtp = openSmtp(t.smtpPort);
      const say = smtp.say;
      await say(); // greeting
      await say('EHLO old-session');
      expect(await say('MAIL FROM:<ops@example.test>')).toMatch(/^250 /);

      // The admin moves example.test to another setup that only allows a far-away network.
      writeFileSync(join(d.dir, 'setups', 'alerts.yaml'), stringify(alertsSetup({ authorize: { ip: ['192.0.2.0/24'] } })));
      expect(await t.daemon.reload()).toEqual({ ok: true, needsRestart: [] });

      expect(await say('RCPT TO:<+4520123483@sms.example.test>')).toMatch(/^250 /);
      expect(await say('DATA')).toMatch(/^354 /);
      expect(await say('Subject: old\r\n\r\nstarted before the reload\r\n.')).toMatch(/^250 2\.0\.0 Queued as /);
      await say('QUIT');

      const fresh = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520123484@sms.example.test', text: 'after' });
      expect(fresh.response).toMatch(/^550 5\.7\.1 Sender <ops@example\.test> is not authorised from 127\.0\.0\.1/);
    } finally {
      await t.stop();
      d.cleanup();
    }
  });
});

describe('reload of a key only a restart applies', () => {
  it('names each changed restart-only key in a warning, in its result and in the answer file; live keys apply', async () => {
    const d = writeConfig();
    const t = await startTestDaemon(d);
    try {
      editMain(d.configFile, (main) => {
        (main.smtp as Yaml).listen = '127.0.0.1:2525';
        (main.smtp as Yaml).max_recipients = 7; // live
        (main.http as Yaml).public_url = 'https://mail2sms.example.test';
        (main.provider as Yaml).timeout = '3s';
        (main.dispatch as Yaml).concurrency = 2;
        (main.dispatch as Yaml).max_schedule_ahead = '1d'; // live: checked per mail
        main.log = { level: 'warn' };
      });
      const needsRestart = ['smtp.listen', 'http.public_url', 'provider.timeout', 'dispatch.concurrency', 'log.level'];
      expect(await t.daemon.reload()).toEqual({ ok: true, needsRestart });

      const warning = t.logs.find((l) => l.level === 40 && l.msg.startsWith('config reloaded without these changes'));
      expect(warning?.msg).toBe(`config reloaded without these changes, which keep their running values until a restart: ${needsRestart.join(', ')}`);
      expect(warning?.keys).toEqual(needsRestart);
      const answerFile = join(d.dir, 'data', 'mail2sms.reload.json');
      expect(JSON.parse(readFileSync(answerFile, 'utf8'))).toMatchObject({ ok: true, needsRestart, pid: process.pid, reloads: 1 });

      // The running values stay: still listening where it started, and new sessions see the live key.
      const smtp = openSmtp(t.smtpPort);
      await smtp.say();
      await smtp.say('EHLO after-reload');
      expect(await smtp.say('MAIL FROM:<ops@example.test>')).toMatch(/^250 /);
      for (let i = 0; i < 6; i++) expect(await smtp.say(`RCPT TO:<+45201234${90 + i}@sms.example.test>`)).toMatch(/^250 /); // max_recipients was 5
      await smtp.say('QUIT');

      // A reload without changes says so; stopping removes the answer.
      expect(await t.daemon.reload()).toEqual({ ok: true, needsRestart: [] });
      expect(JSON.parse(readFileSync(answerFile, 'utf8'))).toMatchObject({ needsRestart: [], reloads: 2 });
      await t.stop();
      expect(existsSync(answerFile)).toBe(false);
    } finally {
      await t.stop();
      d.cleanup();
    }
  });

  it('names STARTTLS and AUTH being turned on, which fix the SMTP commands offered at start', async () => {
    const d = writeConfig();
    const before = loadConfig(d.configFile);
    writeFileSync(join(d.dir, 'setups', 'alerts.yaml'), stringify(alertsSetup({ authorize: { smtp_auth: [{ user: 'erp', password_hash: await hashPassword('a long enough password') }] } })));
    editMain(d.configFile, (main) => ((main.smtp as Yaml).require_tls = false));
    try {
      expect(restartOnlyChanges(before, loadConfig(d.configFile))).toEqual(['smtp.require_tls', 'smtp_auth in setups (AUTH turned on)']);
    } finally {
      d.cleanup();
    }
  });
});
