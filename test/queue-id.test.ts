import { describe, expect, it } from 'vitest';
import { createQueueIds, newQueueId } from '../src/ledger/queue-id.js';

describe('queue ids', () => {
  const now = Date.parse('2026-11-30T08:00:00Z');
  const prefix = now.toString(36).toUpperCase();

  it('are the time in base 36 and 8 random hex digits, upper case, from the pool as from a single draw', () => {
    const ids = createQueueIds();
    for (const id of [ids(now), newQueueId(now)]) expect(id).toMatch(new RegExp(`^${prefix}[0-9A-F]{8}$`));
  });

  it('a refill of the pool (1024 ids) draws new bytes: ids within one millisecond do not repeat the pool', () => {
    const ids = createQueueIds();
    const drawn = Array.from({ length: 3072 }, () => ids(now));
    // 32 random bits: two equal ids among 3072 are possible (p ≈ 0.1 %), a reused pool would repeat all 1024.
    expect(new Set(drawn).size).toBeGreaterThan(3060);
    expect(drawn.slice(0, 1024).filter((id, i) => id === drawn[i + 1024] || id === drawn[i + 2048])).toEqual([]);
    // Two sources (two ledgers in one process) draw their own bytes.
    const other = createQueueIds();
    expect(drawn).not.toContain(other(now));
  });
});
