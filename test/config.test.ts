import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { alertsSetup, writeConfig, type TestDirs } from './helpers.js';

const run = promisify(execFile);
let dirs: TestDirs | undefined;
afterEach(() => dirs?.cleanup());

function issuesOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('check-config in one pass (issue 25 item 13)', () => {
  it('a type error does not hide an undeclared group, a bad cron does not hide an unknown setup and group, one YAML mistake is one line', () => {
    dirs = writeConfig({
      main: { groups: { members: {} }, smtp: { listen: '127.0.0.1:0', max_clients: 'lots' } },
      setups: [alertsSetup({ cooldown: '5x', groups: ['memebers'] }), alertsSetup({ id: 'shop', senders: ['example.test'], sender_name: 'Shop' })],
    });
    mkdirSync(join(dirs.dir, 'automations'));
    writeFileSync(join(dirs.dir, 'automations', 'bday.yaml'), stringify({
      id: 'bday', title: 'Birthday', setup: 'nosuch', schedule: { cron: '99 * * * *', timezone: 'Europe/Copenhagen' }, recipients: { group: 'nogroup' }, text: 'hi',
    }));
    // An unclosed quote: the parser reports it, and the flow map it leaves open, on the same line.
    writeFileSync(join(dirs.dir, 'setups', 'broken.yaml'), 'id: broken\nsenders: [broken.test]\nauthorize: { ip: "127.0.0.0/8 }\n');
    const lines = issuesOf(() => loadConfig(dirs!.configFile)).split('\n');
    const expected = [
      /\/mail2sms\.yaml:\d+:\d+: smtp\.max_clients: must be a number, not "lots"$/,
      /\/setups\/alerts\.yaml:\d+:1: cooldown: "5x" is not a duration/,
      /\/setups\/alerts\.yaml:\d+:\d+: groups\.0: group "memebers" is not declared under groups: in \S*mail2sms\.yaml \(declared: members; "all" is built in\)$/,
      /\/setups\/shop\.yaml:\d+:\d+: senders: sender "example\.test" is claimed by setup "alerts"/,
      /\/automations\/bday\.yaml:\d+:\d+: schedule\.cron: "99 \* \* \* \*" is not a cron expression/,
      /\/automations\/bday\.yaml:\d+:\d+: setup: no setup "nosuch" \(setups: alerts, broken, shop\)$/,
      /\/automations\/bday\.yaml:\d+:\d+: recipients\.group: group "nogroup" is not declared under groups: \(declared: members; "all" is built in\)$/,
    ];
    for (const pattern of expected) expect(lines.filter((line) => pattern.test(line)), String(pattern)).toHaveLength(1);
    expect(lines.filter((line) => line.includes('/setups/broken.yaml'))).toEqual([expect.stringMatching(/\/setups\/broken\.yaml:\d+:\d+: YAML syntax: /)]);
  });
});

