import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { loadConfig } from '../src/config/load.js';
import { createOptOutGate } from '../src/consent/gate.js';
import { createInboundHandler } from '../src/inbound/handler.js';
import { createDispatcher } from '../src/dispatch/worker.js';
import { migrate, openDatabase } from '../src/ledger/sqlite/db.js';
import { createSqliteLedger } from '../src/ledger/sqlite/ledger.js';
import { createClaimPolicy } from '../src/dispatch/claim-policy.js';
import type { Ledger } from '../src/ledger/types.js';
import { createLogger } from '../src/core/log.js';
import { measureSms } from '../src/message/encoding.js';
import { createProviderSimulator, type ProviderSimulator } from '../src/simulator/server.js';
import { createSimulatorProvider } from '../src/providers/simulator-client.js';
import type { SmsProvider } from '../src/providers/types.js';
import { SIM_SECRET, waitFor, writeConfig, type TestDirs } from './helpers.js';

/*
 * Emails racing a STOP: dispatch sends a queue of SMS to one number while the
 * opt-out arrives. No provider call may start after the opt-out was handed to
 * the ledger (the gate closes before the commit is even asked for), and every
 * row not sent ends suppressed with reason opted_out. Real SQLite, the real
 * simulator over HTTP; the provider is wrapped only to note when calls start.
 */

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
const ROWS = 240;
let dirs: TestDirs;
let simulator: ProviderSimulator;
let simUrl: string;
let ledger: Ledger;

beforeAll(async () => {
  dirs = writeConfig();
  simulator = createProviderSimulator({ listen: { host: '127.0.0.1', port: 0 }, secret: SIM_SECRET, receiptDelayMs: 5, logger: quiet });
  simUrl = (await simulator.start()).url;
  const db = openDatabase(join(dirs.dir, 'race.db'));
  migrate(db);
  ledger = createSqliteLedger({ db, clock: systemClock, logger: quiet, claimPolicy: createClaimPolicy() });
});
afterAll(async () => {
  await ledger.close();
  await simulator.stop();
  dirs.cleanup();
});

describe('a STOP racing queued SMS to the same number', () => {
  it.each(['+4520123471', '+4520123472', '+4520123473'])('no provider call for %s starts after the opt-out is handed over', async (number) => {
    await fetch(`${simUrl}/faults`, { method: 'PUT', body: JSON.stringify({ latency_ms: 3 }) });
    for (let i = 0; i < ROWS; i++) {
      await ledger.acceptMessage({
        setupId: 'alerts', senderName: 'Example', mailFrom: 'ops@example.test', headerMessageId: `<race-${number}-${i}@example.test>`,
        bodyHash: `race-${number}-${i}`, clientIp: '127.0.0.1', sessionRef: `race.${i}`, text: `Alert ${i}`, measure: measureSms(`Alert ${i}`),
        recipients: [number], rules: { setupId: 'alerts', cooldownMs: null, purpose: null, dailyLimit: null, numberDailyLimit: null },
        stopClauseAppended: false,
      });
    }
    const starts: number[] = [];
    const real = createSimulatorProvider({ baseUrl: simUrl, secret: SIM_SECRET, timeoutMs: 5000, maxSockets: 8, clock: systemClock });
    const provider: SmsProvider = {
      name: real.name,
      idempotent: real.idempotent,
      send: (sms) => {
        starts.push(performance.now());
        return real.send(sms);
      },
      checkWebhookHeaders: real.checkWebhookHeaders,
      parseReceipt: real.parseReceipt,
      parseInbound: real.parseInbound,
      close: real.close,
    };
    const gate = createOptOutGate({ clock: systemClock, holdMs: 120_000 });
    const dispatcher = createDispatcher({
      ledger, provider, clock: systemClock, logger: quiet, callbackUrl: 'http://127.0.0.1:1/receipts', concurrency: 8,
      pollIntervalMs: 20, leaseMs: 60_000, maxAttempts: 8, retryBaseMs: 20, gate,
    });
    const config = loadConfig(dirs.configFile);
    const handle = createInboundHandler({ ledger, getSettings: () => config.main.consent, gate, logger: quiet, clock: systemClock });
    dispatcher.start();
    await waitFor(() => starts.length >= 30, 'some SMS sent');
    const handedOver = performance.now();
    await handle({ providerId: `stop-${number}`, from: number, to: undefined, text: 'STOP', receivedAt: Date.now() });
    await waitFor(async () => {
      const rows = await ledger.outbox({ recipient: number });
      return rows.every((r) => r.status !== 'queued' && r.status !== 'sending');
    }, 'every row settled');
    await dispatcher.stop();
    real.close();

    const late = starts.filter((t) => t >= handedOver);
    const rows = await ledger.outbox({ recipient: number });
    const sent = rows.filter((r) => r.status === 'sent' || r.status === 'delivered').length;
    const suppressed = rows.filter((r) => r.status === 'suppressed' && r.reason === 'opted_out').length;
    const atProvider = (await (await fetch(`${simUrl}/messages`)).json() as { to: string }[]).filter((m) => m.to === number).length;
    console.log(`${number}: ${sent} sent before the STOP, ${suppressed} suppressed, ${late.length} calls started after it`);
    expect(late).toEqual([]);
    expect(sent + suppressed).toBe(ROWS);
    expect(suppressed).toBeGreaterThan(0);
    expect(atProvider).toBe(sent);
  });
});
