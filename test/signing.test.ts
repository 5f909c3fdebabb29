import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSignatureVerifier, signBody, verifySignature } from '../src/core/signing.js';

const SECRET = 'signing-test-secret-0123456789';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const BODY = '{"id":"abc","status":"delivered"}';

describe('receipt signatures (t=, v1=)', () => {
  it('signs "<t>.<body>" with HMAC-SHA256 and the unix seconds', () => {
    const t = NOW / 1000;
    const mac = createHmac('sha256', SECRET).update(`${t}.${BODY}`).digest('hex');
    expect(signBody(SECRET, BODY, NOW)).toBe(`t=${t},v1=${mac}`);
  });

  it('accepts its own signature, with spaces and an array header too', () => {
    const header = signBody(SECRET, BODY, NOW);
    expect(verifySignature(SECRET, BODY, header, NOW)).toEqual({ ok: true });
    expect(verifySignature(SECRET, BODY, header.replace(',', ', '), NOW)).toEqual({ ok: true });
    expect(verifySignature(SECRET, BODY, [header], NOW)).toEqual({ ok: true });
  });

  it('accepts any one matching v1 among several (secret rotation) and ignores other schemes', () => {
    const header = signBody(SECRET, BODY, NOW);
    const other = signBody('another-secret-0123456789', BODY, NOW).split(',')[1] as string;
    expect(verifySignature(SECRET, BODY, `${header},${other},v0=abc`, NOW)).toEqual({ ok: true });
  });

  it('a verifier made once for a secret gives the same verdicts, body after body', () => {
    const verify = createSignatureVerifier(SECRET);
    const bodies = [BODY, '{"id":"def","status":"failed"}', ''];
    for (const body of bodies) expect(verify(body, signBody(SECRET, body, NOW), NOW)).toEqual({ ok: true });
    expect(verify(BODY, signBody(SECRET, bodies[1] as string, NOW), NOW)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify(BODY, signBody('wrong-secret-0123456789', BODY, NOW), NOW)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify(BODY, signBody(SECRET, BODY, NOW - 301_000), NOW)).toEqual({ ok: false, reason: 'too_old' });
  });

  it('names what is wrong', () => {
    const header = signBody(SECRET, BODY, NOW);
    expect(verifySignature(SECRET, BODY, undefined, NOW)).toEqual({ ok: false, reason: 'missing' });
    expect(verifySignature(SECRET, BODY, '', NOW)).toEqual({ ok: false, reason: 'missing' });
    expect(verifySignature(SECRET, BODY, 'sha256=abcd', NOW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, BODY, header.split(',')[1], NOW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, BODY, 't=abc,v1=00', NOW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(SECRET, BODY + ' ', header, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifySignature('wrong-secret-0123456789', BODY, header, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('the timestamp is signed: changing it breaks the signature', () => {
    const [, v1] = signBody(SECRET, BODY, NOW - 600_000).split(',');
    expect(verifySignature(SECRET, BODY, `t=${NOW / 1000},${v1}`, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses signatures older or newer than the tolerance (5 minutes by default), inclusive at the edge', () => {
    expect(verifySignature(SECRET, BODY, signBody(SECRET, BODY, NOW - 300_000), NOW)).toEqual({ ok: true });
    expect(verifySignature(SECRET, BODY, signBody(SECRET, BODY, NOW - 301_000), NOW)).toEqual({ ok: false, reason: 'too_old' });
    expect(verifySignature(SECRET, BODY, signBody(SECRET, BODY, NOW + 300_000), NOW)).toEqual({ ok: true });
    expect(verifySignature(SECRET, BODY, signBody(SECRET, BODY, NOW + 301_000), NOW)).toEqual({ ok: false, reason: 'in_future' });
    expect(verifySignature(SECRET, BODY, signBody(SECRET, BODY, NOW - 20_000), NOW, 10_000)).toEqual({ ok: false, reason: 'too_old' });
  });
});
