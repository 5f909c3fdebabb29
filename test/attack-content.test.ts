import { describe, expect, it } from 'vitest';
import type { Config } from '../src/config/load.js';
import { createManualClock } from '../src/core/clock.js';
import { hashPassword } from '../src/core/passwords.js';
import { parseEmailBounded } from '../src/message/parse-within-limits.js';
import { htmlLimitBroken, mimeLimitBroken } from '../src/message/limits.js';
import { buildSmsText } from '../src/message/text.js';
import { createAccessControl } from '../src/smtp/access.js';

/*
 * Issue 18, the content and AUTH items as functions: the lockout counter
 * (item 2), what an SMS may carry (item 5) and the MIME/HTML limits (item 4).
 */

const LIMITS = { mime: { maxParts: 100, maxDepth: 20 }, html: { maxDepth: 256, maxSize: 512 * 1024 } };

describe('AUTH lockout per address (item 2)', async () => {
  const hash = await hashPassword('right');
  const users = new Map([
    ['alice', { passwordHash: hash }],
    ['bob', { passwordHash: hash }],
  ]);
  // Only the fields AUTH reads; a whole Config would need a config tree on disk.
  const config = { main: { smtp: { auth_failure_limit: 10, auth_failure_delay: 0 } }, users } as unknown as Config;
  const ip = '203.0.113.5';

  it("another user's correct login does not reset the failures (4 × 9 wrong guesses lock the address)", async () => {
    const access = createAccessControl({ clock: createManualClock() });
    const outcomes: (string | undefined)[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 9; i++) outcomes.push((await access.authenticate(config, 'alice', 'wrong', ip))?.code);
      outcomes.push((await access.authenticate(config, 'bob', 'right', ip))?.code);
    }
    expect(outcomes).toContain('auth_locked');
    expect(await access.authenticate(config, 'bob', 'right', ip)).toMatchObject({ code: 'auth_locked' });
  });

  it('50 parallel wrong guesses are each counted: at most the limit are tried, and the right password is locked out afterwards', async () => {
    const access = createAccessControl({ clock: createManualClock() });
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => access.authenticate(config, 'alice', 'wrong', ip)));
    expect(outcomes.filter((o) => o?.code === 'auth_failed')).toHaveLength(10);
    expect(outcomes.filter((o) => o?.code === 'auth_locked')).toHaveLength(40);
    expect(await access.authenticate(config, 'alice', 'right', ip)).toMatchObject({ code: 'auth_locked' });
  });

  it('a correct login takes back only its own attempt', async () => {
    const access = createAccessControl({ clock: createManualClock() });
    for (let i = 0; i < 9; i++) await access.authenticate(config, 'alice', 'wrong', ip);
    expect(await access.authenticate(config, 'alice', 'right', ip)).toBeUndefined();
    expect(await access.authenticate(config, 'alice', 'wrong', ip)).toMatchObject({ code: 'auth_failed' });
    expect(await access.authenticate(config, 'alice', 'right', ip)).toMatchObject({ code: 'auth_locked' });
  });
});

describe('what the SMS may carry (item 5)', () => {
  it('strips bidi overrides and isolates, C0/C1 controls and NULs; keeps line breaks', () => {
    const text = 'Pay\u202e1337\u202c to\u2066 acct\u2069\u0000 now\u0007\u0085\u009b\nbye';
    expect(buildSmsText({ subject: undefined, text, html: undefined })).toMatchObject({ ok: true, text: 'Pay1337 to acct now\nbye' });
  });

  it('cleans the subject too', () => {
    const result = buildSmsText({ subject: 'Alert\u202e\u0000!', text: undefined, html: undefined }, { ...DEFAULT, source: 'subject' });
    expect(result).toMatchObject({ ok: true, text: 'Alert!' });
  });

  it('does not send hidden HTML: display:none, hidden, noscript, template', () => {
    const html =
      '<p>Disk full</p><div style="display: none">preheader 12345</div><span style="COLOR:red;DISPLAY:NONE">x</span><p hidden>secret</p><noscript>enable js</noscript><template><p>tpl</p></template><p style="visibility:hidden">v</p><p>on db1</p>';
    expect(buildSmsText({ subject: undefined, text: undefined, html })).toMatchObject({ ok: true, text: 'Disk full\n\non db1' });
  });

  it('refuses broken base64 instead of sending replacement characters', async () => {
    const raw = Buffer.from(
      'From: a@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ*!!#\r\nzz9=\r\n--x--\r\n',
    );
    expect(await parseEmailBounded(raw, LIMITS)).toMatchObject({ ok: false, code: 'undecodable_text' });
  });

  it('refuses undeclared 8-bit text that is not UTF-8', async () => {
    const raw = Buffer.concat([Buffer.from('From: a@example.test\r\nSubject: x\r\n\r\nCaf'), Buffer.from([0xe9]), Buffer.from(' ok\r\n')]);
    expect(await parseEmailBounded(raw, LIMITS)).toMatchObject({ ok: false, code: 'undecodable_text' });
  });

  it('takes undeclared 8-bit text that is UTF-8 as UTF-8', async () => {
    const raw = Buffer.from('From: a@example.test\r\nSubject: x\r\n\r\nCafé ok\r\n');
    expect(await parseEmailBounded(raw, LIMITS)).toMatchObject({ ok: true, email: { text: 'Café ok\n' } });
  });
});

describe('MIME and HTML limits (item 4)', () => {
  it('counts parts and nesting of a multipart mail', () => {
    const flat = Buffer.from(`Content-Type: multipart/mixed; boundary="b"\r\n\r\n${'--b\r\n\r\nx\r\n'.repeat(101)}--b--\r\n`);
    expect(mimeLimitBroken(flat, LIMITS.mime)).toBe('more than 100 MIME parts');
    expect(mimeLimitBroken(flat, { maxParts: 200, maxDepth: 20 })).toBeUndefined();
  });

  it('does not count implied end tags or void elements as nesting', () => {
    const table = '<table>' + '<tr><td>a<td>b<br><img src=x>'.repeat(5000) + '</table>';
    expect(htmlLimitBroken(table, LIMITS.html)).toBeUndefined();
    expect(htmlLimitBroken('<b>'.repeat(257), LIMITS.html)).toBe('HTML elements nested more than 256 deep');
  });

  it('converts the HTML in the bounded parse when the text comes from it', async () => {
    const raw = Buffer.from('From: a@example.test\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Disk <b>full</b></p>\r\n');
    expect(await parseEmailBounded(raw, LIMITS)).toMatchObject({ ok: true, email: { htmlText: 'Disk full' } });
  });
});

const DEFAULT = { source: 'body' as const, separator: '\n', cutMarkers: [], transliterate: true, maxSegments: 3, onOverflow: 'reject' as const, suffix: '' };
