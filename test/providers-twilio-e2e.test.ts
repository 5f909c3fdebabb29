import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTwilio, type FakeTwilio } from '../bench/fakes/twilio.js';
import { freePort, alertsSetup, queueIdOf, sendMail, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * A Twilio account as a named provider, end to end (issue 24): the daemon
 * sends through the fake Messages API (bench/fakes/twilio.ts, which refuses
 * what Twilio refuses), Twilio's signed StatusCallback at /receipts/twilio-us
 * settles the row, and its signed inbound webhook at /inbound/twilio-us opts
 * the number out and is answered with empty TwiML. Twilio signs the URL it
 * called: the route rebuilds it from http.public_url.
 */

const ACCOUNT = `AC${'a1'.repeat(16)}`;
const TOKEN = 'twilio-e2e-auth-token-0123456789';
/** Replied STOP at Twilio itself: Twilio refuses sends to it with error 21610. */
const UNSUBSCRIBED = '+4520128003';
let fake: FakeTwilio;
let dirs: TestDirs;
let t: TestDaemon;
let publicUrl: string;


beforeAll(async () => {
  fake = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN, optedOut: [UNSUBSCRIBED] });
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  dirs = writeConfig({
    main: {
      http: { listen: `127.0.0.1:${port}` },
      provider: undefined,
      providers: { 'twilio-us': { type: 'twilio', account_sid: ACCOUNT, auth_token: TOKEN, base_url: fake.url } },
    },
    setups: [alertsSetup({ sender_name: '+15005550006' })],
  });
  t = await startTestDaemon(dirs);
});
afterAll(async () => {
  await t?.stop();
  await fake?.close();
  dirs?.cleanup();
});

describe('the daemon with a Twilio provider', () => {
  it('a mail is sent through the Messages API and its signed StatusCallback settles the row delivered', async () => {
    const mail = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: '+4520128001@sms.example.test', text: 'Pump 3 down' });
    const queueId = queueIdOf(mail.response);
    const sent = await waitFor(() => fake.messages.find((m) => m.to === '+4520128001'), 'the send at Twilio');
    expect(sent).toMatchObject({ body: 'Pump 3 down', from: '+15005550006', statusCallback: `${publicUrl}/receipts/twilio-us` });
    expect((await fake.statusCallback(sent.sid, 'delivered')).status).toBe(200);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'delivered', 'the row delivered');
  });

  it("Twilio's own opt-out (21610) fails the row and is recorded as an opt-out with that evidence, so the next mail is suppressed", async () => {
    const mail = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: `${UNSUBSCRIBED}@sms.example.test`, text: 'Pump 3 down' });
    const queueId = queueIdOf(mail.response);
    await waitFor(async () => (await t.daemon.ledger.outbox({ queueId }))[0]?.status === 'failed', 'the row failed');
    const consent = await t.daemon.ledger.consentOf(UNSUBSCRIBED);
    expect(consent.current).toMatchObject([{ purpose: '', state: 'opt_out', source: 'provider twilio-us' }]);
    expect(consent.events[0]?.evidence).toMatch(/21610/);
    const after = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: `${UNSUBSCRIBED}@sms.example.test`, text: 'Alarm' });
    expect(after.response).toMatch(/suppressed \(opted_out\)/);
  });

  it('a signed inbound STOP opts the number out and is answered with empty TwiML; an unsigned one is refused', async () => {
    const number = '+4520128002';
    const forged = await fetch(`${publicUrl}/inbound/twilio-us`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `From=${encodeURIComponent(number)}&Body=START` });
    expect(forged.status).toBe(403);
    const stop = await fake.inbound(`${publicUrl}/inbound/twilio-us`, number, '+15005550006', 'STOP');
    expect(stop.status).toBe(200);
    expect(stop.body).toMatch(/^<\?xml[^>]*>\s*<Response\s*\/>\s*$|^<Response\s*\/>$/);
    const after = await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: `${number}@sms.example.test`, text: 'Alarm' });
    expect(after.response).toMatch(/suppressed \(opted_out\)/);
  });
});
