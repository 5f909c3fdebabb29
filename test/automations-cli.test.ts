import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CliFailure } from '../src/cli/common.js';
import { buildProgram } from '../src/cli/main.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { createManualClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { startDaemon, type RunningDaemon } from '../src/daemon.js';
import { alertsSetup, simulatorMessages, waitFor, writeConfig, type TestDirs } from './helpers.js';

/* Automations as an admin meets them: YAML files checked with file, line and field; reload; the CLI. */

const run = promisify(execFile);
const CPH = 'Europe/Copenhagen';
const TEN = Date.UTC(2026, 5, 1, 8, 0);
const DAY = 86_400_000;
type Yaml = Record<string, unknown>;

const dirs: TestDirs[] = [];
const daemons: RunningDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  for (const d of dirs.splice(0)) d.cleanup();
});

function training(over: Yaml = {}): Yaml {
  return {
    id: 'training', title: 'Training is on', setup: 'club', schedule: { cron: '0 10 * * *', timezone: CPH },
    recipients: { group: 'members' }, text: 'Hi {{first_name}}, training at 18 tonight', catch_up: '1h', ...over,
  };
}

function clubConfig(automations: Yaml[], main: Yaml = {}, club: Yaml = {}): TestDirs {
  const d = writeConfig({
    setups: [alertsSetup(), alertsSetup({ id: 'club', senders: ['club.test'], sender_name: 'Club', cooldown: 'off', groups: ['members'], ...club })],
    main: { groups: { members: {} }, dispatch: { poll_interval: '50ms' }, ...main },
  });
  dirs.push(d);
  mkdirSync(join(d.dir, 'automations'), { recursive: true });
  for (const a of automations) writeAutomation(d, a);
  return d;
}
const writeAutomation = (d: TestDirs, a: Yaml) => writeFileSync(join(d.dir, 'automations', `${String(a.id)}.yaml`), stringify(a));

function issuesOf(d: TestDirs): string[] {
  try {
    loadConfig(d.configFile);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.file.split('/').pop()}:${i.line}: ${i.field}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('automation files', () => {
  it('an invalid cron, time zone, setup, group, where condition or key is an error with file, line and field', () => {
    const d = clubConfig([
      training({ schedule: { cron: '0 25 * * *', timezone: CPH } }),
      training({ id: 'zone', schedule: { cron: '0 10 * * *', timezone: 'Europe/Kopenhagen' } }),
      training({ id: 'names', setup: 'clubb', recipients: { group: 'membrs' } }),
      training({ id: 'where', recipients: { group: 'members', where: { renewal: { within: 'soon' } } } }),
      { ...training({ id: 'typo' }), catchup: '1h' },
    ]);
    expect(issuesOf(d)).toEqual([
      expect.stringMatching(/^names\.yaml:\d+: setup: no setup "clubb" \(setups: alerts, club\)$/),
      expect.stringMatching(/^names\.yaml:\d+: recipients\.group: group "membrs" is not declared under groups: \(declared: members; "all" is built in\)$/),
      expect.stringMatching(/^training\.yaml:\d+: schedule\.cron: "0 25 \* \* \*" is not a cron expression/),
      expect.stringMatching(/^typo\.yaml:\d+: catchup: unknown key: did you mean `catch_up`\?$/),
      expect.stringMatching(/^where\.yaml:\d+: recipients\.where\.renewal: must be a value, a list of values/),
      expect.stringMatching(/^zone\.yaml:\d+: schedule\.timezone: "Europe\/Kopenhagen" is not an IANA time zone/),
    ]);
  });

  it('check-config exits 78 on an invalid automation', async () => {
    const d = clubConfig([training({ schedule: { cron: 'every day', timezone: CPH } })]);
    const failed = await run(process.execPath, ['bin/mail2sms.js', 'check-config', '-c', d.configFile]).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 78 });
    expect((failed as { stderr: string }).stderr).toMatch(/training\.yaml:\d+:\d+: schedule\.cron:/);
  });

  it('reload picks up an added, a changed and a removed automation', async () => {
    const d = clubConfig([]);
    const clock = createManualClock(TEN - 60_000);
    const daemon = await startDaemon({ config: loadConfig(d.configFile), logger: createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) }), clock });
    daemons.push(daemon);
    await daemon.automations.tick();
    await daemon.ledger.importContacts('members', [{ id: 'a', number: '+4520100001', groups: ['members'], fields: { first_name: 'Anna' } }], false);
    const simUrl = `http://127.0.0.1:${daemon.ports.simulator}`;

    writeAutomation(d, training());
    expect((await daemon.reload()).ok).toBe(true);
    clock.set(TEN);
    await daemon.automations.tick();
    await waitFor(async () => (await simulatorMessages(simUrl)).length === 1, 'the added automation\'s run');

    writeAutomation(d, training({ text: 'Hi {{first_name}}, no training tonight' }));
    expect((await daemon.reload()).ok).toBe(true);
    clock.set(TEN + DAY);
    await daemon.automations.tick();
    await waitFor(async () => (await simulatorMessages(simUrl)).length === 2, 'the changed automation\'s run');

    rmSync(join(d.dir, 'automations', 'training.yaml'));
    expect((await daemon.reload()).ok).toBe(true);
    clock.set(TEN + 2 * DAY);
    await daemon.automations.tick();
    expect((await simulatorMessages(simUrl)).map((m) => m.text)).toEqual(['Hi Anna, training at 18 tonight', 'Hi Anna, no training tonight']);
    expect((await daemon.ledger.runHistory('training', 10)).map((r) => r.scheduledAt)).toEqual([TEN + DAY, TEN]);
  });
});

