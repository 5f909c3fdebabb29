import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { alertsSetup, openSmtp, queueIdOf, sendMail, startTestDaemon, waitFor, writeConfig, type TestDirs } from './helpers.js';
import { freePort, startProcess, type Proc } from './process.js';
import { loadConfig, ConfigError } from '../src/config/load.js';
import { preflight } from '../src/config/preflight.js';
import { parse } from 'yaml';

/* Running it for real (issue 16): what an operator meets at start, stop and in the CLI. */

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['bin/mail2sms.js', ...args], { env: { ...process.env, ...env }, maxBuffer: 32 * 1024 * 1024 });
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: { code: number; stderr: string; stdout: string }) => e);

let dirs: TestDirs | undefined;
let procs: Proc[] = [];
afterEach(async () => {
  for (const proc of procs) if (proc.child.exitCode === null) await proc.kill('SIGKILL');
  procs = [];
  dirs?.cleanup();
  dirs = undefined;
});

async function serve(configFile: string): Promise<{ proc: Proc; smtpPort: number }> {
  const proc = startProcess(['serve', '-c', configFile]);
  procs.push(proc);
  const ready = (await proc.waitForLog('mail2sms ready', 60_000)) as { ports: { smtp: number } };
  return { proc, smtpPort: ready.ports.smtp };
}

describe('mail2sms health asks the daemon (issue 25 item 15)', () => {
  it('says healthy while a setup file is mid-edit and another key is invalid; only an unreadable http.listen is exit 78', async () => {
    const port = await freePort();
    dirs = writeConfig({ main: { http: { listen: `127.0.0.1:${port}` } } });
    const daemon = await startTestDaemon(dirs);
    try {
      // The admin is editing: a setup file half written, a key with a typo in the main file.
      writeFileSync(join(dirs.dir, 'setups', 'alerts.yaml'), 'id: alerts\nsenders: [ops@example.test\n');
      const main = readFileSync(dirs.configFile, 'utf8');
      writeFileSync(dirs.configFile, main.replace('max_recipients: 5', 'max_recipients: five'));
      expect((await cli(['health', '-c', dirs.configFile])).stdout).toBe(`healthy: http://127.0.0.1:${port}/healthz\n`);
      writeFileSync(dirs.configFile, main.replace(`listen: 127.0.0.1:${port}`, 'listen: somewhere'));
      const unreadable = await failure(cli(['health', '-c', dirs.configFile]));
      expect(unreadable?.code).toBe(78);
      expect(unreadable?.stderr).toContain('http.listen: "somewhere" is not a listen address (host:port); health needs it to reach the daemon');
    } finally {
      await daemon.stop();
    }
  });
});

describe('mail2sms token --scope (issue 25 item 14)', () => {
  it('a console token made as printed opens the console; without --scope the entry says sends; an unknown scope is refused', async () => {
    const made = (await cli(['token', 'helpdesk', '--scope', 'console'])).stdout;
    const token = /^token: {2}(\S+)$/m.exec(made)?.[1] as string;
    const snippet = parse(made.slice(made.indexOf('tokens:'))) as { tokens: Record<string, unknown>[] };
    expect(snippet.tokens).toEqual([{ name: 'helpdesk', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, scopes: ['console'] }]);
    dirs = writeConfig({ main: { http: { listen: '127.0.0.1:0', console: { enabled: true }, tokens: snippet.tokens } } });
    const daemon = await startTestDaemon(dirs);
    try {
      const page = await fetch(`http://127.0.0.1:${daemon.daemon.ports.http}/console/`, { headers: { authorization: `Bearer ${token}` } });
      expect(page.status).toBe(200);
    } finally {
      await daemon.stop();
    }
    expect((await cli(['token', 'campaign-tool'])).stdout).toMatch(/\n {4}scopes: \[sends\]\n$/);
    expect((await cli(['token', 'oncall', '--scope', 'console', '--scope', 'console:pii'])).stdout).toMatch(/\n {4}scopes: \[console, console:pii\]\n$/);
    const wrong = await failure(cli(['token', 'x', '--scope', 'consol']));
    expect(wrong?.code).toBe(64);
    expect(wrong?.stderr).toContain('Allowed choices are sends, console, console:pii');
  });
});

