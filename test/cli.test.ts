import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { sendMail, startTestDaemon, writeConfig, type TestDirs } from './helpers.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args]);
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code: number; stderr: string }) => e);

let dirs: TestDirs | undefined;
afterEach(() => dirs?.cleanup());

describe('mail2sms migrate', () => {
  it('creates the ledger, then reports it up to date', async () => {
    dirs = writeConfig();
    expect((await cli('migrate', '-c', dirs.configFile)).stdout).toBe('applied 0001_initial.sql; schema version 1\n');
    expect((await cli('migrate', '-c', dirs.configFile)).stdout).toBe('up to date; schema version 1\n');
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
      expect(error?.stderr).toMatch(/cannot start: listen EADDRINUSE/);
    } finally {
      await t.stop();
    }
  });
});
