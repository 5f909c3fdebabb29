import { describe, expect, it } from 'vitest';
import { measureSms } from '../src/message/encoding.js';

describe('SMS encoding and segments (3GPP TS 23.038)', () => {
  it.each([
    ['empty', '', 'GSM-7', 0],
    ['160 GSM-7 characters fit one SMS', 'a'.repeat(160), 'GSM-7', 1],
    ['161 need two', 'a'.repeat(161), 'GSM-7', 2],
    ['306 still two', 'a'.repeat(306), 'GSM-7', 2],
    ['307 need three', 'a'.repeat(307), 'GSM-7', 3],
    ['Danish letters are GSM-7', 'Æble på ø'.padEnd(160, '.'), 'GSM-7', 1],
    ['70 UCS-2 units fit one SMS', 'ł'.repeat(70), 'UCS-2', 1],
    ['71 need two', 'ł'.repeat(71), 'UCS-2', 2],
    ['134 UCS-2 units are two parts of 67', 'ł'.repeat(134), 'UCS-2', 2],
  ] as const)('%s', (_name, text, encoding, segments) => {
    const measure = measureSms(text);
    expect(measure.encoding).toBe(encoding);
    expect(measure.segments).toBe(segments);
  });

  it('counts extension characters as two septets', () => {
    expect(measureSms('€'.repeat(80))).toMatchObject({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(measureSms('€'.repeat(81))).toMatchObject({ units: 162, segments: 2 });
  });

  it('never splits an escape pair across parts', () => {
    // 152 plain septets then a 2-septet "€": the euro moves to part two instead of splitting.
    const measure = measureSms('a'.repeat(152) + '€' + 'a'.repeat(152));
    expect(measure.units).toBe(306);
    expect(measure.segments).toBe(3);
  });

  it('counts an emoji as two UCS-2 units and one character', () => {
    expect(measureSms('🚨')).toMatchObject({ encoding: 'UCS-2', units: 2, characters: 1, segments: 1 });
  });
});
