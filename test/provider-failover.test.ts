import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, systemClock } from '../src/core/clock.js';
import { createBreaker } from '../src/providers/breaker.js';
import { createProviderGate } from '../src/providers/provider-gate.js';
import { createRoutedProvider, type NamedProvider } from '../src/providers/routed.js';
import type { OutgoingSms } from '../src/providers/types.js';
import { createSimulatorProvider } from '../src/providers/simulator-client.js';
import { createProviderSimulator, type ProviderSimulator } from '../src/simulator/server.js';
import { quietLogger } from './ledger-fixture.js';

/*
 * Failover between named providers (issue 24), against real providers: two
 * provider simulators over loopback, one of them stopped (connection refused)
 * or answering 503, or a server that takes the request and never answers.
 */

const SECRET = 'failover-test-secret-0123456789';
const clock = createManualClock();
let sims: ProviderSimulator[] = [];
let servers: Server[] = [];

async function simulator(faults = {}): Promise<{ url: string; sim: ProviderSimulator }> {
  const sim = createProviderSimulator({ listen: { host: '127.0.0.1', port: 0 }, secret: SECRET, receiptDelayMs: 60_000, logger: quietLogger(), faults });
  sims.push(sim);
  return { url: (await sim.start()).url, sim };
}

function named(url: string, timeoutMs = 2000): NamedProvider {
  return {
    provider: createSimulatorProvider({ baseUrl: url, secret: SECRET, timeoutMs, maxSockets: 4, clock: systemClock }),
    breaker: createBreaker({ threshold: 3, coolOffMs: 30_000, clock }),
  };
}

function withIdempotency(named: NamedProvider, idempotent: boolean): NamedProvider {
  return { ...named, provider: { ...named.provider, idempotent } };
}

async function sent(url: string): Promise<{ to: string }[]> {
  return (await (await fetch(`${url}/messages`)).json()) as { to: string }[];
}

const sms = (to: string): OutgoingSms => ({ to, from: 'Example', text: 'Pump 3 down', idempotencyKey: `k-${to}`, callbackUrl: 'http://127.0.0.1:1/receipts', setupId: 'alerts' });

beforeEach(() => {
  sims = [];
  servers = [];
});
afterEach(async () => {
  for (const sim of sims) await sim.stop();
  for (const server of servers) server.close();
});