describe('config loading', () => {
  it('loads the shipped example config', () => {
    const config = loadConfig('config/mail2sms.yaml');
    expect(config.main.smtp.listen).toEqual({ host: '127.0.0.1', port: 2525 });
    expect(config.main.sms_domains).toEqual(['sms.example.test']);
    expect(config.setups.map((s) => s.id)).toEqual(['alerts', 'newsletter']);
    expect(config.setups[0]?.cooldown).toBe(600_000);
    expect(config.senders.match('ops@example.test')?.setup.id).toBe('alerts');
    expect(config.senders.match('newsletter@example.test')?.setup).toMatchObject({ id: 'newsletter', category: 'marketing', purpose: 'newsletter' });
    expect(Object.isFrozen(config.main)).toBe(true);
  });

  it('names file, line and field of a bad cooldown', () => {
    dirs = writeConfig({ setups: [alertsSetup({ cooldown: '10 minutes' })] });
    const message = issuesOf(() => loadConfig(dirs!.configFile));
    // stringify writes keys in order: id, senders(+2 lines), authorize(+3), sender_name, cooldown → line 9
    expect(message).toMatch(/setups\/alerts\.yaml:9:1: cooldown: "10 minutes" is not a duration/);
  });

  it.each([
    ['a typo', { cooldwn: '5m' }, 'cooldwn: unknown key: did you mean `cooldown`?'],
    ['another spelling', { sendername: 'Ops' }, 'sendername: unknown key: did you mean `sender_name`?'],
    ['words swapped', { country_default: 'DK' }, 'country_default: unknown key: did you mean `default_country`?'],
    ['a nested typo', { authorize: { ips: ['10.0.0.0/8'] } }, 'authorize.ips: unknown key: did you mean `ip`?'],
    ['nothing close', { colour: 'blue' }, "colour: unknown key (see docs/configuration-reference.md)"],
  ])('reports an unknown key with its line and a hint: %s', (_name, extra, message) => {
    dirs = writeConfig({ setups: [alertsSetup(extra)] });
    const text = issuesOf(() => loadConfig(dirs!.configFile));
    expect(text).toContain(message);
    expect(text).toMatch(/alerts\.yaml:\d+:\d+: /);
  });

  it.each([
    ['a bad CIDR', { authorize: { ip: ['10.0.0.0/33'] } }, 'authorize.ip.0: "10.0.0.0/33" is not an IP address or CIDR range'],
    ['a host name instead of an address', { authorize: { ip: ['gateway.example.test'] } }, 'authorize.ip.0: "gateway.example.test" is not an IP address or CIDR range'],
    ['a bad duration', { cooldown: '5 mins' }, 'cooldown: "5 mins" is not a duration (use e.g. 30s, 10m, 24h, 7d, or off)'],
    ['a bad sender', { senders: ['not an address'] }, 'senders.0: "not an address" is not a sender'],
    ['a plain-text password', { authorize: { smtp_auth: [{ user: 'u', password: 'secret' }] } }, 'plain-text passwords are refused'],
    ['a hash that is not one', { authorize: { smtp_auth: [{ user: 'u', password_hash: 'md5:abc' }] } }, 'authorize.smtp_auth.0.password_hash: is not a password hash'],
    ['an spf rule other than pass', { authorize: { spf: 'softfail' } }, 'authorize.spf:'],
    ['a purpose on an alert setup', { purpose: 'newsletter' }, 'purpose: only marketing setups have a purpose'],
    ['a marketing setup without purpose', { category: 'marketing', sender_name: '4520000000' }, 'purpose: a marketing setup needs a purpose'],
    ['a marketing setup with an alphanumeric sender and no opt_out_text', { category: 'marketing', purpose: 'news' }, 'opt_out_text: sender_name "Example" is alphanumeric, so recipients cannot reply STOP'],
    ['an undeclared purpose', { category: 'marketing', purpose: 'news', opt_out_text: 'Opt out: https://example.test/u' }, 'purpose: purpose "news" is not declared under consent.purposes'],
    ['a daily_limit of zero', { daily_limit: 0 }, 'daily_limit:'],
    ['a sending_window written as text', { sending_window: 'Mon-Fri 08:00-20:00' }, 'sending_window:'],
    ['a sending_window in an unknown zone', { sending_window: { timezone: 'Europe/Kobenhavn', days: 'mon-fri', hours: '08:00-20:00' } }, 'sending_window.timezone: "Europe/Kobenhavn" is not an IANA time zone'],
    ['forward_replies with an alphanumeric sender', { forward_replies: true }, 'forward_replies: sender_name "Example" is alphanumeric'],
    ['an empty allowed_countries', { allowed_countries: [] }, 'allowed_countries: is an empty list'],
    ['a bad country', { allowed_countries: ['DK', 'XY'] }, 'allowed_countries.1: is not an ISO 3166 country code'],
  ])('refuses %s with a clear reason, never ignoring it', (_name, extra, message) => {
    dirs = writeConfig({ setups: [alertsSetup(extra)] });
    expect(issuesOf(() => loadConfig(dirs!.configFile))).toContain(message);
  });

  it('hints in the main file too', () => {
    dirs = writeConfig({ main: { smtp: { listen: '127.0.0.1:0', max_recipient: 5 } } });
    expect(issuesOf(() => loadConfig(dirs!.configFile))).toMatch(/mail2sms\.yaml:\d+:\d+: smtp\.max_recipient: unknown key: did you mean `max_recipients`\?/);
  });

  it('reports a missing required field', () => {
    const setup = alertsSetup();
    delete setup.sender_name;
    dirs = writeConfig({ setups: [setup] });
    expect(issuesOf(() => loadConfig(dirs!.configFile))).toMatch(/alerts\.yaml:1:1: sender_name: is required/);
  });

  it('refuses a sender name providers would reject', () => {
    dirs = writeConfig({ setups: [alertsSetup({ sender_name: 'Example Corporation' })] });
    expect(issuesOf(() => loadConfig(dirs!.configFile))).toMatch(/sender_name: must be 3–11 letters/);
  });

  it('refuses a setup without any authorisation rule', () => {
    const setup = alertsSetup();
    delete setup.authorize;
    dirs = writeConfig({ setups: [setup] });
    expect(issuesOf(() => loadConfig(dirs!.configFile))).toMatch(/authorize: no authorisation rule/);
  });

  it('refuses a cut marker that is not a valid regular expression', () => {
    dirs = writeConfig({ setups: [alertsSetup({ cut_markers: ['Confidential', '/([unclosed/i'] })] });
    expect(issuesOf(() => loadConfig(dirs!.configFile))).toMatch(/alerts\.yaml:\d+:\d+: cut_markers\.1: "\/\(\[unclosed\/i" is not a valid regular expression/);
  });

  it('names both files when two setups claim the same sender', () => {
    dirs = writeConfig({ setups: [alertsSetup(), alertsSetup({ id: 'billing', senders: ['ops@x.test', 'example.test'] })] });
    const message = issuesOf(() => loadConfig(dirs!.configFile));
    expect(message).toContain('sender "example.test" is claimed by setup "alerts"');
    expect(message).toMatch(/alerts\.yaml\).*billing\.yaml/);
  });

  it('reports YAML syntax errors with a line', () => {
    dirs = writeConfig();
    writeFileSync(join(dirs.dir, 'setups', 'alerts.yaml'), 'id: alerts\nsenders: [example.test\ncooldown: 5m\n');
    expect(issuesOf(() => loadConfig(dirs!.configFile))).toMatch(/alerts\.yaml:\d+:\d+: YAML syntax/);
  });

  it('reports problems in the main file and in setups in one go', () => {
    dirs = writeConfig({ main: { sms_domains: ['not a domain'] } });
    const message = issuesOf(() => loadConfig(dirs!.configFile));
    expect(message).toMatch(/mail2sms\.yaml:\d+:\d+: sms_domains\.0: is not a domain name/);
  });

  it('matches senders: exact address beats domain beats *.domain', () => {
    dirs = writeConfig({
      setups: [
        alertsSetup({ id: 'exact', senders: ['boss@example.test'] }),
        alertsSetup({ id: 'domain', senders: ['example.test'] }),
        alertsSetup({ id: 'wild', senders: ['*.example.test'] }),
      ],
    });
    const config = loadConfig(dirs.configFile);
    const table: [string, string | undefined][] = [
      ['boss@example.test', 'exact'],
      ['Ops@Example.test', 'domain'],
      ['nagios@eu.example.test', 'wild'],
      ['x@a.b.example.test', 'wild'],
      ['x@example.test.evil', undefined],
      ['x@notexample.test', undefined],
    ];
    for (const [sender, setup] of table) expect([sender, config.senders.match(sender)?.setup.id]).toEqual([sender, setup]);
  });
});

