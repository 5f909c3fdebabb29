import { execFile, execFileSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { maskNumbersIn } from '../src/core/log.js';
import { stringify } from 'yaml';
import { alertsSetup, openSmtp, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Issue 18, config files (items 15, 16) and logs (item 18).
 */

const run = promisify(execFile);
let dirs: TestDirs | undefined;
let daemon: TestDaemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  dirs?.cleanup();
  dirs = undefined;
});

function configIssues(file: string): string {
  try {
    loadConfig(file);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return '';
}

describe('odd config files (item 15)', () => {
  it('a setup that is a symlink to /dev/zero is a config error naming the file, not an abort', () => {
    dirs = writeConfig();
    symlinkSync('/dev/zero', join(dirs.dir, 'setups', 'zero.yaml'));
    expect(configIssues(dirs.configFile)).toMatch(/setups\/zero\.yaml: is not a regular file \(a character device\)/);
  });

  it('a FIFO is a config error at once, not a daemon frozen until someone writes to it', () => {
    dirs = writeConfig();
    execFileSync('mkfifo', [join(dirs.dir, 'setups', 'pipe.yaml')]);
    expect(configIssues(dirs.configFile)).toMatch(/setups\/pipe\.yaml: is not a regular file \(a FIFO\)/);
  });

  it('a file over the size limit is refused with its size', () => {
    dirs = writeConfig();
    writeFileSync(join(dirs.dir, 'setups', 'huge.yaml'), `# ${'x'.repeat(5 * 1024 * 1024)}\n`);
    expect(configIssues(dirs.configFile)).toMatch(/setups\/huge\.yaml: is \d+ bytes, over the limit of 4194304 bytes/);
  });
});

describe('a YAML alias bomb (item 16)', () => {
  it('check-config exits 78 naming the file', async () => {
    dirs = writeConfig();
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    writeFileSync(join(dirs.dir, 'setups', 'bomb.yaml'), levels.join('\n') + '\n');
    const error = await run(process.execPath, ['bin/mail2sms.js', 'check-config', '-c', dirs.configFile]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(error).toMatchObject({ code: 78 });
    expect(error?.stderr).toMatch(/setups\/bomb\.yaml: YAML: .*alias.*\(at most 100 alias expansions per file\)/i);
  });
});

describe('reload off the event loop (item 17)', () => {
  it('SMTP sessions are answered while a large setup is parsed and validated', async () => {
    dirs = writeConfig();
    daemon = await startTestDaemon(dirs);
    const markers = Array.from({ length: 10_000 }, (_, i) => `  - "Disclaimer line number ${i} of the company"`).join('\n');
    writeFileSync(join(dirs.dir, 'setups', 'alerts.yaml'), `${stringify(alertsSetup())}cut_markers:\n${markers}\n`);
    const smtp = openSmtp(daemon.smtpPort);
    await smtp.say();
    let reloaded = false;
    let answeredDuring = 0;
    let worstMs = 0;
    const reload = daemon.daemon.reload().finally(() => (reloaded = true));
    while (!reloaded) {
      const start = performance.now();
      if ((await smtp.say('NOOP')).startsWith('250') && !reloaded) answeredDuring++;
      worstMs = Math.max(worstMs, performance.now() - start);
    }
    smtp.close();
    console.log(`bench: reload of a ${10_000}-marker setup: ${answeredDuring} NOOPs answered meanwhile, worst ${worstMs.toFixed(0)} ms`);
    expect(await reload).toEqual({ ok: true, needsRestart: [] });
    expect(answeredDuring).toBeGreaterThan(0);
  });
});

describe('logs (item 18)', () => {
  it('masks numbers written with separators, and leaves addresses and dates readable', () => {
    expect(maskNumbersIn('<+45-20-11-22-33@sms.example.test>')).toBe('<+45-20-**-**-33@sms.example.test>');
    expect(maskNumbersIn('+45 20 11 22 33 and (020) 1122.33.44')).toBe('+45 20 ** ** 33 and (020) 11**.**.44');
    expect(maskNumbersIn('from 203.0.113.5 until 2026-11-30T01:02')).toBe('from 203.0.113.5 until 2026-11-30T01:02');
  });

  it('a refused recipient with separators and a postmaster subject never appear in full at info/warn', async () => {
    dirs = writeConfig({ setups: [alertsSetup({ allowed_countries: ['SE'] })] });
    daemon = await startTestDaemon(dirs);
    const smtp = openSmtp(daemon.smtpPort);
    await smtp.say();
    await smtp.say('EHLO client.test');
    await smtp.say('MAIL FROM:<ops@example.test>');
    expect(await smtp.say('RCPT TO:<+45-20-11-22-33@sms.example.test>')).toMatch(/^550 /);
    await smtp.say('RSET');
    await smtp.say('MAIL FROM:<ops@example.test>');
    await smtp.say('RCPT TO:<postmaster@sms.example.test>');
    await smtp.say('DATA');
    expect(await smtp.say('From: ops@example.test\r\nSubject: Call +45 20 11 22 33 now\r\n\r\nhello\r\n.')).toMatch(/^250 /);
    smtp.close();
    const loud = JSON.stringify(daemon.logs.filter((line) => line.level >= 30));
    expect(loud).not.toMatch(/20-11-22-33|20 11 22 33/);
    expect(loud).toContain('+45-20-**-**-33');
  });
});
