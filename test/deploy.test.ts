import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { writeConfig } from './helpers.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';
import { nodeAnyUserCanRun } from './process.js';

/*
 * The deployment files are part of the product: the unit, the example configs
 * for /etc/mail2sms and for the container, the Dockerfile and compose file.
 * These checks run in CI; systemd-analyze is on the CI machine image.
 */

const run = promisify(execFile);
const UNIT = 'contrib/systemd/mail2sms.service';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const SECRETS = { SMS_API_TOKEN: 'token-for-the-test', SMS_WEBHOOK_SECRET: 'webhook-secret-of-32-characters!', MAIL2SMS_RELAY_PASS: 'relay-password' };

function unitSettings(): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of readFileSync(UNIT, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) settings.set(match[1] as string, [...(settings.get(match[1] as string) ?? []), match[2] as string]);
  }
  return settings;
}

function withSecrets<T>(load: () => T): T {
  Object.assign(process.env, SECRETS);
  try {
    return load();
  } finally {
    for (const name of Object.keys(SECRETS)) delete process.env[name];
  }
}

const durationSeconds = (value: string) => Number(/^(\d+)s?$/.exec(value)?.[1] ?? NaN);

describe('systemd unit', () => {
  it('keeps the ledger private, is hardened, checks before start and waits for readiness', () => {
    const unit = unitSettings();
    expect(unit.get('UMask')).toEqual(['0027']);
    expect(unit.get('StateDirectoryMode')).toEqual(['0750']);
    // The pid file and reload answer: the config directory is read-only under ProtectSystem=strict.
    expect(unit.get('RuntimeDirectory')).toEqual(['mail2sms']);
    expect(unit.get('RuntimeDirectoryMode')).toEqual(['0750']);
    expect(unit.get('CapabilityBoundingSet')).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(unit.get('NoNewPrivileges')).toEqual(['true']);
    expect(unit.get('ProtectSystem')).toEqual(['strict']);
    expect(unit.get('Environment')?.[0]).toContain('MAIL2SMS_CONFIG=/etc/mail2sms/mail2sms.yaml');
    expect(unit.get('ExecStartPre')).toEqual(['/usr/bin/node /opt/mail2sms/bin/mail2sms.js check-config']);
    expect(unit.get('ExecStartPost')).toEqual(['/usr/bin/node /opt/mail2sms/bin/mail2sms.js health --wait 60s']);
  });

  it('stops within TimeoutStopSec: SMTP grace (10 s) plus the production shutdown_timeout', () => {
    const config = withSecrets(() => loadConfig('contrib/etc/mail2sms/mail2sms.yaml'));
    const stopSec = durationSeconds(unitSettings().get('TimeoutStopSec')?.[0] ?? '');
    expect(stopSec).toBeGreaterThan(10 + config.main.dispatch.shutdown_timeout / 1000);
  });

  it('systemd-analyze verify is clean and security --offline scores under 4', async () => {
    // The CI image has systemd-analyze; if a developer machine has none, the unit's directives above still hold.
    expect(existsSync(SYSTEMD_ANALYZE), `${SYSTEMD_ANALYZE} is part of the CI machine image`).toBe(true);
    const verify = await run(SYSTEMD_ANALYZE, ['verify', UNIT]);
    expect(verify.stderr).toBe('');
    const security = await run(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--no-pager', UNIT]);
    const score = Number(/Overall exposure level for mail2sms\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
    expect(score).toBeLessThan(4);
  });
});

describe('example configs', () => {
  it('an example automation through a marketing setup says which opt-in it needs, what happens without, and how to record it', () => {
    const config = loadConfig('config/mail2sms.yaml');
    const marketing = config.automations.filter((a) => config.setups.find((s) => s.id === a.setup)?.category === 'marketing');
    expect(marketing.map((a) => a.id)).toContain('birthday');
    for (const automation of marketing) {
      const purpose = config.setups.find((s) => s.id === automation.setup)?.purpose as string;
      const comments = readFileSync(automation.file, 'utf8').split('\n').filter((line) => line.includes('#')).join('\n');
      expect(comments).toContain(`purpose: ${purpose}`);
      expect(comments).toContain('no_consent');
      expect(comments).toContain(`mail2sms consent import optins.csv --purpose ${purpose}`);
      expect(comments).toContain(`mail2sms automations preview ${automation.id}`);
    }
  });

  it('the production example for /etc/mail2sms is valid, with a real provider and its secrets from the environment', () => {
    const config = withSecrets(() => loadConfig('contrib/etc/mail2sms/mail2sms.yaml'));
    expect(config.storagePath).toBe('/var/lib/mail2sms/mail2sms.db');
    expect(config.main.provider?.type).toBe('http');
    expect(config.main.provider?.type === 'http' && config.main.provider.auth?.bearer).toBe(SECRETS.SMS_API_TOKEN);
    expect(config.main.notify?.relay.auth?.pass).toBe(SECRETS.MAIL2SMS_RELAY_PASS);
    // Clients are other machines on a real network, not loopback.
    expect(config.setups.every((s) => s.authorize.ip?.every((range) => !range.text.startsWith('127.')))).toBe(true);
    expect(() => loadConfig('contrib/etc/mail2sms/mail2sms.yaml')).toThrow(/environment variable (SMS_API_TOKEN|MAIL2SMS_RELAY_PASS)/);
  });

  it('the container example listens on every address and admits Docker bridge networks', () => {
    const config = withSecrets(() => loadConfig('contrib/docker/mail2sms.yaml'));
    expect(config.main.smtp.listen.host).toBe('0.0.0.0');
    expect(config.main.http.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.setups.flatMap((s) => s.authorize.ip?.map((range) => range.text) ?? [])).toContain('172.16.0.0/12');
  });
});

describe('Dockerfile and compose', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');

  it('copies only what exists, installs with npm ci --omit=dev and puts the container example at /etc/mail2sms', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)].flatMap((m) => (m[1] as string).split(/\s+/));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) expect(existsSync(source), source).toBe(true);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev$/m);
    expect(dockerfile).toContain('COPY contrib/docker/mail2sms.yaml /etc/mail2sms/mail2sms.yaml');
    expect(dockerfile).toMatch(/^ENV .*MAIL2SMS_CONFIG=\/etc\/mail2sms\/mail2sms\.yaml/m);
  });

  it('HEALTHCHECK asks /healthz with node (no curl in the slim image) on the port of the container config', () => {
    const healthcheck = /^HEALTHCHECK .*\\\n\s+CMD (\[.*\])$/m.exec(dockerfile);
    expect(healthcheck).not.toBeNull();
    const [binary, flag, script] = JSON.parse(healthcheck?.[1] ?? '[]') as string[];
    expect([binary, flag]).toEqual(['node', '-e']);
    expect(() => new Function(script as string)).not.toThrow();
    expect(script).toContain('http://127.0.0.1:8080/healthz');
    const instructions = dockerfile.split('\n').filter((line) => !line.startsWith('#'));
    expect(instructions.filter((line) => /curl|wget/.test(line))).toEqual([]);
  });

  it('the compose stop grace covers the SMTP grace and shutdown_timeout', () => {
    const compose = parse(readFileSync('contrib/docker/compose.yaml', 'utf8')) as { services: { mail2sms: { stop_grace_period: string } } };
    const config = withSecrets(() => loadConfig('contrib/docker/mail2sms.yaml'));
    expect(durationSeconds(compose.services.mail2sms.stop_grace_period)).toBeGreaterThan(10 + config.main.dispatch.shutdown_timeout / 1000);
  });
});