describe('mail2sms check-config', () => {
  it('exits 0 and says OK for the example', async () => {
    const { stdout } = await run('node', ['bin/mail2sms.js', 'check-config', '--config', 'config/mail2sms.yaml']);
    expect(stdout).toMatch(/OK \(2 setup\(s\): alerts, newsletter\)/);
  });

  it('exits 78 with file:line: field on a bad setup, without a stack trace', async () => {
    dirs = writeConfig({ setups: [alertsSetup({ default_country: 'XX' })] });
    const error = await run('node', ['bin/mail2sms.js', 'check-config', '-c', dirs.configFile]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(error?.code).toBe(78);
    expect(error?.stderr).toMatch(/alerts\.yaml:\d+:1: default_country: is not an ISO 3166 country code/);
    expect(error?.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 78 when the config file does not exist', async () => {
    const error = await run('node', ['bin/mail2sms.js', 'check-config', '-c', '/nonexistent/mail2sms.yaml']).catch((e: { code: number; stderr: string }) => e);
    expect(error).toMatchObject({ code: 78 });
    expect((error as { stderr: string }).stderr).toContain('cannot read: ENOENT');
  });

  it('serve with a missing config file says so in one line, and nothing about a setups/ folder that happens to be there', async () => {
    const dirs = writeConfig({ setups: [{ ...alertsSetup(), default_country: 'XX' }] });
    try {
      // The mistyped file would sit next to a setups/ folder with an invalid setup in it.
      const error = await run('node', [resolve('bin/mail2sms.js'), 'serve', '-c', 'mail2sms.yml'], { cwd: dirs.dir }).catch((e: { code: number; stderr: string; stdout: string }) => e);
      expect(error).toMatchObject({ code: 78 });
      const said = (error as { stderr: string; stdout: string }).stderr + (error as { stdout: string }).stdout;
      expect(said).toBe('mail2sms: mail2sms.yml: cannot read: ENOENT (no such file); give the main config file with -c <file> or $MAIL2SMS_CONFIG\n');
    } finally {
      dirs.cleanup();
    }
  });

  it('exits 64 on an unknown command', async () => {
    const error = await run('node', ['bin/mail2sms.js', 'frobnicate']).catch((e: { code: number }) => e);
    expect(error).toMatchObject({ code: 64 });
  });
});

describe('JSON Schema for editors', () => {
  it('config/setup.schema.json is what `mail2sms schema` prints (never stale)', async () => {
    const { stdout } = await run('node', ['bin/mail2sms.js', 'schema']);
    expect(stdout).toBe(readFileSync('config/setup.schema.json', 'utf8'));
    const schema = JSON.parse(stdout) as { properties: Record<string, { description?: string }>; required: string[]; additionalProperties: boolean };
    expect(schema.required).toEqual(['id', 'senders', 'sender_name', 'default_country']);
    expect(schema.additionalProperties).toBe(false);
    for (const [key, property] of Object.entries(schema.properties)) expect([key, typeof property.description]).toEqual([key, 'string']);
  });

  it('the example setup points editors at it', () => {
    expect(readFileSync('config/setups/alerts.yaml', 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=../setup.schema.json');
  });
});
