import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, sendMail, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * SPF at MAIL FROM and DKIM after DATA, verified by mailauth against a DNS stub
 * the test controls (no network): pass, fail, misaligned, and DNS trouble.
 */

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKey = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const dns: Record<string, string[][]> = {
  'spf.test:TXT': [['v=spf1 ip4:127.0.0.1 -all']],
  'nospf.test:TXT': [['v=spf1 ip4:192.0.2.1 -all']],
  'sel._domainkey.dkim.test:TXT': [[`v=DKIM1; k=rsa; p=${publicKey}`]],
  'sel._domainkey.evil.test:TXT': [[`v=DKIM1; k=rsa; p=${publicKey}`]],
};
async function resolver(name: string, type: string): Promise<unknown> {
  if (name.endsWith('tempfail.test')) throw Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' });
  const answer = dns[`${name}:${type}`];
  if (!answer) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
  return answer;
}

let dirs: TestDirs;
let t: TestDaemon;

beforeAll(async () => {
  dirs = writeConfig({
    setups: [
      alertsSetup({ id: 'spf', senders: ['spf.test', 'nospf.test', 'tempfail.test'], authorize: { spf: 'pass' }, cooldown: 'off' }),
      alertsSetup({ id: 'dkim', senders: ['dkim.test'], authorize: { dkim: 'pass' }, cooldown: 'off' }),
    ],
  });
  t = await startTestDaemon(dirs, { resolver });
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

async function signedMail(from: string, signingDomain: string, text: string): Promise<string> {
  const body = `From: ${from}\r\nTo: +4520123456@sms.example.test\r\nSubject: alert\r\nMessage-ID: <${Math.random()}@x>\r\n\r\n${text}\r\n`;
  const signed = await dkimSign(Buffer.from(body), { signatureData: [{ signingDomain, selector: 'sel', privateKey }] });
  return signed.signatures + body;
}

const envelope = (from: string, number: string) => ({ from, to: [`${number}@sms.example.test`] });

describe('SPF at MAIL FROM', () => {
  it('accepts a sender whose domain designates the client', async () => {
    expect((await sendMail({ port: t.smtpPort, from: 'alerts@spf.test', to: '+4520123601@sms.example.test', text: 'ok' })).code).toBe(250);
  });

  it('refuses an SPF fail with 550 5.7.23', async () => {
    const result = await sendMail({ port: t.smtpPort, from: 'alerts@nospf.test', to: '+4520123602@sms.example.test', text: 'x' });
    expect(result.response).toMatch(/^550 5\.7\.23 SPF fail for <alerts@nospf\.test> from 127\.0\.0\.1; this sender requires SPF pass/);
  });

  it('answers a DNS failure with 451 4.4.3, never a pass', async () => {
    const result = await sendMail({ port: t.smtpPort, from: 'alerts@tempfail.test', to: '+4520123603@sms.example.test', text: 'x' });
    expect(result.response).toMatch(/^451 4\.4\.3 SPF could not be checked/);
  });
});

describe('DKIM after DATA', () => {
  it('accepts a signature aligned with the From header of the sender domain', async () => {
    const raw = await signedMail('alerts@dkim.test', 'dkim.test', 'Signed alert');
    const result = await sendMail({ port: t.smtpPort, from: 'alerts@dkim.test', to: '', raw, envelope: envelope('alerts@dkim.test', '+4520123604') });
    expect(result.response).toMatch(/^250 2\.0\.0 Queued as /);
  });

  it('refuses an unsigned mail with 550 5.7.20', async () => {
    const raw = 'From: alerts@dkim.test\r\nSubject: x\r\n\r\nUnsigned\r\n';
    const result = await sendMail({ port: t.smtpPort, from: 'alerts@dkim.test', to: '', raw, envelope: envelope('alerts@dkim.test', '+4520123605') });
    expect(result.response).toMatch(/^550 5\.7\.20 DKIM: no passing signature aligned with dkim\.test \(the message is not signed\)/);
  });

  it('refuses a valid signature of another domain', async () => {
    const raw = await signedMail('alerts@dkim.test', 'evil.test', 'Signed by someone else');
    const result = await sendMail({ port: t.smtpPort, from: 'alerts@dkim.test', to: '', raw, envelope: envelope('alerts@dkim.test', '+4520123606') });
    // The refusal is the point; the parenthesis names what mailauth saw (evil.test: pass, normally).
    expect(result.response, JSON.stringify(result)).toMatch(/^550 5\.7\.20 DKIM: no passing signature aligned with dkim\.test \(evil\.test: \w+\)/);
  });

  it('refuses a From header of another domain than the envelope sender, signed or not', async () => {
    const raw = await signedMail('ceo@evil.test', 'evil.test', 'Spoofed');
    const result = await sendMail({ port: t.smtpPort, from: 'alerts@dkim.test', to: '', raw, envelope: envelope('alerts@dkim.test', '+4520123607') });
    expect(result.response).toMatch(/^550 5\.7\.20 DKIM: the From domain evil\.test does not belong to the envelope sender <alerts@dkim\.test>/);
  });

  it('refuses a message whose body was changed after signing', async () => {
    const raw = (await signedMail('alerts@dkim.test', 'dkim.test', 'Original text')).replace('Original text', 'Tampered text');
    const result = await sendMail({ port: t.smtpPort, from: 'alerts@dkim.test', to: '', raw, envelope: envelope('alerts@dkim.test', '+4520123608') });
    expect(result.response, JSON.stringify(result)).toMatch(/^550 5\.7\.20 DKIM: no passing signature aligned with dkim\.test \(dkim\.test: (fail|neutral)\)/);
  });
});
