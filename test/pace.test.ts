import { describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { createPacer } from '../src/dispatch/pace.js';

/**
 * Starts as many calls as the pacer allows for `ms` of clock time, each
 * answered `latencyMs` after its start; returns the starts and the answers.
 */
function drive(rate: number, ms: number, options: { latencyMs?: (i: number) => number; fillFirst?: boolean } = {}): { starts: number[]; answers: number[] } {
  const clock = createManualClock(0);
  const pacer = createPacer(rate, clock);
  if (options.fillFirst) pacer.fill();
  const starts: number[] = [];
  const answers: number[] = [];
  const inFlight: { place: number; at: number }[] = [];
  while (clock.now() < ms) {
    for (const call of inFlight.filter((c) => c.at <= clock.now())) {
      pacer.finished(call.place);
      inFlight.splice(inFlight.indexOf(call), 1);
    }
    const asked = pacer.tryStart();
    if ('place' in asked) {
      const answerAt = clock.now() + (options.latencyMs?.(starts.length) ?? 0);
      starts.push(clock.now());
      answers.push(answerAt);
      inFlight.push({ place: asked.place, at: answerAt });
    } else clock.advance(Math.min(asked.waitMs, 7)); // a late or early timer: ask again at odd steps
  }
  return { starts, answers };
}

/** The most of `times` in any half-open second [t, t + 1000). */
function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= 1000) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('createPacer', () => {
  it('never lets more than the limit start in any sliding second, and keeps close to it', () => {
    const { starts } = drive(100, 5000);
    expect(busiestSecond(starts)).toBe(100);
    expect(starts.length).toBeGreaterThanOrEqual(480);
  });

  it('holds at the provider whenever each call arrives between its start and its answer (stalls included)', () => {
    // Every 37th call takes 300 ms (a stalled provider or event loop): its arrival may be anywhere in that time.
    const latency = (i: number) => (i % 37 === 0 ? 300 : 3);
    const { starts, answers } = drive(100, 6000, { latencyMs: latency });
    expect(busiestSecond(answers)).toBeLessThanOrEqual(100); // every call arriving as late as it can
    expect(busiestSecond(starts)).toBeLessThanOrEqual(100); // every call arriving at once
    // The worst mix: the early calls of any second arriving late, the later ones at once.
    const latest = starts.map((start, i) => (i % 2 === 0 ? (answers[i] as number) : start));
    expect(busiestSecond(latest)).toBeLessThanOrEqual(100);
  });

  it('a fractional rate allows its whole calls per second; below one per second, one per 1/rate s', () => {
    expect(busiestSecond(drive(2.5, 10_000).starts)).toBe(2);
    const slow = drive(0.5, 10_000).starts;
    expect(slow.every((t, i) => i === 0 || t - (slow[i - 1] as number) >= 2000)).toBe(true);
  });

  it('fill() holds every start for a whole window (a newly elected dispatcher)', () => {
    const { starts } = drive(100, 3000, { fillFirst: true });
    expect(starts[0]).toBeGreaterThanOrEqual(1000);
  });
});
