import { describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { createPacer } from '../src/dispatch/pace.js';

/** Starts as many calls as the pacer allows, asking again when it says, for `ms` of clock time. */
function drive(rate: number, ms: number, fillFirst = false): number[] {
  const clock = createManualClock(0);
  const pacer = createPacer(rate, clock);
  if (fillFirst) pacer.fill();
  const starts: number[] = [];
  while (clock.now() < ms) {
    const wait = pacer.tryStart();
    if (wait === 0) starts.push(clock.now());
    else clock.advance(Math.min(wait, 7)); // a late or early timer: ask again at odd steps
  }
  return starts;
}

function busiestSecond(times: number[]): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while ((times[i] as number) - (times[j] as number) >= 1000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('createPacer', () => {
  it('never lets more than the limit start in any sliding second, and keeps close to it', () => {
    const starts = drive(100, 5000);
    expect(busiestSecond(starts)).toBe(100);
    expect(starts.length).toBeGreaterThanOrEqual(480);
  });

  it('a fractional rate allows its whole calls per second; below one per second, one per 1/rate s', () => {
    expect(busiestSecond(drive(2.5, 10_000))).toBe(2);
    const slow = drive(0.5, 10_000);
    expect(slow.every((t, i) => i === 0 || t - (slow[i - 1] as number) >= 2000)).toBe(true);
  });

  it('fill() holds every start for a whole window (a newly elected dispatcher)', () => {
    const starts = drive(100, 3000, true);
    expect(starts[0]).toBeGreaterThanOrEqual(1000);
  });
});