describe('production install', () => {
  it('npm ci --omit=dev can build: the compiler and the types the build reads are regular dependencies', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> };
    const tsconfig = JSON.parse(readFileSync('tsconfig.json', 'utf8')) as { compilerOptions: { types: string[] } };
    expect(pkg.scripts.prepare).toBe('npm run build');
    // Without dev dependencies the build compiles src/ only: bench/ imports dev tools.
    const prod = JSON.parse(readFileSync('tsconfig.prod.json', 'utf8')) as { include: string[] };
    expect(prod.include).toEqual(['src/**/*.ts']);
    expect(pkg.dependencies).toHaveProperty('typescript');
    for (const types of tsconfig.compilerOptions.types) expect(pkg.dependencies).toHaveProperty(`@types/${types}`);
    // Packages src/ imports that ship no types of their own.
    for (const name of ['better-sqlite3', 'html-to-text', 'mailparser', 'nodemailer', 'smtp-server']) expect(pkg.dependencies).toHaveProperty(`@types/${name}`);
  });

  it('npm start builds only when a source changed (scripts/build-if-stale.mjs in a scratch project)', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prestart).toBe('node scripts/build-if-stale.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'mail2sms-stale-'));
    try {
      cpSync('scripts', join(dir, 'scripts'), { recursive: true });
      mkdirSync(join(dir, 'src'));
      mkdirSync(join(dir, 'dist'));
      writeFileSync(join(dir, 'src', 'a.ts'), 'export {};\n');
      // A stand-in for scripts/build.mjs that counts its runs and stamps like it.
      const build = `node -e "const fs = require('fs'); fs.appendFileSync('builds.txt', 'x'); fs.writeFileSync('dist/.build-stamp', 'x')"`;
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true, scripts: { build } }));
      const builds = () => (existsSync(join(dir, 'builds.txt')) ? readFileSync(join(dir, 'builds.txt'), 'utf8').length : 0);
      const prestart = () => run(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: dir });
      await prestart();
      expect(builds()).toBe(1);
      await prestart();
      expect(builds()).toBe(1);
      const later = new Date(Date.now() + 5_000);
      utimesSync(join(dir, 'src', 'a.ts'), later, later);
      await prestart();
      expect(builds()).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/*
 * The install as the unit lays it out, run as an unprivileged user (nobody):
 * the config directory 0750 root:<the user's group>, so readable and not
 * writable; the state directory (WorkingDirectory) and the runtime directory
 * ($RUNTIME_DIRECTORY, systemd's RuntimeDirectory=) owned by the user; the
 * ledger on PostgreSQL, which has no directory of its own. Needs root to
 * change user (CI runs as root); skipped elsewhere.
 */
