import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, queueIdOf, sendMail, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';
import { startKannelPeer, type KannelPeer } from './kannel-peer.js';

/*
 * Mail in → SMS at Kannel's SMSC → delivery report back → row delivered, and
 * an SMS from a phone through Kannel → STOP recorded (issue 24), with the
 * daemon, a real Kannel 1.4.5 (bearerbox, smsbox, fakesmsc from Debian) and
 * real SMTP. The provider is a named one: Kannel calls /receipts/office and
 * /inbound/office with GET, our token in the query.
 */

const TOKEN = 'kannel-e2e-token-0123456789abcdef-XYZ';
let peer: KannelPeer;
let dirs: TestDirs;
let t: TestDaemon;


beforeAll(async () => {
  // Kannel needs the daemon's inbound URL in its config, and the daemon Kannel's sendsms URL: the HTTP port is chosen first.
  const httpPort = await freePort();
  peer = await startKannelPeer({ inboundUrl: `http://127.0.0.1:${httpPort}/inbound/office`, username: 'mail2sms', password: 'kannel-e2e-password', token: TOKEN });
  dirs = writeConfig({
    main: {
      http: { listen: `127.0.0.1:${httpPort}` },
      provider: undefined,
      providers: { office: { type: 'kannel', url: peer.sendsmsUrl, username: 'mail2sms', password: 'kannel-e2e-password', smsc: 'fake', callback: { token: TOKEN } } },
    },
  });
  t = await startTestDaemon(dirs);
}, 60_000);
afterAll(async () => {
  await t?.stop();
  await peer?.stop();
  dirs?.cleanup();
});

describe('the daemon with a real Kannel', () => {
  it('a mail becomes an SMS at the SMSC, and its delivery report settles the row as delivered', async () => {
    const mail = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520127001@sms.example.test', text: 'Pump 3 down' });
    const queueId = queueIdOf(mail.response);
    const sms = await peer.waitForSms((m) => m.text.includes('Pump 3 down'), 20_000);
    expect(sms.to).toMatch(/4520127001$/);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', `the row delivered\n${peer.logs()}`, 20_000);
  });

  it('STOP from the phone through Kannel opts the number out', async () => {
    const number = '+4520127002';
    await peer.injectMo(number, '4570000001', 'STOP');
    await waitFor(async () => (await t.daemon.ledger.consentOf(number)).current.some((c) => c.state === 'opt_out'), `the opt-out\n${peer.logs()}`, 20_000);
    const after = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: `${number}@sms.example.test`, text: 'Alarm' });
    expect(after.response).toMatch(/suppressed \(opted_out\)/);
  });
});
