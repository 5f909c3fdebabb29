import { describe, expect, it } from 'vitest';
import { createManualClock } from '../src/core/clock.js';
import { createBreaker } from '../src/providers/breaker.js';
import { mayFailOver, pickRoute, type Route, type RouteTarget } from '../src/providers/routes.js';

/* Routes, failover and the circuit breaker (issue 24): the pure rules, one row per case. */

const routes: Route[] = [
  { match: { country: ['US', 'CA'] }, providers: ['twilio-us'], sender: '+15005550006' },
  { match: { prefix: ['+4520'], setup: ['alerts'] }, providers: ['office'] },
  { match: { category: ['alert'] }, providers: ['gw', 'office'] },
  { providers: ['gw'] },
];
const target = (over: Partial<RouteTarget>): RouteTarget => ({ recipient: '+4530000000', country: 'DK', setupId: 'news', category: 'marketing', ...over });

describe('pickRoute: the first route whose every condition holds', () => {
  it.each([
    ['a US number', target({ recipient: '+12025550100', country: 'US' }), ['twilio-us']],
    ['a Canadian alert still goes the country route first', target({ recipient: '+16135550100', country: 'CA', category: 'alert' }), ['twilio-us']],
    ['prefix and setup both hold', target({ recipient: '+4520123456', setupId: 'alerts', category: 'alert' }), ['office']],
    ['prefix holds but not the setup: the category route', target({ recipient: '+4520123456', setupId: 'other', category: 'alert' }), ['gw', 'office']],
    ['a marketing SMS: the default route', target({}), ['gw']],
    ['a number of unknown country matches no country route', target({ recipient: '+88299999999', country: undefined }), ['gw']],
  ])('%s', (_name, to, providers) => {
    expect(pickRoute(routes, to)?.providers).toEqual(providers);
  });

  it('no default route: an SMS that matches nothing has no route', () => {
    expect(pickRoute(routes.slice(0, 1), target({}))).toBeUndefined();
  });
});

describe('mayFailOver: only when the provider certainly did not send it', () => {
  it.each([
    ['connection refused, DNS, TLS, 5xx, 429', { ok: false as const, temporary: true }, true],
    ['a timeout after the request was written (the provider may have sent it)', { ok: false as const, temporary: true, unknown: true }, false],
    ['a permanent refusal of the recipient', { ok: false as const, temporary: false }, false],
  ])('%s → %s', (_name, result, expected) => {
    expect(mayFailOver(result)).toBe(expected);
  });
});

describe('the circuit breaker', () => {
  it('opens after the threshold, lets one probe through after the cool-off, closes on its success', () => {
    const clock = createManualClock();
    const breaker = createBreaker({ threshold: 3, coolOffMs: 30_000, clock });
    for (let i = 0; i < 2; i++) breaker.failure('HTTP 503');
    expect(breaker.allow()).toBe(true);
    breaker.failure('HTTP 503');
    expect(breaker.snapshot()).toMatchObject({ state: 'open', failures: 3, lastError: 'HTTP 503' });
    expect(breaker.allow()).toBe(false);
    clock.advance(30_000);
    expect(breaker.snapshot().state).toBe('half-open');
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false); // one probe at a time
    breaker.success();
    expect(breaker.snapshot()).toEqual({ state: 'closed', failures: 0, lastError: 'HTTP 503' });
    expect(breaker.allow()).toBe(true);
  });

  it('a failed probe opens it again for a whole cool-off', () => {
    const clock = createManualClock();
    const breaker = createBreaker({ threshold: 1, coolOffMs: 10_000, clock });
    breaker.failure('refused');
    clock.advance(10_000);
    expect(breaker.allow()).toBe(true);
    breaker.failure('refused again');
    expect(breaker.snapshot().state).toBe('open');
    clock.advance(9_999);
    expect(breaker.allow()).toBe(false);
    clock.advance(1);
    expect(breaker.allow()).toBe(true);
  });

  it('a success in between resets the count: failures must come in a row', () => {
    const breaker = createBreaker({ threshold: 2, coolOffMs: 1000, clock: createManualClock() });
    breaker.failure('x');
    breaker.success();
    breaker.failure('y');
    expect(breaker.snapshot().state).toBe('closed');
  });
});
