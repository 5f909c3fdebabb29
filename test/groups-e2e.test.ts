import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, queueIdOf, sendMail, simulatorMessages, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Contacts, groups and mail merge end to end: a real daemon, SMTP over TCP,
 * the simulator, the CLI and PUT /contacts on the same ledger file.
 */

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args], { cwd: process.cwd() });
const TOKEN = 'test-token-for-the-members-system-0123456789';
const NEWS_SENDER = '4570000001';

let dirs: TestDirs;
let t: TestDaemon;
let httpUrl: string;

const MEMBERS = [
  'id,number,groups,first_name,team,status',
  'p1,+4520100001,board,Anna,U14,active',
  'p2,+4520100002,board,Bo,,active',
  'p3,+4520100003,,Carl,U14,',
  'p4,+4520100003,,Carla,U14,',
  'p5,+4520100005,,,u14 ,',
  'p6,+4520100006,,Dora,A,active',
  'p7,+4520100007,,Eve,B,inactive',
  'p8,+4520100008,long-names,Maximiliana-Konstantina-Alexandra,,',
].join('\n');

beforeAll(async () => {
  dirs = writeConfig({
    main: {
      smtp: { listen: '127.0.0.1:0', hostname: 'mail2sms.test', max_message_size: '64KB', max_recipients: 5 },
      http: { listen: '127.0.0.1:0', tokens: [{ name: 'members-system', sha256: createHash('sha256').update(TOKEN).digest('hex') }] },
      consent: { purposes: { newsletter: {} } },
      groups: {
        board: {},
        'long-names': {},
        'u14-parents': { where: { team: 'U14' } },
        seniors: { where: { team: ['A', 'B'], status: 'active' } },
      },
    },
    setups: [
      alertsSetup({ id: 'club', senders: ['club.test'], cooldown: 'off', groups: ['board', 'u14-parents', 'seniors'] }),
      alertsSetup({ id: 'skipper', senders: ['skip.test'], cooldown: 'off', groups: ['u14-parents'], merge_missing: 'skip' }),
      alertsSetup({ id: 'short', senders: ['short.test'], cooldown: 'off', groups: ['board', 'long-names'], max_segments: 1 }),
      alertsSetup({ id: 'small', senders: ['small.test'], cooldown: 'off', groups: ['all'], max_group_size: 2 }),
      alertsSetup({ id: 'news', senders: ['news.test'], cooldown: 'off', groups: ['all'], category: 'marketing', purpose: 'newsletter', sender_name: NEWS_SENDER }),
    ],
  });
  t = await startTestDaemon(dirs);
  httpUrl = `http://127.0.0.1:${t.daemon.ports.http}`;
  const file = join(dirs.dir, 'members.csv');
  writeFileSync(file, MEMBERS);
  const imported = await cli('contacts', 'import', file, '--source', 'members', '-c', dirs.configFile);
  expect(imported.stdout).toBe('source members: 8 added, 0 updated, 0 unchanged\n');
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

let serial = 0;
function mail(from: string, to: string | string[], text: string) {
  serial++;
  return sendMail({ port: t.smtpPort, from, to, text, subject: 'Club', messageId: `<club-${serial}-${Date.now()}@club.test>` });
}

/** The SMS the simulator got whose text contains `tag`, by number. */
async function smsWith(tag: string, count: number): Promise<Map<string, string>> {
  const found = await waitFor(async () => {
    const messages = (await simulatorMessages(t.simUrl)).filter((m) => m.text.includes(tag));
    return messages.length >= count ? messages : undefined;
  }, `${count} SMS with "${tag}"`);
  return new Map(found.map((m) => [m.to, m.text]));
}

function outboxRows(queueId: string): { recipient: string; status: string; reason: string | null; via_groups: string | null; sms_text: string | null; segments: number | null }[] {
  const db = new Database(dirs.dbFile, { readonly: true });
  try {
    return db.prepare('SELECT recipient, status, reason, via_groups, sms_text, segments FROM outbox WHERE message_id = ? ORDER BY id').all(queueId) as never;
  } finally {
    db.close();
  }
}

describe('groups at RCPT TO', () => {
  it('a fixed group reaches each member once, and the 250 gives the counts', async () => {
    const result = await mail('coach@club.test', 'board@sms.example.test', 'Board meeting at 19 [fixed]');
    expect(result.response).toMatch(/^250 2\.0\.0 Queued as \w+; 2 of 2 recipients$/);
    const sms = await smsWith('[fixed]', 2);
    expect([...sms.keys()].sort()).toEqual(['+4520100001', '+4520100002']);
    expect(outboxRows(queueIdOf(result.response)).map((r) => r.via_groups)).toEqual(['board', 'board']);
  });

  it('a dynamic group is evaluated when the mail arrives: fields match trimmed and in any case; a list means any of', async () => {
    const u14 = await mail('coach@club.test', 'u14-parents@sms.example.test', 'No training tonight [dynamic]');
    expect(u14.response).toMatch(/; 3 of 3 recipients$/);
    expect([...(await smsWith('[dynamic]', 3)).keys()].sort()).toEqual(['+4520100001', '+4520100003', '+4520100005']);
    const seniors = await mail('coach@club.test', 'seniors@sms.example.test', 'Seniors: match moved [any-of]');
    expect(seniors.response).toMatch(/; 1 of 1 recipients$/);
    expect([...(await smsWith('[any-of]', 1)).keys()]).toEqual(['+4520100006']);
  });

  it('groups and numbers mixed: a number reached several ways gets one SMS', async () => {
    const result = await mail('coach@club.test', ['board@sms.example.test', '+4520100001@sms.example.test', 'u14-parents@sms.example.test'], 'Hall closed [mixed]');
    expect(result.response).toMatch(/; 4 of 4 recipients$/);
    await smsWith('[mixed]', 4);
    const all = (await simulatorMessages(t.simUrl)).filter((m) => m.text.includes('[mixed]'));
    expect(all.map((m) => m.to).sort()).toEqual(['+4520100001', '+4520100002', '+4520100003', '+4520100005']);
    const rows = outboxRows(queueIdOf(result.response));
    expect(rows.find((r) => r.recipient === '+4520100001')?.via_groups).toBe('board,u14-parents');
  });

  it('refuses an unknown group, a group the setup may not address, and one over max_group_size', async () => {
    const unknown = await mail('coach@club.test', 'boad@sms.example.test', 'x');
    expect(unknown.response).toMatch(/^550 5\.1\.1 No group "boad" here; this sender may address board, u14-parents, seniors/);
    const notAllowed = await mail('coach@club.test', 'all@sms.example.test', 'x');
    expect(notAllowed.response).toMatch(/^550 5\.7\.1 Group "all" may not be addressed by this sender/);
    const tooLarge = await mail('coach@small.test', 'all@sms.example.test', 'x');
    expect(tooLarge.response).toMatch(/^550 5\.5\.3 Group "all" has 7 members; this sender may address groups of at most 2/);
  });
});

describe('mail merge', () => {
  it('fills each recipient\'s fields, the default where a field is missing, and number always', async () => {
    const result = await mail('coach@club.test', 'u14-parents@sms.example.test', 'Hi {{first_name | default: "there"}}, no training tonight ({{number}}) [filled]');
    expect(result.response).toMatch(/; 3 of 3 recipients$/);
    const sms = await smsWith('[filled]', 3);
    expect(sms.get('+4520100001')).toBe('Hi Anna, no training tonight (+4520100001) [filled]');
    expect(sms.get('+4520100003')).toBe('Hi Carl, no training tonight (+4520100003) [filled]'); // the first contact with the number
    expect(sms.get('+4520100005')).toBe('Hi there, no training tonight (+4520100005) [filled]');
    const rows = outboxRows(queueIdOf(result.response));
    expect(rows.every((r) => r.sms_text !== null && r.segments === 1)).toBe(true);
  });

  it('merge_missing reject: the whole mail is refused, naming the field and how many lack it', async () => {
    const result = await mail('coach@club.test', ['u14-parents@sms.example.test', '+4520100099@sms.example.test'], 'Hi {{first_name}} [reject]');
    expect(result.response).toMatch(/^550 5\.6\.0 Merge field \{\{first_name\}\} missing for 2 of 4 recipients/);
  });

  it('merge_missing skip: that recipient is suppressed merge_field_missing, the others get it', async () => {
    const result = await mail('coach@skip.test', 'u14-parents@sms.example.test', 'Hi {{first_name}} [skip]');
    expect(result.response).toMatch(/; 2 of 3 recipients, 1 suppressed \(merge_field_missing\)$/);
    await smsWith('[skip]', 2);
    const skipped = outboxRows(queueIdOf(result.response)).find((r) => r.recipient === '+4520100005');
    expect(skipped).toMatchObject({ status: 'suppressed', reason: 'merge_field_missing' });
    const history = await cli('history', '+4520100005', '-c', dirs.configFile);
    expect(history.stdout).toContain('to group u14-parents: suppressed (merge_field_missing)');
  }, 120_000);

  it('an unknown filter or unbalanced braces is refused, naming it; a value is never read as a placeholder', async () => {
    expect((await mail('coach@club.test', 'board@sms.example.test', 'Hi {{first_name | upcase}}')).response).toMatch(/^550 5\.6\.0 Merge fields: \{\{first_name \| upcase\}\}: unknown filter "upcase"/);
    expect((await mail('coach@club.test', 'board@sms.example.test', 'Hi {{first_name, see you')).response).toMatch(/^550 5\.6\.0 Merge fields: unbalanced braces/);
    const file = join(dirs.dir, 'tricky.csv');
    writeFileSync(file, 'id,number,first_name\nt1,+4520100030,{{number}}\n');
    await cli('contacts', 'import', file, '--source', 'tricky', '-c', dirs.configFile);
    const result = await mail('coach@club.test', '+4520100030@sms.example.test', 'Hi {{first_name}} [literal]');
    expect(result.response).toMatch(/^250 /);
    expect((await smsWith('[literal]', 1)).get('+4520100030')).toBe('Hi {{number}} [literal]');
  });

  it('max_segments applies per recipient: the reply names the longest', async () => {
    const pad = 'x'.repeat(130);
    const result = await mail('coach@short.test', ['board@sms.example.test', 'long-names@sms.example.test'], `Hi {{first_name}} ${pad}`);
    expect(result.response).toMatch(/^550 5\.3\.4 The longest SMS \(to \+4520100008\) would be 2 segments; this sender's limit is 1/);
    const fits = await mail('coach@short.test', 'board@sms.example.test', `Hi {{first_name}} ${pad} [fits]`);
    expect(fits.response).toMatch(/; 2 of 2 recipients$/);
  });
});

describe('the same ledger rules for every member', () => {
  it('a member who opted out is suppressed and counted', async () => {
    await cli('consent', 'revoke', '+4520100002', '--source', 'phone', '-c', dirs.configFile);
    const result = await mail('coach@club.test', 'board@sms.example.test', 'Board: agenda [opted-out]');
    expect(result.response).toMatch(/; 1 of 2 recipients, 1 suppressed \(opted_out\)$/);
    expect([...(await smsWith('[opted-out]', 1)).keys()]).toEqual(['+4520100001']);
    await cli('consent', 'set', '+4520100002', '--source', 'phone', '-c', dirs.configFile);
  }, 120_000);

  it('a marketing group: only members opted in to the purpose get it', async () => {
    await cli('consent', 'set', '+4520100006', '--purpose', 'newsletter', '--source', 'web form', '-c', dirs.configFile);
    const result = await mail('club@news.test', 'all@sms.example.test', 'Club shop sale [marketing]');
    expect(result.response).toMatch(/; 1 of 8 recipients, 7 suppressed \(no_consent\)$/);
    const sms = await smsWith('[marketing]', 1);
    expect([...sms.keys()]).toEqual(['+4520100006']);
    expect(sms.get('+4520100006')).toContain('Reply STOP to opt out');
  });
});

describe('contacts import', () => {
  it('reports every bad row as file:line and imports nothing (exit 65)', async () => {
    const file = join(dirs.dir, 'bad.csv');
    writeFileSync(file, ['id,number,groups,first_name', 'b1,+4520100040,board,Ok', 'b2,not-a-number,,X', 'b3,+4520100041,boad,Y', 'b1,+4520100042,,Z', 'b5,+4520100043,u14-parents,W'].join('\n'));
    const failed = await cli('contacts', 'import', file, '-c', dirs.configFile).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 65 });
    const stderr = (failed as { stderr: string }).stderr;
    expect(stderr).toContain('4 invalid row(s); nothing was imported');
    expect(stderr).toContain(`${file}:3: number: "not-a-number" is not a phone number`);
    expect(stderr).toContain(`${file}:4: groups: unknown group "boad"`);
    expect(stderr).toContain(`${file}:5: duplicate id "b1" (first on line 2)`);
    expect(stderr).toContain(`${file}:6: groups: "u14-parents" is a dynamic group`);
    await expect(cli('contacts', 'show', 'b1', '-c', dirs.configFile)).rejects.toMatchObject({ code: 65 });
  }, 120_000);

  it('a duplicate id is found when its first row has another problem too (issue 25 item 13)', async () => {
    const file = join(dirs.dir, 'twins.csv');
    writeFileSync(file, ['id,number,groups', 'c1,+4520100044,boad', 'c1,+4520100045,board', ',+4520100046,nope', ',+4520100046,board'].join('\n'));
    const failed = await cli('contacts', 'import', file, '-c', dirs.configFile).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 65 });
    const stderr = (failed as { stderr: string }).stderr;
    expect(stderr).toContain('4 invalid row(s); nothing was imported');
    expect(stderr).toContain(`${file}:2: groups: unknown group "boad"`);
    expect(stderr).toContain(`${file}:3: duplicate id "c1" (first on line 2)`);
    expect(stderr).toContain(`${file}:4: groups: unknown group "nope"`);
    expect(stderr).toContain(`${file}:5: duplicate id "+4520100046" (first on line 4); without an id column the number is the id`);
  }, 120_000);

  it('--replace makes the file the whole truth for its source, and leaves other sources and consent alone', async () => {
    const file = join(dirs.dir, 'staff.csv');
    writeFileSync(file, 'number,first_name\n+4520100050,Sam\n+4520100051,Tove\n');
    expect((await cli('contacts', 'import', file, '--source', 'staff', '-c', dirs.configFile)).stdout).toBe('source staff: 2 added, 0 updated, 0 unchanged\n');
    await cli('consent', 'revoke', '+4520100051', '--source', 'phone', '-c', dirs.configFile);
    writeFileSync(file, 'number,first_name\n+4520100050,Samuel\n');
    expect((await cli('contacts', 'import', file, '--source', 'staff', '--replace', '-c', dirs.configFile)).stdout).toBe('source staff: 0 added, 1 updated, 0 unchanged, 1 removed\n');
    expect((await cli('contacts', 'show', '+4520100050', '-c', dirs.configFile)).stdout).toContain('first_name: Samuel');
    await expect(cli('contacts', 'show', '+4520100051', '-c', dirs.configFile)).rejects.toMatchObject({ code: 65 });
    expect((await cli('consent', 'show', '+4520100051', '-c', dirs.configFile)).stdout).toContain('OPTED OUT');
    expect((await cli('contacts', 'show', 'p1', '-c', dirs.configFile)).stdout).toContain('source members');
    const exported = (await cli('contacts', 'export', '-c', dirs.configFile)).stdout;
    expect(exported.split('\r\n')[0]).toBe('source,id,number,groups,first_name,status,team');
    expect(exported).toContain('staff,+4520100050,+4520100050,,Samuel,,');
  }, 240_000);

  it('groups list and show count and list the members, numbers masked unless --full', async () => {
    const list = JSON.parse((await cli('groups', 'list', '--json', '-c', dirs.configFile)).stdout) as { name: string; members: number }[];
    expect(list.find((g) => g.name === 'u14-parents')?.members).toBe(3);
    expect(list.find((g) => g.name === 'board')?.members).toBe(2);
    const shown = (await cli('groups', 'show', 'board', '-c', dirs.configFile)).stdout;
    expect(shown).toContain('board: 2 member(s)');
    expect(shown).not.toContain('+4520100001');
    expect((await cli('groups', 'show', 'board', '--full', '-c', dirs.configFile)).stdout).toContain('+4520100001');
  }, 180_000);
});

describe('PUT /contacts', () => {
  const put = (body: string, query: string, headers: Record<string, string> = {}) =>
    fetch(`${httpUrl}/contacts${query}`, { method: 'PUT', headers: { 'content-type': 'text/csv', authorization: `Bearer ${TOKEN}`, ...headers }, body });

  it('syncs one source in full with the bearer token; refuses without it and lists bad rows by line', async () => {
    expect((await put('number\n+4520100060\n', '?source=parents', { authorization: 'Bearer wrong' })).status).toBe(401);
    const first = await put('number,first_name,groups\n+4520100060,Uma,board\n+4520100061,Vic,\n', '?source=parents');
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ source: 'parents', added: 2, removed: 0 });
    const second = await fetch(`${httpUrl}/contacts?source=parents`, {
      method: 'PUT',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` },
      body: '{"number":"+4520100061","first_name":"Victor"}\n',
    });
    expect(await second.json()).toMatchObject({ added: 0, updated: 1, removed: 1 });
    const bad = await put('number\n+4520100062\nnope\n', '?source=parents');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errors: [{ line: 3 }] });
    expect((await cli('contacts', 'show', '+4520100061', '-c', dirs.configFile)).stdout).toContain('first_name: Victor');
  });
});