const asRoot = process.getuid?.() === 0;
describe.runIf(asRoot)('the unit layout as an unprivileged user, ledger on PostgreSQL', () => {
  let server: TestPostgres;
  const cleanups: (() => void)[] = [];
  const nobody = { uid: 65534, gid: 65534 };
  let node: string;
  beforeAll(async () => {
    server = await startTestPostgres();
    const runnable = nodeAnyUserCanRun();
    cleanups.push(runnable.cleanup);
    node = runnable.path;
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) cleanup();
    await server?.stop();
  });

  /** Runs the CLI as nobody; resolves with its exit code and output. */
  function asService(args: string[], options: { cwd: string; env: Record<string, string> }) {
    const child = spawn(node, [resolve('bin/mail2sms.js'), ...args], { ...nobody, cwd: options.cwd, env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
    createInterface({ input: child.stderr }).on('line', (line) => lines.push(line));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    return { child, lines, exited };
  }

  it('check-config, serve, reload and stop work with the runtime directory; without it check-config names runtime_dir', async () => {
    const url = await server.createDatabase();
    const etc = writeConfig({ main: { storage: { type: 'postgres', url, pool: 2 } } });
    cleanups.push(() => etc.cleanup());
    chownSync(etc.dir, 0, nobody.gid);
    chmodSync(etc.dir, 0o750);
    const state = scratchDir(0o750, cleanups, nobody);
    const runtime = scratchDir(0o750, cleanups, nobody);
    const env = { MAIL2SMS_CONFIG: etc.configFile, RUNTIME_DIRECTORY: runtime };
    await run(process.execPath, ['bin/mail2sms.js', 'migrate', '-c', etc.configFile]);

    // As the admin's wrapper runs it from /etc/mail2sms: the working directory is not writable either.
    const check = asService(['check-config'], { cwd: etc.dir, env });
    expect(await check.exited, check.lines.join('\n')).toBe(0);
    expect(check.lines.join('\n')).toMatch(/OK/);

    const daemon = asService(['serve'], { cwd: state, env });
    try {
      await waitForLine(daemon, /"msg":"mail2sms ready"/);
      expect(readFileSync(join(runtime, 'mail2sms.pid'), 'utf8').trim()).toBe(String(daemon.child.pid));
      const reload = asService(['reload'], { cwd: state, env });
      expect(await reload.exited, reload.lines.join('\n')).toBe(0);
      expect(reload.lines.join('\n')).toContain('reloaded: every change applies to new sessions');
    } finally {
      daemon.child.kill('SIGTERM');
    }
    expect(await daemon.exited, daemon.lines.join('\n')).toBe(0);
    expect(existsSync(join(runtime, 'mail2sms.pid'))).toBe(false);

    // Outside the unit, with nowhere writable: one line about runtime_dir, none about storage.path (PostgreSQL has none).
    const { RUNTIME_DIRECTORY: _unset, ...outside } = env;
    const failed = asService(['check-config'], { cwd: etc.dir, env: outside });
    expect(await failed.exited).toBe(78);
    const said = failed.lines.join('\n');
    expect(said).toMatch(/runtime_dir: cannot create the pid file in .*not writable by this user \(uid 65534\)/);
    expect(said).not.toContain('storage.path');
  });
});

function scratchDir(mode: number, cleanups: (() => void)[], owner?: { uid: number; gid: number }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-unit-'));
  chmodSync(dir, mode);
  if (owner) chownSync(dir, owner.uid, owner.gid);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function waitForLine(proc: { lines: string[]; exited: Promise<number | null> }, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  return new Promise((done, fail) => {
    const timer = setInterval(() => {
      if (proc.lines.some((line) => pattern.test(line))) finish(done);
    }, 50);
    const limit = setTimeout(() => finish(() => fail(new Error(`no ${pattern} within ${timeoutMs} ms:\n${proc.lines.join('\n')}`))), timeoutMs);
    void proc.exited.then((code) => finish(() => fail(new Error(`exited (${code}) before ${pattern}:\n${proc.lines.join('\n')}`))));
    function finish(then: () => void) {
      clearInterval(timer);
      clearTimeout(limit);
      then();
    }
  });
}
