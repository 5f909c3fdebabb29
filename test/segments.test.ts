import fc from 'fast-check';
import { SegmentedMessage } from 'sms-segments-calculator';
import { describe, expect, it } from 'vitest';
import { isGsm7, measureSms, splitSms } from '../src/message/encoding.js';

/*
 * Property tests for the segment counter (3GPP TS 23.038), and agreement with
 * an independent implementation from the registry.
 */

const GSM_BASIC = Array.from('@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà');
const GSM_EXTENSION = Array.from('^{}\\[~]|€');
const OTHER = Array.from('łşğőЖж中文한글אבجد');
const EMOJI = ['🚨', '🔥', '👍🏽', '😀'];

const gsmText = fc.array(fc.constantFrom(...GSM_BASIC, ...GSM_EXTENSION), { maxLength: 700 }).map((chars) => chars.join(''));
const anyText = fc.array(fc.constantFrom(...GSM_BASIC, ...GSM_EXTENSION, ...OTHER, ...EMOJI), { maxLength: 500 }).map((chars) => chars.join(''));

function septets(part: string): number {
  let n = 0;
  for (const ch of part) n += GSM_EXTENSION.includes(ch) ? 2 : 1;
  return n;
}

describe('splitSms', () => {
  it('parts join back to the message and their number is the segment count', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const parts = splitSms(text);
        expect(parts.join('')).toBe(text);
        expect(parts.length).toBe(measureSms(text).segments);
      }),
    );
  });

  it('no GSM-7 part is over 160 septets alone or 153 concatenated, and none splits an escape pair', () => {
    fc.assert(
      fc.property(gsmText, (text) => {
        const parts = splitSms(text);
        const limit = parts.length > 1 ? 153 : 160;
        for (const part of parts) expect(septets(part)).toBeLessThanOrEqual(limit);
        // Characters are whole: each part is itself a sequence of whole GSM-7 characters.
        for (const part of parts) expect(isGsm7(part)).toBe(true);
      }),
    );
  });

  it('no UCS-2 part is over 70 units alone or 67 concatenated, and none splits a surrogate pair', () => {
    fc.assert(
      fc.property(anyText.filter((t) => !isGsm7(t)), (text) => {
        const parts = splitSms(text);
        const limit = parts.length > 1 ? 67 : 70;
        for (const part of parts) {
          expect(part.length).toBeLessThanOrEqual(limit);
          expect(/^[\udc00-\udfff]/.test(part)).toBe(false);
          expect(/[\ud800-\udbff]$/.test(part)).toBe(false);
        }
      }),
    );
  });
});

describe('agreement with sms-segments-calculator', () => {
  it('same encoding and segment count for GSM-7 and UCS-2 text', () => {
    fc.assert(
      fc.property(anyText.filter((t) => t.length > 0), (text) => {
        const theirs = new SegmentedMessage(text, 'auto');
        const ours = measureSms(text);
        expect([ours.encoding, ours.segments]).toEqual([theirs.encodingName, theirs.segmentsCount]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('segment boundaries', () => {
  it.each([
    [152, 1], [153, 1], [154, 1], [159, 1], [160, 1], [161, 2],
    [305, 2], [306, 2], [307, 3], [458, 3], [459, 3], [460, 4],
  ])('%d GSM-7 characters are %d SMS', (length, segments) => {
    expect(measureSms('x'.repeat(length)).segments).toBe(segments);
  });

  it.each([
    [66, 1], [67, 1], [68, 1], [69, 1], [70, 1], [71, 2],
    [133, 2], [134, 2], [135, 3], [200, 3], [201, 3], [202, 4],
  ])('%d UCS-2 characters are %d SMS', (length, segments) => {
    expect(measureSms('ł'.repeat(length)).segments).toBe(segments);
  });
});
