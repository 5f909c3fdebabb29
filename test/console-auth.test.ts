import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleAuth, SESSION_COOKIE } from '../src/http/console/auth.js';
import { createConsole, CONSOLE_PREFIX } from '../src/http/console/console.js';
import { createHttpApi } from '../src/http/server.js';
import { startLedgerThread, type LedgerThread } from '../src/ledger/sqlite/thread.js';
import type { SmsProvider } from '../src/providers/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quietLogger } from './ledger-fixture.js';

/*
 * Issue 25, item 11: a login flood with one console token must not log
 * anyone else out. Sessions used to be evicted oldest first at 1,000 across
 * all tokens, with no limit on logins: 1,000 logins with a console-only token
 * ended every other user's session. Now logins are limited per address and
 * per token (429), and a token's flood replaces only its own sessions.
 */

const A = 'token-a-console-only-0123456789abcdef';
const B = 'token-b-oncall-console-pii-0123456789';
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
const TOKENS = [
  { name: 'helpdesk', sha256: sha256(A), scopes: ['console' as const] },
  { name: 'oncall', sha256: sha256(B), scopes: ['console' as const, 'console:pii' as const] },
];
const cookieOf = (sessionId: string) => ({ cookie: `${SESSION_COOKIE}=${sessionId}` });

describe('console sessions under a login flood', () => {
  it('2,000 logins with token A from many addresses, spread over time (no limit hit), leave token B\'s session working; A keeps its newest sessions only', () => {
    let now = Date.parse('2026-12-01T08:00:00Z');
    const auth = createConsoleAuth({ tokens: () => TOKENS, clock: { now: () => now }, secure: () => false, ttlMs: 30 * 86_400_000 });
    const b = auth.login(B, '192.0.2.1');
    if (!b.ok) throw new Error(b.error);
    const a: string[] = [];
    for (let i = 0; i < 2000; i++) {
      now += 7_000; // under 10 logins a minute with A
      const login = auth.login(A, `198.51.100.${i % 200}`);
      if (!login.ok) throw new Error(`login ${i}: ${login.error}`);
      a.push(login.sessionId);
    }
    expect(auth.grantOf(cookieOf(b.sessionId))?.name).toBe('oncall');
    // A's newest sessions work; its oldest were the ones replaced.
    expect(auth.grantOf(cookieOf(a.at(-1) as string))?.name).toBe('helpdesk');
    expect(auth.grantOf(cookieOf(a[0] as string))).toBeUndefined();
    expect(a.filter((id) => auth.grantOf(cookieOf(id)) !== undefined)).toHaveLength(50);
  });

  it('a token with no session left to give up is refused (429) when other tokens\' live sessions fill the table, never evicting one of theirs', () => {
    let now = Date.parse('2026-12-01T08:00:00Z');
    const auth = createConsoleAuth({ tokens: () => TOKENS, clock: { now: () => now }, secure: () => false, maxSessions: 3, maxSessionsPerToken: 3 });
    const bs = [1, 2, 3].map((i) => auth.login(B, `192.0.2.${i}`));
    now += 1000;
    const a = auth.login(A, '198.51.100.1');
    expect(a).toMatchObject({ ok: false, status: 429 });
    for (const b of bs) expect(b.ok && auth.grantOf(cookieOf(b.sessionId))?.name).toBe('oncall');
  });

  it('limits login attempts per address (wrong tokens count too) and logins per token across addresses, for a minute', () => {
    let now = Date.parse('2026-12-01T08:00:00Z');
    const auth = createConsoleAuth({ tokens: () => TOKENS, clock: { now: () => now }, secure: () => false });
    const fromOne = Array.from({ length: 12 }, (_, i) => auth.login(i % 2 ? 'wrong-token' : A, '203.0.113.7'));
    expect(fromOne.map((r) => (r.ok ? 200 : r.status))).toEqual([200, 401, 200, 401, 200, 401, 200, 401, 200, 401, 429, 429]);
    const fromMany = Array.from({ length: 12 }, (_, i) => auth.login(B, `198.51.100.${i}`));
    expect(fromMany.map((r) => (r.ok ? 200 : r.status))).toEqual([...Array(10).fill(200), 429, 429]);
    now += 60_000;
    expect(auth.login(A, '203.0.113.7').ok).toBe(true);
    expect(auth.login(B, '198.51.100.99').ok).toBe(true);
  });
});

describe('console login over HTTP', () => {
  let dir: string;
  let ledger: LedgerThread;
  let base: string;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mail2sms-login-'));
    ledger = await startLedgerThread({ path: join(dir, 'ledger.db'), bookkeepingDelayMs: 10, logLevel: 'silent', logger: quietLogger() });
    const opsConsole = createConsole({
      ledger, tokens: () => TOKENS, setups: () => [],
      status: () => ({ startedAt: 0, pid: process.pid, host: 'test', ledger: { backend: 'sqlite', path: dir }, dispatching: true }),
      refusals: () => ({}), secure: () => false, clock: { now: () => Date.now() }, logger: quietLogger(),
    });
    // This test never posts receipts or inbound SMS: the provider is never called.
    const http = createHttpApi({ listen: { host: '127.0.0.1', port: 0 }, ledger, provider: {} as SmsProvider, logger: quietLogger(), mounts: [{ prefix: CONSOLE_PREFIX, handle: opsConsole.handle }] });
    base = `http://127.0.0.1:${await http.start()}`;
    stop = () => http.stop();
  });
  afterAll(async () => {
    await stop?.();
    await ledger?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const login = (token: string) =>
    fetch(`${base}/console/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(token)}` });

  it('a flood of logins with token A gets 429 with Retry-After past the limit, and token B\'s session still reads the console', async () => {
    const b = await login(B);
    expect(b.status).toBe(303);
    const bCookie = (b.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const flood = [];
    for (let i = 0; i < 60; i++) flood.push(await login(A));
    const statuses = flood.map((r) => r.status);
    expect(statuses.filter((s) => s === 303).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(50);
    const refused = flood.find((r) => r.status === 429);
    expect(refused?.headers.get('retry-after')).toBe('60');
    expect(refused?.headers.get('set-cookie')).toBeNull();
    const page = await fetch(`${base}/console/`, { headers: { cookie: bCookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('oncall');
  });
});
