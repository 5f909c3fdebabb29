import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { createManualClock } from '../src/core/clock.js';
import type { Config } from '../src/config/load.js';
import { createLogger } from '../src/core/log.js';
import type { Db } from '../src/ledger/sqlite/db.js';
import { intakeMessage, openTestLedger, type TestLedger } from './ledger-fixture.js';
import type { Ledger } from '../src/ledger/types.js';
import { createRelay, type Relay } from '../src/notify/relay.js';
import { createReporter } from '../src/notify/reporter.js';

/*
 * The reporter's decisions with a real ledger and a real relay client against
 * an smtp-server sink that refuses one address: what stays due and what is
 * given up on.
 */

const REFUSED = 'gone@example.test';
const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
const clock = createManualClock();
const config = { main: { notify: { report_batch_delay: 1000, report_timeout: 3_600_000 } } } as unknown as Config;

let sinkPort: number;
let sinkReceived = 0;
let sink: SMTPServer;
beforeAll(async () => {
  sink = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address === REFUSED) return callback(Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 }));
      callback();
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => {
        sinkReceived++;
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  sinkPort = (sink.server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => sink.close(() => resolve())));

let db: Db;
let ledger: Ledger;
let t: TestLedger;
beforeEach(() => {
  t = openTestLedger(clock);
  ({ db, ledger } = t);
});
afterEach(() => t.close());

let serial = 0;
/** A mail whose one recipient is suppressed by cooldown: its report is due at once. */
async function suppressedMail(mailFrom: string): Promise<string> {
  serial++;
  const number = `+45201235${String(serial).padStart(2, '0')}`;
  const base = intakeMessage([number], { mailFrom, rules: { setupId: 'alerts', cooldownMs: 3_600_000, purpose: null, dailyLimit: null, numberDailyLimit: null } });
  await ledger.acceptMessage(base);
  const { queueId } = await ledger.acceptMessage({ ...base, bodyHash: `h${serial}b`, headerMessageId: `<r${serial}b@example.test>`, reportMode: 'failures' });
  return queueId;
}

const relayTo = (port: number): Relay => createRelay({ host: '127.0.0.1', port, starttls: 'off', from: 'mail2sms@gw.example.test', timeout: 5_000 }, { logger: quiet });
const reporterWith = (relay: Relay) => createReporter({ ledger, relay, getSettings: () => config.main.notify, clock, logger: quiet });
const noteOf = (queueId: string) => db.prepare(`SELECT detail FROM events WHERE message_id = ? AND type = 'report'`).pluck().get(queueId);

describe('reporter', () => {
  it('sends a due report and marks it, so the next round sends nothing', async () => {
    const relay = relayTo(sinkPort);
    const queueId = await suppressedMail('ops@example.test');
    const before = sinkReceived;
    expect(await reporterWith(relay).runOnce()).toBe(1);
    expect(sinkReceived).toBe(before + 1);
    expect(noteOf(queueId)).toMatch(/^sent to ops@example\.test as </);
    expect(await reporterWith(relay).runOnce()).toBe(0);
    await relay.close();
  });

  it('a relay that is down leaves the report due for the next round', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const relay = relayTo(port);
    const queueId = await suppressedMail('ops@example.test');
    await reporterWith(relay).runOnce();
    await relay.close();
    expect(noteOf(queueId)).toBeUndefined();
    expect((await ledger.dueReports(10, 0)).map((d) => d.queueId)).toEqual([queueId]);
  });

  it('a report the relay refuses is given up on with the reason, never retried', async () => {
    const relay = relayTo(sinkPort);
    const queueId = await suppressedMail(REFUSED);
    await reporterWith(relay).runOnce();
    await relay.close();
    expect(noteOf(queueId)).toMatch(/^refused by the relay: .*550/);
    expect(await ledger.dueReports(10, 0)).toEqual([]);
  });

  it('never writes to a postmaster (or <>) sender: marked with no mail sent', async () => {
    const relay = relayTo(sinkPort);
    const before = sinkReceived;
    const queueId = await suppressedMail('postmaster@example.test');
    await reporterWith(relay).runOnce();
    await relay.close();
    expect(sinkReceived).toBe(before);
    expect(noteOf(queueId)).toBe('no report needed');
  });
});
