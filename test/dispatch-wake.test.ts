import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, systemClock } from '../src/core/clock.js';
import { createDispatcher, type Dispatcher } from '../src/dispatch/worker.js';
import type { Ledger } from '../src/ledger/types.js';
import { createProviderSimulator, type ProviderSimulator } from '../src/simulator/server.js';
import { createSimulatorProvider } from '../src/providers/simulator-client.js';
import { intakeMessage, openTestLedger, quietLogger, type TestLedger } from './ledger-fixture.js';
import { SIM_SECRET, waitFor } from './helpers.js';

/*
 * What wakes dispatch: a commit that queued rows tells when the earliest of
 * them is due. Rows due now are claimed at once; a scheduled mail's rows,
 * due after the look already armed, cost no claim of their own. Real SQLite,
 * the real simulator over HTTP; the clock is moved by hand, and the poll is
 * set beyond the test so only a wake can make a claim.
 */

const HOUR = 3_600_000;
const clock = createManualClock();
let t: TestLedger;
let simulator: ProviderSimulator;
let simUrl: string;
let dispatcher: Dispatcher;
const calls = { claims: 0, nextDue: 0 };

beforeEach(async () => {
  calls.claims = 0;
  calls.nextDue = 0;
  t = openTestLedger(clock);
  simulator = createProviderSimulator({ listen: { host: '127.0.0.1', port: 0 }, secret: SIM_SECRET, receiptDelayMs: 60_000, logger: quietLogger() });
  simUrl = (await simulator.start()).url;
  // The real ledger, with its claims and due-time reads counted.
  const ledger: Ledger = Object.assign(Object.create(t.ledger) as Ledger, {
    claimDue: (limit: number, leaseMs: number) => (calls.claims++, t.ledger.claimDue(limit, leaseMs)),
    nextDueAt: () => (calls.nextDue++, t.ledger.nextDueAt()),
  });
  dispatcher = createDispatcher({
    ledger, clock, logger: quietLogger(), callbackUrl: 'http://127.0.0.1:1/receipts', concurrency: 4,
    provider: createSimulatorProvider({ baseUrl: simUrl, secret: SIM_SECRET, timeoutMs: 5000, maxSockets: 4, clock: systemClock }),
    pollIntervalMs: 600_000, leaseMs: 60_000, maxAttempts: 3, retryBaseMs: 1000,
  });
  t.ledger.onQueued((dueAt) => dispatcher.wake(dueAt));
  dispatcher.start();
  // The first look: one claim (nothing due), then the next look armed from the ledger's due times.
  await waitFor(() => calls.nextDue === 1, 'the first look to arm the next');
  await new Promise((resolve) => setImmediate(resolve));
});
afterEach(async () => {
  await dispatcher.stop();
  await t.close();
  await simulator.stop();
});

const sentTexts = async () => ((await (await fetch(`${simUrl}/messages`)).json()) as { text: string }[]).map((m) => m.text);

describe('dispatch wakes by due time', () => {
  it('a scheduled mail queues its row without a claim; a mail due now is claimed and sent at once', async () => {
    expect(calls.claims).toBe(1);
    const scheduled = await t.ledger.acceptMessage(intakeMessage(['+4520123401'], { text: 'Tomorrow', sendAt: clock.now() + HOUR }));
    expect(scheduled.decisions.map((d) => d.outcome)).toEqual(['queued']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.claims).toBe(1);

    await t.ledger.acceptMessage(intakeMessage(['+4520123402'], { text: 'Now' }));
    await waitFor(async () => (await sentTexts()).includes('Now'), 'the SMS due now at the simulator');
    expect(calls.claims).toBeGreaterThan(1);
    expect(await sentTexts()).not.toContain('Tomorrow');
  });

  it('the scheduled row is still there for the look at its time', async () => {
    await t.ledger.acceptMessage(intakeMessage(['+4520123403'], { text: 'Later', sendAt: clock.now() + HOUR }));
    expect(await t.ledger.nextDueAt()).toBe(clock.now() + HOUR);
    clock.advance(HOUR);
    dispatcher.wake();
    await waitFor(async () => (await sentTexts()).includes('Later'), 'the scheduled SMS at the simulator once due');
  });

  it('rows due before the look armed get a look at their time, with no poll and no other wake', async () => {
    await t.ledger.acceptMessage(intakeMessage(['+4520123404'], { text: 'Soon', sendAt: clock.now() + 50 }));
    clock.advance(50);
    await waitFor(async () => (await sentTexts()).includes('Soon'), 'the SMS at the simulator at its time');
  });
});