describe('mail2sms automations (CLI, SQLite)', () => {
  /** The CLI in this process (a node start per command is seconds on a loaded machine); `run` below is the real binary once. */
  async function cli(d: TestDirs, ...args: string[]): Promise<{ stdout: string; code: number; stderr: string }> {
    let stdout = '';
    let code = 0;
    const program = buildProgram((text) => (stdout += text), (exit) => (code = exit));
    try {
      await program.parseAsync(['node', 'mail2sms', ...args, '-c', d.configFile]);
    } catch (error) {
      if (error instanceof CliFailure) return { stdout, code: error.exitCode, stderr: error.message };
      throw error;
    }
    return { stdout, code, stderr: '' };
  }

  it('list, preview (writes nothing), run (again: already ran, nothing sent, exit 0), history; history <number> names the automation', async () => {
    const d = clubConfig([training()], {}, { merge_missing: 'skip' });
    await cli(d, 'migrate');
    writeFileSync(join(d.dir, 'members.csv'), 'id,number,groups,first_name\na,+4520100001,members,Anna\nb,+4520100002,members,\n');
    await cli(d, 'contacts', 'import', join(d.dir, 'members.csv'), '--source', 'members');

    const listed = JSON.parse((await cli(d, 'automations', 'list', '--json')).stdout) as { id: string; title: string; nextRunLocal: string; lastRun: unknown }[];
    expect(listed).toEqual([expect.objectContaining({ id: 'training', title: 'Training is on', lastRun: null })]);
    expect(listed[0]?.nextRunLocal).toMatch(/^\d{4}-\d\d-\d\d 10:00 Europe\/Copenhagen$/);

    const preview = JSON.parse((await cli(d, 'automations', 'preview', 'training', '--json')).stdout) as { recipients: { number: string; verdict: string; reason?: string; text: string }[] };
    expect(preview.recipients.map((r) => [r.number, r.verdict, r.reason])).toEqual([
      ['+4520100001', 'would send', undefined], ['+4520100002', 'suppressed', 'merge_field_missing'],
    ]);
    expect((await cli(d, 'automations', 'history', 'training')).stdout).toBe('training: no runs yet\n');

    const first = await run(process.execPath, ['bin/mail2sms.js', 'automations', 'run', 'training', '-c', d.configFile]);
    expect(first.stdout).toMatch(/^training at \d{4}-\d\d-\d\d 10:00 Europe\/Copenhagen: ran \(manual\) at \S+: 2 recipient\(s\), 1 queued, 1 suppressed {2}\[\w+\]\n$/);
    const again = await cli(d, 'automations', 'run', 'training');
    expect(again.stdout).toMatch(/already ran, nothing sent/);
    const history = JSON.parse((await cli(d, 'automations', 'history', 'training', '--json')).stdout) as { outcome: string; runBy: string; queued: number; suppressed: number }[];
    expect(history).toEqual([expect.objectContaining({ outcome: 'ran', runBy: 'manual', queued: 1, suppressed: 1 })]);
    expect((await cli(d, 'history', '+4520100001')).stdout).toContain('automation "Training is on" (training) via setup club');

    const notAnOccurrence = await cli(d, 'automations', 'run', 'training', '--at', '2026-06-01T08:01:00Z');
    expect(notAnOccurrence.code).toBe(65);
    expect(notAnOccurrence.stderr).toContain('is not an occurrence of "0 10 * * *" in Europe/Copenhagen; the nearest are 2026-06-01T08:00:00.000Z and 2026-06-02T08:00:00.000Z');
    expect((await cli(d, 'automations', 'preview', 'nope')).code).toBe(64);
    expect(again.code).toBe(0);
  });

  it('run --at a future occurrence is a preview (nothing sent or recorded) unless --now confirms it (issue 25 item 6)', async () => {
    const d = clubConfig([training()]);
    await cli(d, 'migrate');
    writeFileSync(join(d.dir, 'members.csv'), 'id,number,groups,first_name\na,+4520100001,members,Anna\n');
    await cli(d, 'contacts', 'import', join(d.dir, 'members.csv'), '--source', 'members');
    const [listed] = JSON.parse((await cli(d, 'automations', 'list', '--json')).stdout) as { nextRun: string; nextRunLocal: string }[];
    const next = listed?.nextRun as string;

    const previewed = await cli(d, 'automations', 'run', 'training', '--at', next);
    expect(previewed.code).toBe(0);
    expect(previewed.stdout).toBe(`training at ${listed?.nextRunLocal} is in the future: preview only, nothing sent or recorded; the scheduled run sends it then (pass --now to send it now instead)\n  1 recipient(s), 1 would be sent, 0 suppressed\n`);
    expect((await cli(d, 'automations', 'history', 'training')).stdout).toBe('training: no runs yet\n');
    expect((await cli(d, 'history', '+4520100001')).stdout).toBe('+4520100001: nothing recorded\n');

    const confirmed = await cli(d, 'automations', 'run', 'training', '--at', next, '--now');
    expect(confirmed.stdout).toMatch(/: ran \(manual\) at \S+: 1 recipient\(s\), 1 queued, 0 suppressed {2}\[\w+\]; sent ahead of its time \(--now\): the scheduled run at .* sends nothing\n$/);
    expect(JSON.parse((await cli(d, 'automations', 'history', 'training', '--json')).stdout)).toEqual([expect.objectContaining({ scheduledAt: next, runBy: 'manual' })]);
  });
});