describe('a route of two providers', () => {
  it('the primary refuses connections: every SMS goes via the second, once, and the hop is named', async () => {
    const first = await simulator();
    const second = await simulator();
    await first.sim.stop();
    sims = [second.sim];
    const routed = createRoutedProvider({
      providers: new Map([['primary', named(first.url)], ['backup', named(second.url)]]),
      routes: [{ providers: ['primary', 'backup'] }],
      categoryOf: () => 'alert',
      receiptUrl: (name, receipts) => `${receipts}/${name}`,
    });
    const numbers = Array.from({ length: 5 }, (_, i) => `+452012300${i}`);
    const results = await Promise.all(numbers.map((n) => routed.send(sms(n))));
    for (const result of results) {
      expect(result).toMatchObject({ ok: true, via: 'backup' });
      expect(result.hops?.[0]).toMatch(/^primary: provider unreachable: ECONNREFUSED/);
    }
    expect((await sent(second.url)).map((m) => m.to).sort()).toEqual(numbers);
    // Three refusals in a row opened the primary's circuit: later SMS skip it without a call.
    expect(routed.breakers().primary).toMatchObject({ state: 'open', failures: 5 });
    const later = await routed.send(sms('+4520123099'));
    expect(later).toMatchObject({ ok: true, via: 'backup', hops: ['primary: circuit open'] });
  });

  it('503 from the primary fails over; a permanent refusal of the number does not', async () => {
    const first = await simulator({ error_rate: 1, permanent_for: ['+4520123111'] });
    const second = await simulator();
    const routed = createRoutedProvider({
      providers: new Map([['primary', named(first.url)], ['backup', named(second.url)]]),
      routes: [{ providers: ['primary', 'backup'] }],
      categoryOf: () => 'alert',
      receiptUrl: (name, receipts) => `${receipts}/${name}`,
    });
    expect(await routed.send(sms('+4520123110'))).toMatchObject({ ok: true, via: 'backup' });
    await fetch(`${first.url}/faults`, { method: 'PUT', body: JSON.stringify({ permanent_for: ['+4520123111'] }) });
    const refused = await routed.send(sms('+4520123111'));
    expect(refused).toMatchObject({ ok: false, temporary: false, via: 'primary' });
    expect((await sent(second.url)).map((m) => m.to)).toEqual(['+4520123110']);
  });

  it.each([
    ['unknown at a provider without idempotency: left to on_unknown', false, true],
    ['at one that drops repeats of our key: a plain retry there', true, false],
  ])('a timeout after the request was written never fails over (the primary may have sent it); %s', async (_name, idempotent, unknown) => {
    const hanging = createServer(() => undefined); // takes every request, answers none
    servers.push(hanging);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const second = await simulator();
    const routed = createRoutedProvider({
      providers: new Map([['primary', withIdempotency(named(`http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, 300), idempotent)], ['backup', named(second.url)]]),
      routes: [{ providers: ['primary', 'backup'] }],
      categoryOf: () => 'alert',
      receiptUrl: (name, receipts) => `${receipts}/${name}`,
    });
    const result = await routed.send(sms('+4520123120'));
    expect(result).toMatchObject({ ok: false, temporary: true, unknown, via: 'primary' });
    expect(await sent(second.url)).toEqual([]);
  });

  it('the route follows the country, and its sender replaces the setup name', async () => {
    const us = await simulator();
    const eu = await simulator();
    const routed = createRoutedProvider({
      providers: new Map([['us', named(us.url)], ['eu', named(eu.url)]]),
      routes: [{ match: { country: ['US'] }, providers: ['us'], sender: '+15005550006' }, { providers: ['eu'] }],
      categoryOf: () => 'alert',
      receiptUrl: (name, receipts) => `${receipts}/${name}`,
    });
    expect(await routed.send(sms('+12025550123'))).toMatchObject({ ok: true, via: 'us' });
    expect(await routed.send(sms('+4520123130'))).toMatchObject({ ok: true, via: 'eu' });
    expect(await sent(us.url)).toMatchObject([{ to: '+12025550123', from: '+15005550006' }]);
    expect(await sent(eu.url)).toMatchObject([{ to: '+4520123130', from: 'Example' }]);
  });
});

describe("a provider's own concurrency and rate on a route", () => {
  /** The provider as it is, with its calls in flight counted and their starts timed (instrumentation, not a stand-in). */
  function counted(named: NamedProvider): { named: NamedProvider; most: () => number; starts: number[] } {
    let inFlight = 0;
    let most = 0;
    const starts: number[] = [];
    const send: NamedProvider['provider']['send'] = async (sms) => {
      starts.push(performance.now());
      most = Math.max(most, ++inFlight);
      try {
        return await named.provider.send(sms);
      } finally {
        inFlight--;
      }
    };
    return { named: { ...named, provider: { ...named.provider, send } }, most: () => most, starts };
  }

  it('concurrency 1: one call at a time, every SMS still sent', async () => {
    const slow = await simulator({ latency_ms: 50 });
    const probe = counted({ ...named(slow.url), gate: createProviderGate({ concurrency: 1, clock: systemClock }) });
    const routed = createRoutedProvider({
      providers: new Map([['only', probe.named]]), routes: [{ providers: ['only'] }], categoryOf: () => 'alert', receiptUrl: (name, receipts) => `${receipts}/${name}`,
    });
    const results = await Promise.all(['+4520123140', '+4520123141', '+4520123142', '+4520123143'].map((n) => routed.send(sms(n))));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(probe.most()).toBe(1);
  });

  it('rate_limit 10/s: call starts at least 100 ms apart (a lower bound: load can only widen it)', async () => {
    const fast = await simulator();
    const probe = counted({ ...named(fast.url), gate: createProviderGate({ ratePerSecond: 10, clock: systemClock }) });
    const routed = createRoutedProvider({
      providers: new Map([['only', probe.named]]), routes: [{ providers: ['only'] }], categoryOf: () => 'alert', receiptUrl: (name, receipts) => `${receipts}/${name}`,
    });
    await Promise.all(['+4520123150', '+4520123151', '+4520123152', '+4520123153'].map((n) => routed.send(sms(n))));
    const gaps = probe.starts.slice(1).map((at, i) => at - (probe.starts[i] as number));
    expect(gaps).toHaveLength(3);
    // Timers may fire a millisecond early against performance.now(); never by more.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(98);
  });
});
