import { describe, expect, it } from 'vitest';
import { createRateCounter } from '../src/core/rate-counter.js';

describe('per-key counts in fixed windows (connection and postmaster rates)', () => {
  it('counts per key within the window and starts again after it', () => {
    const counter = createRateCounter(60_000);
    expect([counter.hit('a', 0), counter.hit('a', 59_999), counter.hit('b', 1)]).toEqual([1, 2, 1]);
    expect(counter.hit('a', 60_000)).toBe(1);
  });

  it('stays bounded under a flood of keys: past the limit the table starts over', () => {
    const counter = createRateCounter(60_000, 3);
    for (const key of ['a', 'b', 'c', 'd']) counter.hit(key, 0);
    counter.hit('a', 1);
    expect(counter.hit('e', 2)).toBe(1); // cleared when the fifth key arrived
    expect(counter.hit('a', 3)).toBe(1);
  });
});