describe('numbers without a country code in the CLI (issue 25 item 19)', () => {
  it('take the default_country every setup agrees on; when they differ, the error names them and --country', async () => {
    dirs = writeConfig({ setups: [alertsSetup(), alertsSetup({ id: 'shop', senders: ['shop.example.test'] })] });
    await cli(['migrate', '-c', dirs.configFile]);
    await cli(['record-send', '+4520100002', '--channel', 'api', '-c', dirs.configFile]);
    const history = await cli(['history', '20100002', '-c', dirs.configFile]);
    expect(history.stdout).toMatch(/^\+4520100002\n {2}\S+ +send +SMS sent by channel api\n$/);
    expect((await cli(['history', '0046701234567', '-c', dirs.configFile])).stdout).toBe('+46701234567: nothing recorded\n');
    dirs.cleanup();

    dirs = writeConfig({ setups: [alertsSetup(), alertsSetup({ id: 'sweden', senders: ['example.se'], default_country: 'SE' })] });
    await cli(['migrate', '-c', dirs.configFile]);
    const ambiguous = await failure(cli(['history', '20100002', '-c', dirs.configFile]));
    expect(ambiguous?.code).toBe(65);
    expect(ambiguous?.stderr).toBe(`mail2sms: number: "20100002" has no country code and the setups' default_country differ (DK in alerts; SE in sweden): write +<country code><number> or pass --country DK|SE\n`);
    expect((await cli(['history', '20100002', '--country', 'dk', '-c', dirs.configFile])).stdout).toBe('+4520100002: nothing recorded\n');
  });
});

describe('one daemon per ledger', () => {
  it('a second start names the running one (pid, address) and exits 69 without a stack', async () => {
    dirs = writeConfig();
    const first = await serve(dirs.configFile);
    const second = await failure(cli(['serve', '-c', dirs.configFile]));
    expect(second?.code).toBe(69);
    expect(second?.stderr).toMatch(new RegExp(`^mail2sms: cannot start: another mail2sms \\(pid ${first.proc.child.pid}\\) is running on 127\\.0\\.0\\.1:0 \\(ledger .*ledger\\.db\\)`));
    expect(second?.stderr + (second?.stdout ?? '')).not.toMatch(/\n\s+at /);
    expect(first.proc.child.exitCode).toBeNull();
  });
});

describe('SIGTERM', () => {
  it('keeps the last log lines: the asynchronous log is written out before the process exits', async () => {
    dirs = writeConfig({ setups: [alertsSetup({ cooldown: 'off' })], main: { log: { level: 'info' } } });
    const { proc, smtpPort } = await serve(dirs.configFile);
    const queued: string[] = [];
    for (let i = 0; i < 12; i++) {
      const result = await sendMail({ port: smtpPort, from: 'ops@example.test', to: `+${4520123460 + i}@sms.example.test`, text: `last lines ${i}` });
      expect(result.code).toBe(250);
      queued.push(queueIdOf(result.response));
    }
    // At once after the last 250: its line is still in the log's buffer (written in batches of 2 KB or every 200 ms).
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    const lines = proc.lines.map((line) => JSON.parse(line) as { msg: string; qid?: string; level: number });
    // The decision line of every accepted mail, the last one included, and the shutdown's lines at the end.
    expect(queued.filter((qid) => !lines.some((l) => l.msg === 'sms queued' && l.qid === qid))).toEqual([]);
    // The decision line's fields: the number masked, and no empty warnings or groups on a plain alert.
    const first = lines.find((l) => l.msg === 'sms queued' && l.qid === queued[0]) as Record<string, unknown> | undefined;
    expect(first).toMatchObject({ setup: 'alerts', segments: 1, to: expect.stringMatching(/^\+45\d*\*+\d*$/) as unknown, ref: expect.any(String) as unknown });
    expect(first?.to).not.toBe('+4520123460');
    expect(Object.keys(first ?? {})).not.toContain('warnings');
    expect(Object.keys(first ?? {})).not.toContain('groups');
    expect(lines.some((l) => l.msg.startsWith('shutting down'))).toBe(true);
    expect(lines[lines.length - 1]?.msg).toBe('mail2sms stopped');
  });

  it('logs "shutting down", closes idle clients at once, lets a transaction finish and answers a new MAIL FROM 421 4.3.2 with a ref', async () => {
    dirs = writeConfig();
    const { proc, smtpPort } = await serve(dirs.configFile);
    const idle = openSmtp(smtpPort);
    const busy = openSmtp(smtpPort);
    expect(await idle.say()).toMatch(/^220 /);
    expect(await busy.say()).toMatch(/^220 /);
    await busy.say('EHLO busy.test');
    expect(await busy.say('MAIL FROM:<ops@example.test>')).toMatch(/^250 /);
    expect(await busy.say('RCPT TO:<+4520123450@sms.example.test>')).toMatch(/^250 /);

    proc.child.kill('SIGTERM');
    await proc.waitForLog('shutting down: no new mail, idle SMTP clients closed, in-flight sends may finish', 60_000);
    expect(await idle.say()).toMatch(/^421 4\.3\.2 Service shutting down; try again later \[ref [\w.]+\]$/);
    expect(await busy.say('DATA')).toMatch(/^354 /);
    expect(await busy.say('Subject: x\r\n\r\nstill taken during the grace\r\n.')).toMatch(/^250 2\.0\.0 Queued as /);
    expect(await busy.say('MAIL FROM:<ops@example.test>')).toMatch(/^421 4\.3\.2 Service shutting down; try again later \[ref [\w.]+\]$/);
    expect(await proc.exited).toBe(0);
    expect(proc.lines.some((line) => line.includes('"msg":"mail2sms stopped"'))).toBe(true);
  });
});

