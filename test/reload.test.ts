import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { alertsSetup, openSmtp, sendMail, startTestDaemon, waitFor, writeConfig, type TestDirs } from './helpers.js';

const run = promisify(execFile);
import { startProcess, type Proc } from './process.js';

/* `systemctl reload` sends SIGHUP: prove that it really reloads, and that a bad edit keeps the running config. */

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
    expect(stdout).toBe(`config valid; asked mail2sms (pid ${proc.child.pid}) to reload\n`);
    await waitFor(() => proc!.lines.filter((l) => l.includes('config reloaded;')).length === 2, 'the second reload');
    expect((await sendMail({ ...mail, to: '+4520123482@sms.example.test' })).code).toBe(550);
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
      expect(t.daemon.reload()).toEqual({ ok: true });

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
