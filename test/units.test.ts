import { describe, expect, it } from 'vitest';
import { parseDuration, parseInstant, parseListen, parseSize } from '../src/core/units.js';

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['10m', 600_000],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['7d', 604_800_000],
    ['250ms', 250],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['10', '10x', 'm10', '', '1.5h', '-5m'])('"%s" is not a duration', (text) => expect(parseDuration(text)).toBeUndefined());
});

describe('sizes', () => {
  it.each([
    ['1MB', 1_048_576],
    ['512KB', 524_288],
    ['2048', 2048],
    [4096, 4096],
  ] as const)('%s is %d bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['1 TB', 'lots', '', -1])('"%s" is not a size', (text) => expect(parseSize(text)).toBeUndefined());
});

describe('listen addresses', () => {
  it('reads IPv4 and bracketed IPv6', () => {
    expect(parseListen('127.0.0.1:2525')).toEqual({ host: '127.0.0.1', port: 2525 });
    expect(parseListen('[::1]:25')).toEqual({ host: '::1', port: 25 });
  });
  it.each(['127.0.0.1', ':2525', '127.0.0.1:99999', '::1:25'])('"%s" is refused', (text) => expect(parseListen(text)).toBeUndefined());
});

describe('instants', () => {
  it.each([
    ['2026-11-22T09:00:00Z', Date.UTC(2026, 10, 22, 9)],
    ['2026-11-22T10:00:00+01:00', Date.UTC(2026, 10, 22, 9)],
    ['2026-11-22T10:00:00.250+0100', Date.UTC(2026, 10, 22, 9, 0, 0, 250)],
    ['1795338000000', 1795338000000],
    [1795338000000, 1795338000000],
    ['2026-11-22T09:00:00', undefined], // no zone: would depend on this machine's
    ['2026-11-22', undefined],
    ['yesterday', undefined],
    ['2026-13-40T09:00:00Z', undefined],
    [Number.NaN, undefined],
  ] as const)('%s → %s', (input, expected) => {
    expect(parseInstant(input)).toBe(expected);
  });
});
