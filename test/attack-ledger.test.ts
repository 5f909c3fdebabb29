import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { createDispatcher } from '../src/dispatch/worker.js';
import type { SmsProvider } from '../src/providers/types.js';
import { intakeMessage, openTestLedger, quietLogger } from './ledger-fixture.js';
import { sendMail, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';
import { nodeAnyUserCanRun } from './process.js';

/*
 * Issue 18, ledger and files (items 10–14): a vanished ledger, one that is not
 * writable, a crash mid-send under on_unknown: fail, a send in the future, a
 * stale pid file.
 */

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args]);
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code: number; stderr: string }) => e);

let dirs: TestDirs | undefined;
let daemon: TestDaemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  dirs?.cleanup();
  dirs = undefined;
});

describe('the ledger file vanishes while running (item 10)', () => {
  it('stops accepting with 451, alerts, and /healthz says so', async () => {
    dirs = writeConfig();
    daemon = await startTestDaemon(dirs);
    const mail = { port: daemon.smtpPort, from: 'ops@example.test', to: '+4520123456@sms.example.test', text: 'before' };
    expect((await sendMail(mail)).code).toBe(250);
    rmSync(join(dirs.dir, 'data'), { recursive: true, force: true });
    const after = await sendMail({ ...mail, to: '+4520123457@sms.example.test', text: 'after' });
    expect(after.response).toMatch(/^451 4\.3\.0 /);
    expect(daemon.logs.some((l) => l.level === 60 && /ledger file .* has vanished/.test(l.msg))).toBe(true);
    // Each refused mail: one line with the cause at error level; its stack only at debug.
    const refused = daemon.logs.filter((l) => l.msg === 'ledger unavailable; answered 451, the client will retry');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 50, cause: expect.stringMatching(/ledger file .* has vanished/) as unknown });
    expect(refused[0]).not.toHaveProperty('err');
    expect(daemon.logs.filter((l) => l.level >= 50 && JSON.stringify(l).includes('    at '))).toEqual([]);
    expect(daemon.logs.some((l) => l.level === 20 && l.msg.endsWith('(stack)') && JSON.stringify(l).includes('    at '))).toBe(true);
    const health = await fetch(`http://127.0.0.1:${daemon.daemon.ports.http}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'unavailable', ledger: expect.stringMatching(/has vanished/) as unknown });
  });

  it('serve with no ledger file exits 69 naming the path and `mail2sms migrate`, and creates nothing', async () => {
    dirs = writeConfig();
    const error = await failure(cli('serve', '-c', dirs.configFile));
    expect(error).toMatchObject({ code: 69 });
    expect(error?.stderr).toContain(`no ledger at ${dirs.dbFile}: create it with \`mail2sms migrate -c ${dirs.configFile}\``);
    expect(existsSync(dirs.dbFile)).toBe(false);
  });

  it('/healthz reports the ledger ok while it is', async () => {
    dirs = writeConfig();
    daemon = await startTestDaemon(dirs);
    const health = await fetch(`http://127.0.0.1:${daemon.daemon.ports.http}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok', ledger: 'ok', provider: 'ok' });
  });

  it('/healthz says the provider is failing (degraded, still 200: mail is still queued) while its calls fail', async () => {
    dirs = writeConfig();
    daemon = await startTestDaemon(dirs);
    await fetch(`${daemon.simUrl}/faults`, { method: 'PUT', body: JSON.stringify({ error_rate: 1 }) });
    expect((await sendMail({ port: daemon.smtpPort, from: 'ops@example.test', to: '+4520123456@sms.example.test', text: 'down' })).code).toBe(250);
    const url = `http://127.0.0.1:${daemon.daemon.ports.http}/healthz`;
    const body = await waitFor(async () => {
      const json = (await (await fetch(url)).json()) as { status: string; provider: string };
      return json.status === 'degraded' && json;
    }, 'the provider to be reported failing');
    expect(body.provider).toMatch(/^failing: \d+ call\(s\) in a row since .*, last: /);
  });
});

describe('a ledger this user cannot write (item 11)', () => {
  it('serve exits 69 naming the path and the user instead of saying "ready"', async () => {
    dirs = writeConfig();
    await cli('migrate', '-c', dirs.configFile);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // Created by root, run as another user (nobody): the attack as reported.
      chmodSync(dirs.dir, 0o755);
      chmodSync(dirs.configFile, 0o644);
      chmodSync(join(dirs.dir, 'setups'), 0o755);
      chownSync(join(dirs.dir, 'setups'), 0, 0);
    } else {
      chmodSync(dirs.dbFile, 0o444);
    }
    // As nobody: a node nobody can run (this one may be under /root).
    const node = asRoot ? nodeAnyUserCanRun() : { path: process.execPath, cleanup: () => undefined };
    const child = spawn(node.path, ['bin/mail2sms.js', 'serve', '-c', dirs.configFile], { ...(asRoot ? { uid: 65534, gid: 65534 } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve)).finally(node.cleanup);
    expect(code).toBe(69);
    expect(stderr).toMatch(new RegExp(`ledger ${dirs.dir}/data(/ledger\\.db)? is not writable by user \\S+ \\(uid \\d+\\)`));
  });
});

