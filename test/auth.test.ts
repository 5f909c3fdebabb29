import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { hashPassword, verifyPassword } from '../src/core/passwords.js';
import { alertsSetup, queueIdOf, sendMail, simulatorMessages, smtpDialogue, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * SMTP AUTH over STARTTLS with a certificate made for the test, and every
 * authorisation rule a setup can list: all of them must hold.
 */

let dirs: TestDirs;
let t: TestDaemon;
let port: number;
const passwords = { erp: 'correct horse battery staple', both: 'both-secret', remote: 'remote-secret' };

function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

beforeAll(async () => {
  const hash = async (user: keyof typeof passwords) => ({ user, password_hash: await hashPassword(passwords[user]) });
  dirs = writeConfig({
    setups: [
      alertsSetup({ id: 'erp', senders: ['erp@other.test'], authorize: { smtp_auth: [await hash('erp')] }, cooldown: 'off' }),
      alertsSetup({ id: 'both', senders: ['both@other.test'], authorize: { ip: ['127.0.0.0/8'], smtp_auth: [await hash('both')] } }),
      alertsSetup({ id: 'remote', senders: ['remote@other.test'], authorize: { ip: ['192.0.2.0/24'], smtp_auth: [await hash('remote')] } }),
    ],
  });
  const tls = makeCertificate(dirs.dir);
  const { readFileSync, writeFileSync } = await import('node:fs');
  writeFileSync(
    dirs.configFile,
    readFileSync(dirs.configFile, 'utf8').replace('  max_recipients: 5\n', `  max_recipients: 5\n  tls:\n    cert: ${tls.cert}\n    key: ${tls.key}\n  auth_failure_delay: 10ms\n  auth_failure_limit: 3\n`),
  );
  t = await startTestDaemon(dirs);
  port = t.smtpPort;
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

const mail = (from: string, to: string, extra: Partial<Parameters<typeof sendMail>[0]> = {}) => ({ port, from, to: `${to}@sms.example.test`, text: `from ${from}`, starttls: true, ...extra });

describe('SMTP AUTH', () => {
  it('AUTH PLAIN over STARTTLS lets a user send as its setup', async () => {
    const result = await sendMail(mail('erp@other.test', '+4520123501', { auth: { user: 'erp', pass: passwords.erp } }));
    expect(result.response).toMatch(/^250 2\.0\.0 Queued as /);
    await waitFor(async () => (await simulatorMessages(t.simUrl)).some((m) => m.to === '+4520123501'), 'the SMS');
    expect(t.logs.some((l) => l.msg === 'authenticated' && l.user === 'erp')).toBe(true);
    expect(queueIdOf(result.response)).toBeTruthy();
  });

  it('AUTH LOGIN works too', async () => {
    const result = await sendMail(mail('erp@other.test', '+4520123502', { auth: { user: 'erp', pass: passwords.erp, method: 'LOGIN' } }));
    expect(result.code).toBe(250);
  });

  it('a wrong password gets 535 5.7.8', async () => {
    const result = await sendMail(mail('erp@other.test', '+4520123503', { auth: { user: 'erp', pass: 'wrong' } }));
    expect(result.response).toMatch(/^535 5\.7\.8 Authentication credentials invalid \[ref [\w.]+\]$/);
  });

  it('a setup with smtp_auth refuses a client that did not log in: 530 5.7.0', async () => {
    const result = await sendMail(mail('erp@other.test', '+4520123504'));
    expect(result.response).toMatch(/^530 5\.7\.0 Authentication required to send as <erp@other\.test>/);
  });

  it("a user may not send as another setup's sender", async () => {
    const result = await sendMail(mail('erp@other.test', '+4520123505', { auth: { user: 'both', pass: passwords.both } }));
    expect(result.response).toMatch(/^550 5\.7\.1 User both may not send as <erp@other\.test>/);
  });

  it('every rule must hold: the right password from the wrong network is refused', async () => {
    const result = await sendMail(mail('remote@other.test', '+4520123506', { auth: { user: 'remote', pass: passwords.remote } }));
    expect(result.response).toMatch(/^550 5\.7\.1 Sender <remote@other\.test> is not authorised from 127\.0\.0\.1/);
    const both = await sendMail(mail('both@other.test', '+4520123507', { auth: { user: 'both', pass: passwords.both } }));
    expect(both.code).toBe(250);
  });

  it('AUTH before STARTTLS gets 538', async () => {
    const replies = await smtpDialogue(port, ['EHLO c', `AUTH PLAIN ${Buffer.from(`\0erp\0${passwords.erp}`).toString('base64')}`, 'QUIT']);
    expect(replies[2]).toMatch(/^538 /);
  });

  it('too many failed logins from one address lock it out, even with the right password', async () => {
    for (let i = 0; i < 3; i++) await sendMail(mail('erp@other.test', '+4520123508', { auth: { user: 'erp', pass: `guess ${i}` } }));
    const locked = await sendMail(mail('erp@other.test', '+4520123508', { auth: { user: 'erp', pass: passwords.erp } }));
    expect(locked.response).toMatch(/^454 4\.7\.0 Too many failed logins from 127\.0\.0\.1; try again later/);
  });
});

describe('passwords and TLS in the config', () => {
  it('hashes verify, and only the right password', async () => {
    const hash = await hashPassword('s3cret');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await verifyPassword('s3cret', hash)).toBe(true);
    expect(await verifyPassword('s3cret!', hash)).toBe(false);
  });

  const issues = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    return '';
  };

  it('refuses a plain-text password', () => {
    const d = writeConfig({ main: { smtp: { listen: '127.0.0.1:0', require_tls: false } }, setups: [alertsSetup({ authorize: { smtp_auth: [{ user: 'x', password: 'hunter2' }] } })] });
    try {
      expect(issues(() => loadConfig(d.configFile))).toMatch(/alerts\.yaml:\d+:\d+: authorize\.smtp_auth\.0\.password: plain-text passwords are refused: run `mail2sms hash-password`/);
    } finally {
      d.cleanup();
    }
  });

  it('names a certificate file it cannot read', () => {
    const d = writeConfig({ main: { smtp: { listen: '127.0.0.1:0', tls: { cert: 'missing.pem', key: 'missing-key.pem' } } } });
    try {
      expect(issues(() => loadConfig(d.configFile))).toMatch(/mail2sms\.yaml:\d+:\d+: smtp\.tls\.cert: cannot read .*missing\.pem: ENOENT/);
    } finally {
      d.cleanup();
    }
  });

  it('refuses smtp_auth without TLS unless require_tls is off', async () => {
    const user = { user: 'x', password_hash: await hashPassword('x') };
    const d = writeConfig({ setups: [alertsSetup({ authorize: { smtp_auth: [user] } })] });
    try {
      expect(issues(() => loadConfig(d.configFile))).toMatch(/smtp\.tls: setup\(s\) alerts use smtp_auth, which needs STARTTLS/);
    } finally {
      d.cleanup();
    }
  });
});
