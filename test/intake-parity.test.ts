import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { explainMail } from '../src/cli/explain.js';
import { sqliteReadOnlyLedger } from '../src/ledger/sqlite/read-only.js';
import { createContactStore } from '../src/ledger/sqlite/contacts.js';
import { alertsSetup, sendMail, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * One intake decision: every case goes over real SMTP to a running daemon and
 * through `explain`, and both must give the same answer (code, enhanced code
 * and reason; references and queue ids aside). They once drifted: explain said
 * "would send" for a mail the daemon refused as one of its own notifications.
 */

const today = new Date().toISOString().slice(0, 10);
const inAnHour = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const tomorrow = new Date(Date.parse(today) + 86_400_000).toISOString().replace('.000Z', 'Z');
let dirs: TestDirs;
let t: TestDaemon;

beforeAll(async () => {
  dirs = writeConfig({
    setups: [
      alertsSetup({ cooldown: 'off' }),
      alertsSetup({ id: 'remote', senders: ['noc@remote.test'], authorize: { ip: ['192.0.2.0/24'] } }),
      alertsSetup({ id: 'short', senders: ['pager@short.test'], max_segments: 1 }),
      alertsSetup({ id: 'danish', senders: ['dk@danish.test'], allowed_countries: ['DK'] }),
      // Closed all of today (a holiday), open from tomorrow 00:00 in UTC.
      alertsSetup({ id: 'closed', senders: ['night@closed.test'], sending_window: { timezone: 'UTC', days: 'mon-sun', hours: '00:00-24:00', holidays: [today] } }),
      alertsSetup({ id: 'closed-short', senders: ['night@short.test'], max_age: '1h', sending_window: { timezone: 'UTC', days: 'mon-sun', hours: '00:00-24:00', holidays: [today] } }),
    ],
  });
  t = await startTestDaemon(dirs);
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

interface Case {
  name: string;
  from: string;
  to: string;
  body?: string;
  headers?: string[];
  /** What both must answer (a prefix of the reply). */
  expected: string;
}

let serial = 0;
function rawMail(c: Case): string {
  serial++;
  const headers = [`From: ${c.from || 'mailer-daemon@example.test'}`, `To: ${c.to}`, 'Subject: Parity', `Message-ID: <parity-${serial}-${Date.now()}@example.test>`, ...(c.headers ?? [])];
  return `${headers.join('\r\n')}\r\n\r\n${c.body ?? 'Disk full on db1'}\r\n`;
}

/** The reply without what differs per run: the [ref …] and the queue id. */
const comparable = (reply: string) => reply.replace(/ \[ref [^\]]+\]/, '').replace(/Queued as [^;\s]+/, 'Queued as <id>').replace(/^(\d{3})[ -]/, '$1 ');

const cases: Case[] = [
  { name: 'a plain alert is queued', from: 'ops@example.test', to: '+4520123456@sms.example.test', expected: '250 2.0.0 Queued as' },
  { name: 'an unknown sender', from: 'eve@evil.test', to: '+4520123456@sms.example.test', expected: '550 5.7.1 Sender <eve@evil.test> is not allowed' },
  { name: 'a sender from a network its setup does not list', from: 'noc@remote.test', to: '+4520123456@sms.example.test', expected: '550 5.7.1 Sender <noc@remote.test> is not authorised' },
  { name: 'relaying', from: 'ops@example.test', to: 'someone@gmail.com', expected: '550 5.7.1 Relaying denied' },
  { name: 'a local part that is no number', from: 'ops@example.test', to: 'not-a-number@sms.example.test', expected: '550 5.1.3' },
  { name: 'a country the setup does not allow', from: 'dk@danish.test', to: '+4915112345678@sms.example.test', expected: '550 5.7.1 +4915112345678 is in DE' },
  { name: 'no text', from: 'ops@example.test', to: '+4520123457@sms.example.test', body: '  ', expected: '550 5.6.0 The message has no text' },
  { name: 'only a subject, with text: body', from: 'ops@example.test', to: '+4520123466@sms.example.test', body: '', expected: '550 5.6.0 The message has no text to send as SMS (attachments are not sent); the mail has only a subject: set "text: subject+body" in setup alerts to send it' },
  { name: 'too many segments', from: 'pager@short.test', to: '+4520123458@sms.example.test', body: 'Disk full. '.repeat(20), expected: '550 5.3.4 The SMS would be 2 segments' },
  { name: 'a malformed X-SMS-Send-At', from: 'ops@example.test', to: '+4520123459@sms.example.test', headers: ['X-SMS-Send-At: tomorrow-ish'], expected: '554 5.6.0' },
  { name: 'one of our own notifications coming back', from: 'ops@example.test', to: '+4520123460@sms.example.test', headers: ['X-Mail2sms-Notification: report'], expected: '550 5.7.1 This mail is a mail2sms notification' },
  { name: 'a vacation auto-reply', from: 'ops@example.test', to: '+4520123461@sms.example.test', headers: ['Auto-Submitted: auto-replied'], expected: '250 2.0.0 Auto-reply accepted and discarded' },
  { name: 'a bounce (null sender)', from: '', to: '+4520123462@sms.example.test', expected: '250 2.0.0 Bounce accepted and discarded' },
  { name: 'a scheduled SMS says when', from: 'ops@example.test', to: '+4520123463@sms.example.test', headers: [`X-SMS-Send-At: ${inAnHour}`], expected: `250 2.0.0 Queued as <id>; scheduled for ${inAnHour}` },
  { name: 'an SMS outside its sending window says when it goes', from: 'night@closed.test', to: '+4520123464@sms.example.test', expected: `250 2.0.0 Queued as <id>; deferred to ${tomorrow} (sending window)` },
  { name: 'an SMS whose max_age runs out before the window opens is warned about', from: 'night@short.test', to: '+4520123465@sms.example.test', expected: `250 2.0.0 Queued as <id>; WARNING: outside the sending window, which opens ${tomorrow}; max_age expires it at` },
  { name: 'mail for postmaster only', from: 'ops@example.test', to: 'postmaster@sms.example.test', expected: '250 2.0.0 Accepted for postmaster' },
];

describe('the daemon and explain give the same answer', () => {
  it.each(cases)('$name', async (c) => {
    const raw = rawMail(c);
    const smtp = await sendMail({ port: t.smtpPort, from: c.from, to: c.to, raw, envelope: { from: c.from || false, to: [c.to] } });
    const report = await explainMail(t.config, Buffer.from(raw), { from: c.from, to: [c.to], ip: '127.0.0.1', now: Date.now() });
    expect(comparable(smtp.response)).toMatch(new RegExp(`^${c.expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(comparable(report.reply ?? '')).toBe(comparable(smtp.response));
    expect(report.refused ?? false).toBe(!smtp.response.startsWith('250'));
  });
});

/*
 * Groups and merge fields: the members come from the ledger at RCPT TO in the
 * daemon and from a read of the same file in explain; both must agree.
 */
describe('with groups, the daemon and explain give the same answer', () => {
  let groupDirs: TestDirs;
  let g: TestDaemon;
  beforeAll(async () => {
    groupDirs = writeConfig({
      main: { groups: { board: {}, 'u14-parents': { where: { team: 'U14' } } } },
      setups: [
        alertsSetup({ cooldown: 'off', groups: ['board', 'u14-parents'] }),
        alertsSetup({ id: 'small', senders: ['small.test'], cooldown: 'off', groups: ['all'], max_group_size: 1 }),
      ],
    });
    g = await startTestDaemon(groupDirs);
    const db = new Database(groupDirs.dbFile);
    createContactStore(db).importContacts('members', [
      { id: 'a', number: '+4520200001', groups: ['board'], fields: { first_name: 'Anna', team: 'U14' } },
      { id: 'b', number: '+4520200002', groups: ['board'], fields: { team: 'U14' } },
    ], false, Date.now());
    db.close();
  });
  afterAll(async () => {
    await g?.stop();
    groupDirs?.cleanup();
  });

  const groupCases: Case[] = [
    { name: 'a fixed group is queued with the counts', from: 'ops@example.test', to: 'board@sms.example.test', expected: '250 2.0.0 Queued as <id>; 2 of 2 recipients' },
    { name: 'merge fields filled, with a default', from: 'ops@example.test', to: 'u14-parents@sms.example.test', body: 'Hi {{first_name | default: "there"}}', expected: '250 2.0.0 Queued as <id>; 2 of 2 recipients' },
    { name: 'a merge field a member lacks (reject)', from: 'ops@example.test', to: 'u14-parents@sms.example.test', body: 'Hi {{first_name}}', expected: '550 5.6.0 Merge field {{first_name}} missing for 1 of 2 recipients' },
    { name: 'an unknown filter', from: 'ops@example.test', to: 'board@sms.example.test', body: 'Hi {{first_name | shout}}', expected: '550 5.6.0 Merge fields: {{first_name | shout}}: unknown filter "shout"' },
    { name: 'an unknown group', from: 'ops@example.test', to: 'boad@sms.example.test', expected: '550 5.1.1 No group "boad" here' },
    { name: 'a group the setup may not address', from: 'ops@example.test', to: 'all@sms.example.test', expected: '550 5.7.1 Group "all" may not be addressed' },
    { name: 'a group over max_group_size', from: 'pager@small.test', to: 'all@sms.example.test', expected: '550 5.5.3 Group "all" has 2 members' },
  ];

  it.each(groupCases)('$name', async (c) => {
    const raw = rawMail(c);
    const smtp = await sendMail({ port: g.smtpPort, from: c.from, to: c.to, raw, envelope: { from: c.from, to: [c.to] } });
    const db = new Database(groupDirs.dbFile, { readonly: true });
    try {
      const now = Date.now();
      const report = await explainMail(g.config, Buffer.from(raw), { from: c.from, to: [c.to], ip: '127.0.0.1', now, ledger: sqliteReadOnlyLedger(db, now) });
      expect(comparable(smtp.response)).toMatch(new RegExp(`^${c.expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      expect(comparable(report.reply ?? '')).toBe(comparable(smtp.response));
      if (c.body?.includes('default')) {
        const texts = report.recipients.flatMap((r) => ('text' in r && r.text ? [r.text] : []));
        expect(texts.sort()).toEqual(['Hi Anna', 'Hi there']);
      }
    } finally {
      db.close();
    }
  });
});
