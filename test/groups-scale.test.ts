import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContactStore } from '../src/ledger/sqlite/contacts.js';
import { migrate, openDatabase } from '../src/ledger/sqlite/db.js';
import { alertsSetup, queueIdOf, sendMail, simulatorMessages, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * The 10 000-member send: one mail to `all`, every member merged, decided and
 * committed before the 250; then, while dispatch drains it under the rate
 * limit, an alert from another setup goes out without waiting behind it.
 * (Times are printed by bench/groups.ts, never asserted here.)
 */

const MEMBERS = 10_000;
let dirs: TestDirs;
let t: TestDaemon;

beforeAll(async () => {
  dirs = writeConfig({
    main: { dispatch: { poll_interval: '100ms', retry_base: '50ms', rate_limit: 200 } },
    setups: [
      alertsSetup({ id: 'newsletter', senders: ['club.test'], cooldown: 'off', groups: ['all'], max_group_size: MEMBERS }),
      alertsSetup({ id: 'alerts', senders: ['ops@example.test'], cooldown: 'off' }),
    ],
  });
  const db = openDatabase(dirs.dbFile);
  migrate(db);
  const contacts = Array.from({ length: MEMBERS }, (_, i) => ({
    id: `m${i}`, number: `+452${String(3000000 + i).padStart(7, '0')}`, groups: [], fields: { first_name: `Member${i}` },
  }));
  createContactStore(db).importContacts('members', contacts, false, Date.now());
  db.close();
  t = await startTestDaemon(dirs);
}, 60_000);
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

describe('a 10 000-member group', () => {
  it('is decided and committed in one transaction before the 250, each row with its own text; an alert then overtakes the drain', async () => {
    const newsletter = await sendMail({ port: t.smtpPort, from: 'coach@club.test', to: 'all@sms.example.test', text: 'Hi {{first_name}}, the gym is closed today' });
    expect(newsletter.response).toMatch(/; 10000 of 10000 recipients$/);
    const db = new Database(dirs.dbFile, { readonly: true });
    try {
      const rows = db.prepare('SELECT count(*) AS n, count(DISTINCT sms_text) AS texts, count(DISTINCT recipient) AS numbers FROM outbox WHERE message_id = ?').get(queueIdOf(newsletter.response));
      expect(rows).toEqual({ n: MEMBERS, texts: MEMBERS, numbers: MEMBERS });
    } finally {
      db.close();
    }
    // The newsletter is draining at 200 SMS/s (50 s in all); the alert takes its turn at once.
    await waitFor(async () => (await simulatorMessages(t.simUrl)).some((m) => m.text.startsWith('Hi Member')), 'the first newsletter SMS');
    const alert = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520123456@sms.example.test', text: 'Disk full on db1' });
    expect(alert.response).toMatch(/^250 /);
    const seen = await waitFor(async () => {
      const messages = await simulatorMessages(t.simUrl);
      return messages.some((m) => m.to === '+4520123456') ? messages : undefined;
    }, 'the alert at the simulator', 30_000);
    const newsletterSent = seen.filter((m) => m.text.startsWith('Hi Member')).length;
    expect(newsletterSent).toBeLessThan(MEMBERS / 2);
    // Each member got its own words.
    for (const sms of seen.filter((m) => m.text.startsWith('Hi Member'))) {
      expect(sms.text).toBe(`Hi Member${Number(sms.to.slice(4)) - 3_000_000}, the gym is closed today`);
    }
  }, 120_000);
});