describe('check-config: what startup would fail on', () => {
  it('two listeners on one port, and a ledger under a file, each named with file:line', async () => {
    dirs = writeConfig({ main: { http: { listen: '127.0.0.1:47011' }, provider: { type: 'simulator', listen: '127.0.0.1:47011', secret: 'x'.repeat(16) } } });
    const blocker = join(dirs.dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const config = loadConfig(dirs.configFile);
    const problems = preflight({ ...config, storagePath: join(blocker, 'ledger.db') });
    expect(problems.map((p) => `${p.field}: ${p.message}`)).toEqual([
      expect.stringMatching(/^storage\.path: cannot create the ledger's files in .*not-a-directory: not a directory/),
      'provider.listen: 127.0.0.1:47011: port 47011 is also http.listen; each listener needs its own port',
    ]);
    expect(problems[1]?.line).toBeGreaterThan(0);
    const cliRun = await failure(cli(['check-config', '-c', dirs.configFile]));
    expect(cliRun?.code).toBe(78);
    expect(cliRun?.stderr).toMatch(/the service would not start:\n.*mail2sms\.yaml:\d+:\d+: provider\.listen: 127\.0\.0\.1:47011: port 47011 is also http\.listen/);
  });

  it('a port below 1024 without the capability, and an address this machine does not have', async () => {
    dirs = writeConfig({ main: { smtp: { listen: '192.0.2.250:25' } } });
    const problems = preflight(loadConfig(dirs.configFile), { canBindLowPorts: false, unprivilegedPortStart: 1024, localAddresses: new Set(['127.0.0.1']), now: Date.now() });
    expect(problems.map((p) => p.message)).toEqual([
      '192.0.2.250:25: ports below 1024 need root or CAP_NET_BIND_SERVICE (the systemd unit grants it: AmbientCapabilities=CAP_NET_BIND_SERVICE)',
      '192.0.2.250:25: 192.0.2.250 is not an address of this machine (127.0.0.1); use one of them, or 0.0.0.0 in a container',
    ]);
    const allowed = preflight(loadConfig(dirs.configFile), { canBindLowPorts: true, unprivilegedPortStart: 1024, localAddresses: new Set(['127.0.0.1', '192.0.2.250']), now: Date.now() });
    expect(allowed).toEqual([]);
  });

  it('MAIL2SMS_CONFIG names the config when -c is not given', async () => {
    dirs = writeConfig();
    const { stdout } = await cli(['check-config'], { MAIL2SMS_CONFIG: dirs.configFile });
    expect(stdout).toBe(`${dirs.configFile}: OK (1 setup(s): alerts)\n`);
  });
});

describe('check-config: every problem at once', () => {
  it('lists main-file errors, setup errors and duplicate senders (with their line) in one run; "fifty" must be a number', async () => {
    dirs = writeConfig({
      main: { smtp: { listen: '127.0.0.1:0', max_recipients: 'fifty' } },
      setups: [alertsSetup({ cooldown: '10 minutes' }), alertsSetup({ id: 'alerts2', senders: ['other.test', 'example.test'] })],
    });
    const result = await failure(cli(['check-config', '-c', dirs.configFile]));
    expect(result?.code).toBe(78);
    const lines = (result?.stderr ?? '').split('\n').filter((line) => line.includes('.yaml'));
    expect(lines).toEqual([
      expect.stringMatching(/mail2sms\.yaml:\d+:\d+: smtp\.max_recipients: must be a number, not "fifty"$/),
      expect.stringMatching(/setups\/alerts\.yaml:\d+:\d+: cooldown: "10 minutes" is not a duration/),
      expect.stringMatching(/setups\/alerts2\.yaml:4:\d+: senders: sender "example\.test" is claimed by setup "alerts" \(.*alerts\.yaml\) and setup "alerts2"/),
    ]);
  });

  it('${ENV} in provider.secret is read from the environment; unset, it is an error naming the variable', async () => {
    dirs = writeConfig({ provider: { secret: '${MAIL2SMS_TEST_SIM_SECRET}' } });
    expect(() => loadConfig(dirs!.configFile)).toThrow(ConfigError);
    expect(() => loadConfig(dirs!.configFile)).toThrow(/provider\.secret: environment variable MAIL2SMS_TEST_SIM_SECRET is not set/);
    process.env.MAIL2SMS_TEST_SIM_SECRET = 'a-secret-from-the-environment';
    try {
      const config = loadConfig(dirs.configFile);
      expect(config.main.provider?.type === 'simulator' && config.main.provider.secret).toBe('a-secret-from-the-environment');
    } finally {
      delete process.env.MAIL2SMS_TEST_SIM_SECRET;
    }
  });
});

describe('CLI', () => {
  it('record-send --purpose refuses a purpose not declared under consent.purposes (one number, and a file row)', async () => {
    dirs = writeConfig({ main: { consent: { purposes: { newsletter: null } } } });
    const one = await failure(cli(['record-send', '+4520123456', '--purpose', 'x', '-c', dirs.configFile]));
    expect(one).toMatchObject({ code: 64, stderr: 'mail2sms: --purpose: "x" is not declared under consent.purposes (declared: newsletter)\n' });
    const file = join(dirs.dir, 'sends.csv');
    writeFileSync(file, 'number,purpose\n+4520123456,newsletter\n+4520123457,newsleter\n');
    const rows = await failure(cli(['record-send', '--file', file, '-c', dirs.configFile]));
    expect(rows?.code).toBe(65);
    expect(rows?.stderr).toContain(`${file}:3: purpose: "newsleter" is not declared under consent.purposes`);
    expect((await cli(['record-send', '+4520123456', '--purpose', 'newsletter', '-c', dirs.configFile])).stdout).toBe('recorded 1 send(s)\n');
  });

  it('consent export | head ends quietly (no EPIPE stack)', async () => {
    dirs = writeConfig({ main: { consent: { purposes: { newsletter: null } } } });
    const file = join(dirs.dir, 'optins.csv');
    writeFileSync(file, 'number,evidence\n' + Array.from({ length: 3000 }, (_, i) => `+45${20_120_000 + i},web form signup with a long evidence text to fill the pipe quickly ${i}`).join('\n') + '\n');
    await cli(['consent', 'import', file, '--purpose', 'newsletter', '--source', 'web', '-c', dirs.configFile]);
    const { stdout, stderr } = await run('sh', ['-c', `"${process.execPath}" bin/mail2sms.js consent export -c "${dirs.configFile}" | head -2`]);
    expect(stdout.split(/\r?\n/)[0]).toBe('id,at,recorded_at,number,purpose,action,previous,source,evidence');
    expect(stderr).toBe('');
  });

  it('backups are written 0600, whatever the umask', async () => {
    dirs = writeConfig();
    const t = await startTestDaemon(dirs);
    try {
      await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520123491@sms.example.test', text: 'private' });
      const target = join(dirs.dir, 'backup.db');
      await run('sh', ['-c', `umask 022 && "${process.execPath}" bin/mail2sms.js backup "${target}" -c "${dirs.configFile}"`]);
      expect(statSync(target).mode & 0o777).toBe(0o600);
    } finally {
      await t.stop();
    }
  });

  it('bin/mail2sms.js says how to build when dist/ is missing, without a stack', async () => {
    const { mkdtempSync, cpSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const copy = mkdtempSync(join(tmpdir(), 'mail2sms-nodist-'));
    try {
      cpSync('bin', join(copy, 'bin'), { recursive: true });
      const result = await failure(run(process.execPath, [join(copy, 'bin', 'mail2sms.js'), '--help']));
      expect(result?.code).toBe(70);
      expect(result?.stderr).toMatch(/^mail2sms: not built: .*dist\/src\/cli\/main\.js is missing\.\nRun `npm ci` \(or `npm ci --omit=dev` for production\) or `npm run build` in /);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});

describe('postmaster from any sender', () => {
  it('a sender no setup claims reaches postmaster (never an SMS); its SMS recipients are refused; a rate limit and a size limit hold', async () => {
    dirs = writeConfig({ main: { smtp: { listen: '127.0.0.1:0', postmaster_rate: 2, postmaster_max_size: '2KB' } } });
    const t = await startTestDaemon(dirs);
    try {
      const abuse = await sendMail({ port: t.smtpPort, from: 'abuse@isp.example.net', to: 'postmaster@sms.example.test', subject: 'Abuse report', text: 'Your gateway sent me an SMS' });
      expect(abuse.response).toMatch(/^250 2\.0\.0 Accepted for postmaster \[ref [\w.]+\]$/);
      expect(t.logs.some((line) => line.msg.startsWith('mail for postmaster received'))).toBe(true);
      // A subject can hold numbers: at debug only, unless log.content is on (issue 18).
      expect(t.logs.some((line) => line.level === 20 && line.subject === 'Abuse report')).toBe(true);
      expect(t.logs.some((line) => line.level >= 30 && line.subject === 'Abuse report')).toBe(false);

      const smtp = openSmtp(t.smtpPort);
      await smtp.say();
      await smtp.say('EHLO isp.example.net');
      expect(await smtp.say('MAIL FROM:<abuse@isp.example.net>')).toMatch(/^250 /);
      expect(await smtp.say('RCPT TO:<+4520123456@sms.example.test>')).toMatch(/^550 5\.7\.1 Sender <abuse@isp\.example\.net> is not allowed to send SMS here \[ref [\w.]+\]$/);
      expect(await smtp.say('RCPT TO:<postmaster@sms.example.test>')).toMatch(/^250 /);
      expect(await smtp.say('DATA')).toMatch(/^354 /);
      expect(await smtp.say(`Subject: big\r\n\r\n${'x'.repeat(3000)}\r\n.`)).toMatch(/^552 5\.3\.4 Message size exceeds the limit of 2048 bytes/);
      expect(await smtp.say('MAIL FROM:<abuse@isp.example.net>')).toMatch(/^250 /);
      expect(await smtp.say('RCPT TO:<postmaster@sms.example.test>')).toMatch(/^450 4\.7\.0 Too much mail for postmaster from 127\.0\.0\.1; try again later/);
      smtp.close();

      const queued = await waitFor(() => t.daemon.ledger.queueDepth(), 'ledger answers');
      expect(queued).toMatchObject({ queued: 0, sending: 0 });
      const sms = await (await fetch(`${t.simUrl}/messages`)).json();
      expect(sms).toEqual([]);
    } finally {
      await t.stop();
    }
  });

  it('explain says the same, and exits 0 (postmaster takes it)', async () => {
    dirs = writeConfig();
    const file = join(dirs.dir, 'abuse.eml');
    writeFileSync(file, 'From: abuse@isp.example.net\r\nTo: postmaster@sms.example.test\r\nSubject: Abuse\r\n\r\nhello\r\n');
    const { stdout } = await cli(['explain', file, '-c', dirs.configFile, '--json']);
    const report = JSON.parse(stdout) as { recipients: unknown[]; note: string };
    expect(report.recipients).toEqual([{ address: 'postmaster@sms.example.test', verdict: 'postmaster' }]);
    expect(report.note).toMatch(/only postmaster takes its mail/);
  });
});
