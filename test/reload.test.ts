import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { alertsSetup, sendMail, writeConfig, type TestDirs } from './helpers.js';
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
  });
});
