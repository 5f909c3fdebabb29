import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { ReadersBusyError } from '../src/core/errors.js';
import { createConsole, CONSOLE_PREFIX } from '../src/http/console/console.js';
import { createHttpApi } from '../src/http/server.js';
import { createReadGate } from '../src/ledger/read-gate.js';
import { startLedgerReaders } from '../src/ledger/sqlite/readers.js';
import type { LedgerReads } from '../src/ledger/read-gate.js';
import { startLedgerThread, type LedgerThread } from '../src/ledger/sqlite/thread.js';
import type { SmsProvider } from '../src/providers/types.js';
import { quietLogger } from './ledger-fixture.js';

/*
 * Issue 25, item 2: the console's reads are bounded. At most `slots` run at
 * once, `maxWaiting` more wait, and the next page is refused with 503 and
 * Retry-After rather than queued without end; the reader threads answer what
 * the ledger thread would, from their own connection.
 */

describe('the read gate', () => {
  it('runs `slots` reads at once, lets `maxWaiting` wait, refuses the next, and hands a freed slot to the first in line', async () => {
    const gate = createReadGate({ slots: 2, maxWaiting: 1 });
    const finish: (() => void)[] = [];
    const order: string[] = [];
    const read = (name: string) =>
      gate.run(async () => {
        order.push(name);
        await new Promise<void>((resolve) => finish.push(resolve));
        return name;
      });
    const a = read('a');
    const b = read('b');
    const c = read('c');
    await expect(read('d')).rejects.toBeInstanceOf(ReadersBusyError);
    await Promise.resolve();
    expect(order).toEqual(['a', 'b']);
    expect(gate.load()).toEqual({ running: 2, waiting: 1 });
    finish[0]?.();
    expect(await a).toBe('a');
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['a', 'b', 'c']);
    expect(gate.load()).toEqual({ running: 2, waiting: 0 });
    finish[1]?.();
    finish[2]?.();
    expect([await b, await c]).toEqual(['b', 'c']);
    expect(gate.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('frees the slot of a read that failed', async () => {
    const gate = createReadGate({ slots: 1, maxWaiting: 0 });
    await expect(gate.run(() => Promise.reject(new Error('disk')))).rejects.toThrow('disk');
    expect(await gate.run(() => Promise.resolve('next'))).toBe('next');
  });
});

describe('reader threads on a real ledger file', () => {
  const HOT = '+4529999999';
  const TOKEN = 'console-gate-token-0123456789abcdef';
  let dir: string;
  let ledger: LedgerThread;
  let readers: LedgerReads;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mail2sms-gate-'));
    // In a process of its own (bench/hot-number.ts says why).
    execFileSync(process.execPath, ['dist/bench/hot-number.js', join(dir, 'ledger.db'), HOT, '2000']);
    ledger = await startLedgerThread({ path: join(dir, 'ledger.db'), bookkeepingDelayMs: 10, logLevel: 'silent', logger: quietLogger() });
  });
  afterAll(async () => {
    await readers?.close();
    await ledger?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answer what the ledger thread answers, from their own connection', async () => {
    readers = startLedgerReaders({ path: join(dir, 'ledger.db'), logger: quietLogger() });
    const now = Date.now();
    const first = await readers.consoleQuery({ kind: 'history', recipient: HOT, limit: 100, now });
    expect(first).toEqual(await ledger.consoleQuery({ kind: 'history', recipient: HOT, limit: 100, now }));
    const deep = { kind: 'history' as const, recipient: HOT, limit: 100, now, skip: 1900 };
    expect(await readers.consoleQuery(deep)).toEqual(await ledger.consoleQuery(deep));
    const queueId = first.entries[0]?.queueId as string;
    expect(await readers.mailStatus(queueId)).toEqual(await ledger.mailStatus(queueId));
    await readers.close();
  });

  it('a page beyond what the readers take is refused with 503 and Retry-After, and the next one is served', async () => {
    readers = startLedgerReaders({ path: join(dir, 'ledger.db'), logger: quietLogger(), readers: 1, maxWaiting: 0 });
    const opsConsole = createConsole({
      ledger: readers, tokens: () => [{ name: 'helpdesk', sha256: createHash('sha256').update(TOKEN).digest('hex'), scopes: ['console'] }],
      setups: () => [], status: () => ({ startedAt: 0, pid: process.pid, host: 'test', ledger: { backend: 'sqlite', path: dir }, dispatching: true }),
      refusals: () => ({}), secure: () => false, clock: systemClock, logger: quietLogger(),
    });
    // This test never posts receipts or inbound SMS: the provider is never called.
    const http = createHttpApi({ listen: { host: '127.0.0.1', port: 0 }, ledger, provider: {} as SmsProvider, logger: quietLogger(), mounts: [{ prefix: CONSOLE_PREFIX, handle: opsConsole.handle }] });
    const port = await http.start();
    try {
      const get = () => fetch(`http://127.0.0.1:${port}/console/numbers/${encodeURIComponent(HOT)}?page=19`, { headers: { authorization: `Bearer ${TOKEN}` } });
      // The first starts the one reader thread and reads; the others arrive while it does.
      const answers = await Promise.all([get(), get(), get()]);
      const statuses = answers.map((a) => a.status);
      expect(statuses[0]).toBe(200);
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);
      const refused = answers.find((a) => a.status === 503);
      expect(refused?.headers.get('retry-after')).toBe('1');
      expect(await refused?.text()).toContain('busy');
      expect((await get()).status).toBe(200);
    } finally {
      await http.stop();
    }
  });
});