describe.runIf(process.getuid?.() === 0)('a runtime directory this user cannot write (issue 25 item 17)', () => {
  it('serve exits 73 with one line naming the file, the user and runtime_dir; the stack only at debug', async () => {
    const runtime = mkdtempSync(join(tmpdir(), 'mail2sms-run-'));
    chmodSync(runtime, 0o755); // root's: nobody may enter it, not write in it
    dirs = writeConfig({ main: { runtime_dir: runtime } });
    await cli('migrate', '-c', dirs.configFile);
    chmodSync(dirs.dir, 0o755);
    for (const path of [join(dirs.dir, 'data'), dirs.dbFile]) chownSync(path, 65534, 65534);
    const node = nodeAnyUserCanRun();
    try {
      const child = spawn(node.path, ['bin/mail2sms.js', 'serve', '-c', dirs.configFile], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(73);
      expect(stderr).toBe(`mail2sms: cannot start: cannot open ${runtime}/mail2sms.pid: EACCES (user nobody, uid 65534); the runtime directory (runtime_dir, now ${runtime}) must be writable by this user\n`);
      const fatal = stdout.split('\n').filter((line) => line.includes('"level":60'));
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).not.toContain('    at ');
      // writeConfig logs at debug: there the stack is.
      expect(stdout).toMatch(/"level":20,.*"msg":"startup failed \(stack\)"/);
    } finally {
      node.cleanup();
      rmSync(runtime, { recursive: true, force: true });
    }
  });
});

describe('a crash mid-send under on_unknown: fail (item 12)', () => {
  it('a row whose lease expired is ended unknown, not sent again, with a provider without idempotency', async () => {
    const clock = createManualClock();
    const t = openTestLedger(clock);
    try {
      const { queueId } = await t.ledger.acceptMessage(intakeMessage(['+4520123456'], { onUnknown: 'fail' }));
      // The daemon that claimed it died mid-call: no outcome was recorded.
      expect(await t.ledger.claimDue(1, 60_000)).toHaveLength(1);
      clock.advance(61_000);
      let calls = 0;
      const provider = {
        name: 'no-idempotency',
        idempotent: false,
        send: () => {
          calls++;
          return Promise.resolve({ ok: true as const, providerMessageId: 'p1', parts: 1 });
        },
      } as unknown as SmsProvider; // only name, idempotent and send are used by dispatch
      const dispatcher = createDispatcher({ ledger: t.ledger, provider, clock, logger: quietLogger(), callbackUrl: 'http://127.0.0.1:1/receipts', concurrency: 1, pollIntervalMs: 20, leaseMs: 60_000, maxAttempts: 8, retryBaseMs: 20 });
      dispatcher.start();
      const row = await waitFor(async () => (await t.ledger.outbox({ queueId })).find((r) => r.status === 'unknown'), 'the row to end unknown');
      await dispatcher.stop();
      expect(calls).toBe(0);
      expect(row.reason).toMatch(/lease expired without an outcome.*on_unknown: fail/);
    } finally {
      await t.close();
    }
  });
});

describe('a send in the future (item 13)', () => {
  it('record-send --at 2030 is refused with the reason (exit 65)', async () => {
    dirs = writeConfig();
    await cli('migrate', '-c', dirs.configFile);
    const error = await failure(cli('record-send', '+4520123456', '--at', '2030-01-01T00:00:00Z', '-c', dirs.configFile));
    expect(error).toMatchObject({ code: 65 });
    expect(error?.stderr).toContain('--at: "2030-01-01T00:00:00Z" is in the future (more than 300 s ahead');
  });
});

describe('a stale pid file (item 14)', () => {
  it('reload does not signal an unrelated process that got the pid', async () => {
    dirs = writeConfig();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(join(dirs.dir, 'data'), { recursive: true });
      writeFileSync(join(dirs.dir, 'data', 'mail2sms.pid'), `${other.pid}\n`);
      const error = await failure(cli('reload', '-c', dirs.configFile));
      expect(error).toMatchObject({ code: 69 });
      expect(error?.stderr).toMatch(new RegExp(`pid ${other.pid} from .* is not mail2sms but "sleep 30"; the file is stale, nothing was signalled`));
      expect(other.exitCode).toBeNull();
      expect(other.signalCode).toBeNull();
    } finally {
      other.kill('SIGKILL');
    }
  });
});
