import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { alertsSetup, queueIdOf, sendMail, SIM_SECRET, simulatorMessages, simulatorStats, waitFor, writeConfig, type TestDirs } from './helpers.js';
import { freePort, startProcess, type Proc } from './process.js';

/*
 * No data loss: the daemon and the provider simulator as separate OS processes,
 * stopped, restarted and killed with SIGKILL while mail is arriving.
 */

const procs: Proc[] = [];
let dirs: TestDirs | undefined;
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  dirs?.cleanup();
});

function start(args: string[]): Proc {
  const proc = startProcess(args);
  procs.push(proc);
  return proc;
}

async function startDaemon(configFile: string): Promise<{ proc: Proc; smtp: number }> {
  const proc = start(['serve', '-c', configFile]);
  const ready = await proc.waitForLog('mail2sms ready');
  return { proc, smtp: (ready.ports as { smtp: number }).smtp };
}

function setupWithSimulatorAt(simPort: number): TestDirs {
  return writeConfig({
    setups: [alertsSetup({ cooldown: 'off' })],
    provider: { listen: `127.0.0.1:${simPort}`, embedded: false, timeout: '2s' },
    main: { dispatch: { poll_interval: '100ms', retry_base: '100ms', lease: '2s', concurrency: 8 }, log: { level: 'info' } },
  });
}

function numberFor(i: number): string {
  return `+${4520100000 + i}`; // valid Danish mobile numbers (libphonenumber max metadata)
}

describe('restart', () => {
  it('rows queued while the provider is down are sent after a restart, each once', async () => {
    const simPort = await freePort();
    dirs = setupWithSimulatorAt(simPort);
    const first = await startDaemon(dirs.configFile);
    const numbers = ['+4520123470', '+4520123471', '+4520123472'];
    for (const number of numbers) {
      const result = await sendMail({ port: first.smtp, from: 'ops@example.test', to: `${number}@sms.example.test`, text: `down ${number}` });
      expect(result.code).toBe(250);
    }
    // The provider is unreachable: the daemon retries and keeps the rows.
    await first.proc.waitForLog('send failed temporarily; will retry');
    expect(await first.proc.kill('SIGTERM')).toBe(0);
    await first.proc.waitForLog('mail2sms stopped');

    const sim = start(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10']);
    await sim.waitForLog('provider simulator ready');
    await startDaemon(dirs.configFile);
    const simUrl = `http://127.0.0.1:${simPort}`;
    const sent = await waitFor(async () => {
      const list = await simulatorMessages(simUrl);
      return list.length === 3 ? list : undefined;
    }, 'three SMS after restart');
    expect(sent.map((m) => m.to).sort()).toEqual(numbers);
    expect((await simulatorStats(simUrl)).duplicates).toBe(0);
  });
});

describe('kill -9 under load', () => {
  it('every mail answered 250 is sent exactly once after a restart', async () => {
    const simPort = await freePort();
    dirs = setupWithSimulatorAt(simPort);
    const sim = start(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10']);
    await sim.waitForLog('provider simulator ready');
    const simUrl = `http://127.0.0.1:${simPort}`;
    const daemon = await startDaemon(dirs.configFile);

    const total = 400;
    const accepted = new Map<string, string>(); // recipient → queue id
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const to = numberFor(i);
        const result = await sendMail({ port: daemon.smtp, from: 'ops@example.test', to: `${to}@sms.example.test`, text: `load ${i}` });
        if (result.code === 250) accepted.set(to, queueIdOf(result.response));
        if (!killed && accepted.size >= 120) {
          killed = true;
          daemon.proc.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(killed).toBe(true);
    await daemon.proc.exited;
    expect(accepted.size).toBeGreaterThanOrEqual(120);
    expect(accepted.size).toBeLessThan(total);

    await startDaemon(dirs.configFile);
    // Everything the ledger holds (acknowledged or committed just before the kill) gets sent.
    const ledger = new Database(dirs.dbFile, { readonly: true });
    const stored = (ledger.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
    ledger.close();
    expect(stored).toBeGreaterThanOrEqual(accepted.size);
    const messages = await waitFor(async () => {
      const list = await simulatorMessages(simUrl);
      return list.length >= stored ? list : undefined;
    }, `${stored} SMS at the simulator`, 45_000);

    const perNumber = new Map<string, number>();
    for (const sms of messages) perNumber.set(sms.to, (perNumber.get(sms.to) ?? 0) + 1);
    for (const [to] of accepted) expect([to, perNumber.get(to)]).toEqual([to, 1]);
    expect(messages).toHaveLength(stored);
    expect(new Set(messages.map((m) => m.idempotency_key)).size).toBe(messages.length);
  });
});
