import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { consoleHref, escapeHtml, html, segment } from '../src/http/console/html.js';
import { createView, redact } from '../src/http/console/mask.js';
import { whyWaiting } from '../src/http/console/why.js';
import type { QueueRow } from '../src/ledger/console-types.js';

describe('escaping in console pages', () => {
  it.each([
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['a & b', 'a &amp; b'],
    ['" onmouseover="x', '&quot; onmouseover=&quot;x'],
    ["' onfocus='x", '&#39; onfocus=&#39;x'],
    ['&amp;', '&amp;amp;'],
    ['plain text, æøå', 'plain text, æøå'],
  ])('escapeHtml(%j) is %j', (input, expected) => {
    expect(escapeHtml(input)).toBe(expected);
  });

  it('escapes every interpolated value, in content and in attributes', () => {
    const evil = '"><img src=x onerror=alert(1)>';
    expect(html`<a title="${evil}">${evil}</a>`.toString()).toBe(
      '<a title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</a>',
    );
  });

  it('keeps markup made by the template itself, and escapes inside lists', () => {
    const cells = ['<b>', 'x'].map((v) => html`<td>${v}</td>`);
    expect(html`<tr>${cells}</tr>`.toString()).toBe('<tr><td>&lt;b&gt;</td><td>x</td></tr>');
  });

  it('leaves nothing but a literal for null, undefined and false', () => {
    expect(html`[${null}${undefined}${false}${0}]`.toString()).toBe('[0]');
  });

  it('cannot be fooled by an object that looks like markup', () => {
    const fake = { toString: () => '<script>x</script>' } as unknown as string;
    expect(html`${fake}`.toString()).toBe('&lt;script&gt;x&lt;/script&gt;');
  });

  it('never lets a string produce a tag or break out of an attribute (any input)', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const escaped = escapeHtml(value);
        expect(escaped).not.toMatch(/[<>"']/);
        expect(html`<p title="${value}">${value}</p>`.toString()).toBe(`<p title="${escaped}">${escaped}</p>`);
        // Nothing is lost: a browser shows exactly the value.
        const shown = escaped.replace(/&(lt|gt|quot|#39|amp);/g, (_m, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e] as string);
        expect(shown).toBe(value);
      }),
    );
  });

  it('encodes path segments so a value cannot leave its segment, but keeps the + of numbers', () => {
    expect(segment('+4520123456')).toBe('+4520123456');
    expect(segment('../x?y#z"')).toBe('..%2Fx%3Fy%23z%22');
    expect(consoleHref(['mails', 'A/B'], { after: '1.2', none: undefined })).toBe('/console/mails/A%2FB?after=1.2');
  });
});

describe('what a reader without console:pii sees', () => {
  const masked = createView(false);
  const full = createView(true);

  it('masks numbers as +4520****56 and hides SMS texts', () => {
    expect(masked.number('+4520123456')).toBe('+4520****56');
    expect(masked.text('Server down')).toBeUndefined();
    expect(full.number('+4520123456')).toBe('+4520123456');
    expect(full.text('Server down')).toBe('Server down');
  });

  it.each([
    ['email from a@x via setup alerts: sent — "Server "db1" is down"', 'email from a@x via setup alerts: sent — "[hidden]"'],
    ['SMS received: "STOP" → opted out', 'SMS received: "[hidden]" → opted out'],
    ['people: +4520123456 is on the list', 'people: +4520****56 is on the list'],
    ['cooldown', 'cooldown'],
  ])('redacts %j', (input, expected) => {
    expect(redact(input)).toBe(expected);
    expect(masked.free(input)).toBe(expected);
    expect(full.free(input)).toBe(input);
  });
});

describe('why a queued row waits', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const row = (fields: Partial<QueueRow>): QueueRow => ({
    outboxId: 1, queueId: 'Q', setupId: 'alerts', recipient: '+4520123456', status: 'queued', attempts: 0, createdAt: now - 60_000,
    nextAttemptAt: now + 60_000, leaseUntil: null, reason: null, sendAt: null, expiresAt: null, lastEvent: null, ...fields,
  });

  it.each<[string, Partial<QueueRow>, string]>([
    ['a due row waits for dispatch (rate limit, concurrency)', { nextAttemptAt: now - 1 }, 'due'],
    ['a row scheduled by X-SMS-Send-At', { sendAt: now + 60_000 }, 'schedule'],
    ['a row deferred by the sending window', { lastEvent: { at: now, type: 'deferred', detail: 'outside the sending window' } }, 'window'],
    ['a row in retry backoff', { attempts: 2, reason: 'HTTP 503', lastEvent: { at: now, type: 'retry', detail: 'HTTP 503' } }, 'retry'],
    ['a row held at the opt-out gate', { lastEvent: { at: now, type: 'held', detail: 'a STOP is being processed' } }, 'held'],
    ['a row being sent', { status: 'sending', attempts: 1, leaseUntil: now + 1000 }, 'sending'],
  ])('%s', (_name, fields, cause) => {
    expect(whyWaiting(row(fields), now).cause).toBe(cause);
  });
});
