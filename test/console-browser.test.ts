import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { parse, stringify } from 'yaml';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, queueIdOf, sendMail, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * The operations console in a real browser (Debian's chromium driven by
 * playwright-core) against a running daemon on random ports: log in, find a
 * number, follow it to its mail; the security headers; that no page changes
 * anything; masking without console:pii; an SMS text that looks like HTML
 * shown as text. The screenshots in docs/console.md come from this run.
 */

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args], { cwd: process.cwd() });
// The screenshots docs/console.md shows: written to docs/console with MAIL2SMS_SCREENSHOTS=1, else to a temp dir, so a test run leaves the tree clean.
const SCREENSHOTS = process.env.MAIL2SMS_SCREENSHOTS === '1' ? join(process.cwd(), 'docs', 'console') : mkdtempSync(join(tmpdir(), 'mail2sms-screens-'));

const ONCALL = 'oncall-token-with-console-and-pii-0123456789';
const HELPDESK = 'helpdesk-token-with-console-only-0123456789';
const CAMPAIGN = 'campaign-token-without-scopes-0123456789';
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

const N1 = '+4520123456';
const N2 = '+4520654321';
const N3 = '+4520777777';
const HTML_TEXT = `<script>document.title='pwned'</script><b>bold</b> & "db1" <img src=x onerror=alert(1)> is down`;
const CSP = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const TABLES = ['messages', 'outbox', 'events', 'sends', 'receipts', 'receipt_parts', 'consent_events', 'inbound_messages', 'schema_migrations'];

let dirs: TestDirs;
let t: TestDaemon;
let base: string;
let browser: Browser;
let firstQueueId: string;

function rowCounts(): Record<string, number> {
  const db = new Database(dirs.dbFile, { readonly: true });
  try {
    return Object.fromEntries(TABLES.map((table) => [table, (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

const get = (path: string, token?: string, init: RequestInit = {}) =>
  fetch(base + path, { redirect: 'manual', ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string> | undefined) } });

async function logIn(context: BrowserContext, token: string): Promise<Page> {
  const page = await context.newPage();
  const first = await page.goto(`${base}/console/`);
  expect(first?.status()).toBe(401);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL(`${base}/console/`), page.click('button[type=submit]')]);
  return page;
}

beforeAll(async () => {
  dirs = writeConfig({
    main: {
      http: {
        listen: '127.0.0.1:0',
        console: { enabled: true },
        tokens: [
          { name: 'oncall', sha256: sha256(ONCALL), scopes: ['console', 'console:pii'] },
          { name: 'helpdesk', sha256: sha256(HELPDESK), scopes: ['console'] },
          { name: 'campaign-tool', sha256: sha256(CAMPAIGN) },
        ],
      },
    },
    setups: [alertsSetup({ description: 'Monitoring alerts from the data centre' })],
  });
  t = await startTestDaemon(dirs);
  base = `http://127.0.0.1:${t.daemon.ports.http}`;

  const first = await sendMail({ port: t.smtpPort, from: 'nagios@example.test', to: `${N1}@sms.example.test`, subject: 'db1', text: HTML_TEXT });
  expect(first.code).toBe(250);
  firstQueueId = queueIdOf(first.response);
  // N1 is in its cooldown now: suppressed; N2 gets it.
  const second = await sendMail({ port: t.smtpPort, from: 'nagios@example.test', to: [`${N1}@sms.example.test`, `${N2}@sms.example.test`], text: 'Disk full on web2' });
  expect(second.code).toBe(250);
  const later = new Date(Date.now() + 86_400_000).toISOString();
  const scheduled = await sendMail({ port: t.smtpPort, from: 'nagios@example.test', to: `${N3}@sms.example.test`, text: 'Maintenance tomorrow', headers: { 'X-SMS-Send-At': later } });
  expect(scheduled.code).toBe(250);
  const stop = await fetch(`${t.simUrl}/simulate/inbound`, { method: 'POST', body: JSON.stringify({ from: N1, text: 'STOP' }) });
  expect(stop.status).toBe(200);
  // Everything but the scheduled row settles (delivered, suppressed) before pages are read.
  await waitFor(async () => {
    const rows = await t.daemon.ledger.outbox();
    return rows.length === 4 && rows.filter((r) => r.status === 'delivered').length === 2 && rows.filter((r) => r.status === 'queued').length === 1;
  }, 'two delivered, one suppressed, one scheduled');

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // Playwright adds a fresh --user-data-dir of its own for every launch.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  dirs?.cleanup();
});

describe('operations console: access', () => {
  it('answers 401 without a token, 403 for a token without the console scope, 200 with it', async () => {
    expect((await get('/console/')).status).toBe(401);
    expect((await get('/console/?format=json')).status).toBe(401);
    expect((await get('/console/queue', 'not-a-token')).status).toBe(401);
    expect((await get('/console/', CAMPAIGN)).status).toBe(403);
    expect((await get('/console/', HELPDESK)).status).toBe(200);
    expect((await get('/console/', ONCALL)).status).toBe(200);
  });

  it('keeps the old meaning of a token without scopes, and a console token cannot report sends', async () => {
    const body = JSON.stringify({ number: '+4520999999', ref: 'scope-check' });
    const headers = { 'content-type': 'application/json' };
    expect((await get('/sends', ONCALL, { method: 'POST', body, headers })).status).toBe(403);
    expect((await get('/sends', CAMPAIGN, { method: 'POST', body, headers })).status).toBe(200);
  });

  it('refuses a login form posted from another site (login CSRF)', async () => {
    const form = { method: 'POST', body: `token=${ONCALL}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    const crossSite = await get('/console/login', undefined, { ...form, headers: { ...form.headers, 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('set-cookie')).toBeNull();
    const foreign = await get('/console/login', undefined, { ...form, headers: { ...form.headers, origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    const own = await get('/console/login', undefined, { ...form, headers: { ...form.headers, 'sec-fetch-site': 'same-origin' } });
    expect(own.status).toBe(303);
    expect(own.headers.get('set-cookie')).toMatch(/^mail2sms_console=[\w-]{43}; Path=\/console; HttpOnly; SameSite=Strict$/);
  });

  it('sends the strict security headers on every console answer, the login page and errors included', async () => {
    for (const [path, token] of [['/console/', ONCALL], ['/console/', undefined], ['/console/login', undefined], ['/console/nowhere', ONCALL], ['/console/', CAMPAIGN]] as const) {
      const response = await get(path, token);
      expect(response.headers.get('content-security-policy'), path).toBe(CSP);
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });
});

describe('operations console in a browser', () => {
  it('logs in with the form, finds a number and follows it to its mail, which shows an HTML-looking text as text', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const login = await context.newPage();
    await login.goto(`${base}/console/login`);
    await login.screenshot({ path: join(SCREENSHOTS, 'login.png') });
    const page = await logIn(context, ONCALL);

    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'mail2sms_console', httpOnly: true, sameSite: 'Strict', secure: false, path: '/console' });
    expect(await page.textContent('h1')).toBe('Overview');
    expect(await page.textContent('main')).toContain('alerts');
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true });

    await page.fill('input[name=q]', '0045 20 12 34 56');
    await Promise.all([page.waitForURL(`${base}/console/numbers/${N1}`), page.click('header button[type=submit]')]);
    expect(await page.textContent('h1')).toBe(`Number ${N1}`);
    const history = await page.textContent('main');
    expect(history).toContain('opt-out (all SMS)');
    expect(history).toContain('cooldown');
    await page.screenshot({ path: join(SCREENSHOTS, 'number.png'), fullPage: true });

    await Promise.all([page.waitForURL(`${base}/console/mails/${firstQueueId}`), page.click(`a[href="/console/mails/${firstQueueId}"] >> nth=0`)]);
    expect(await page.textContent('h1')).toBe(`Mail ${firstQueueId}`);
    const stored = (await t.daemon.ledger.consoleQuery({ kind: 'mail', queueId: firstQueueId, eventLimit: 10 })).message?.text;
    expect(stored).toContain('<script>');
    expect(await page.innerText('pre.sms')).toBe(stored);
    expect(await page.locator('pre.sms *').count()).toBe(0); // no element was made from the text
    expect(await page.title()).toBe(`Mail ${firstQueueId} · mail2sms`);
    expect(await page.textContent('main')).toContain('delivered');
    await page.screenshot({ path: join(SCREENSHOTS, 'mail.png'), fullPage: true });

    await page.click('nav >> text=Queue');
    expect(await page.textContent('main')).toContain('scheduled by X-SMS-Send-At');
    await page.screenshot({ path: join(SCREENSHOTS, 'queue.png'), fullPage: true });
    await page.click('nav >> text=Setups');
    expect(await page.textContent('main')).toContain('Monitoring alerts from the data centre');
    await context.close();
  });

  it('changes nothing: every link crawled, every other method refused, the ledger rows unchanged', async () => {
    const before = rowCounts();
    const context = await browser.newContext();
    const page = await logIn(context, ONCALL);
    const seen = new Set<string>();
    const queue = ['/console/', `/console/search?q=${encodeURIComponent(N2)}`];
    while (queue.length > 0 && seen.size < 100) {
      const path = queue.shift() as string;
      if (seen.has(path)) continue;
      seen.add(path);
      const response = await page.goto(base + path);
      expect(response?.status(), path).toBeLessThan(400);
      expect(await response?.headerValue('content-security-policy')).toBe(CSP);
      const links = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href') ?? ''));
      for (const link of links) if (link.startsWith('/console/') && !seen.has(link)) queue.push(link);
    }
    expect([...seen].some((p) => p.startsWith('/console/mails/'))).toBe(true);
    expect([...seen].some((p) => p.startsWith('/console/consent/'))).toBe(true);
    for (const path of seen) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        const response = await get(path, ONCALL, { method, body: 'token=x' });
        expect(response.status, `${method} ${path}`).toBe(405);
      }
    }
    expect((await get('/console/login', undefined, { method: 'POST', body: 'token=wrong', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(401);
    expect(rowCounts()).toEqual(before);
    await context.close();
  });

  it('masks numbers and hides SMS texts for a reader without console:pii', async () => {
    const context = await browser.newContext();
    const page = await logIn(context, HELPDESK);
    for (const path of ['/console/', '/console/queue', `/console/mails/${firstQueueId}`, `/console/numbers/${N1}`, `/console/consent/${N1}`]) {
      await page.goto(base + path);
      const text = await page.innerText('body');
      for (const number of [N1, N2, N3]) expect(text, path).not.toContain(number);
      expect(text).not.toContain('db1');
      expect(text).not.toContain('Disk full');
    }
    await page.goto(`${base}/console/mails/${firstQueueId}`);
    expect(await page.innerText('main')).toContain('+4520****56');
    expect(await page.innerText('main')).toContain('needs the console:pii scope');
    // Crawled from the state pages, no full number appears even in the markup.
    for (const path of ['/console/', '/console/queue', `/console/mails/${firstQueueId}`]) {
      await page.goto(base + path);
      for (const number of [N1, N2, N3]) expect(await page.content(), path).not.toContain(number);
    }
    const json = await (await get(`/console/mails/${firstQueueId}?format=json`, HELPDESK)).text();
    expect(json).not.toContain(N1);
    expect(json).not.toContain('pwned');
    await context.close();
  });
});

describe('operations console as JSON', () => {
  it('gives a number page the same data as `mail2sms history --json`, and a consent page that of `consent show --json`', async () => {
    const history = await (await get(`/console/numbers/${N1}?format=json`, ONCALL)).json();
    expect(history).toEqual(JSON.parse((await cli('history', N1, '--json', '-c', dirs.configFile)).stdout));
    const consent = await (await get(`/console/consent/${N1}?format=json`, ONCALL)).json();
    expect(consent).toEqual(JSON.parse((await cli('consent', 'show', N1, '--json', '-c', dirs.configFile)).stdout));
  });

  it('gives a mail page the data of `mail2sms status --json`, and the queue that of `queue --json` (plus why, in words)', async () => {
    const mail = await (await get(`/console/mails/${firstQueueId}?format=json`, ONCALL)).json();
    expect(mail).toEqual(JSON.parse((await cli('status', firstQueueId, '--json', '-c', dirs.configFile)).stdout));
    const queue = (await (await get('/console/queue?format=json', ONCALL)).json()) as { why: string }[];
    expect(queue.map(({ why: _why, ...entry }) => entry)).toEqual(JSON.parse((await cli('queue', '--json', '-c', dirs.configFile)).stdout));
    expect(queue).toEqual([expect.objectContaining({ recipient: N3, state: 'scheduled', why: expect.stringContaining('X-SMS-Send-At') })]);
  });

  it('finds a mail by its queue id and by the ref of its SMTP transaction', async () => {
    const byId = await get(`/console/search?q=${firstQueueId}`, ONCALL);
    expect(byId.status).toBe(303);
    expect(byId.headers.get('location')).toBe(`/console/mails/${firstQueueId}`);
    const sessionRef = (await t.daemon.ledger.consoleQuery({ kind: 'mail', queueId: firstQueueId, eventLimit: 1 })).message?.sessionRef;
    expect(sessionRef).toMatch(/\.1$/);
    const byRef = await get(`/console/search?q=${encodeURIComponent(`[ref ${sessionRef}]`)}`, ONCALL);
    expect(byRef.headers.get('location')).toBe(`/console/mails/${firstQueueId}`);
    expect((await get('/console/search?q=nothing-like-this', ONCALL)).status).toBe(404);
  });

  it('reports the overview: queue counts per setup, the last hour, the ledger', async () => {
    const overview = (await (await get('/console/?format=json', ONCALL)).json()) as {
      setups: { setupId: string; scheduled: number }[];
      lastHour: { outcomes: { status: string; reason: string; count: number }[] };
      ledger: { backend: string };
    };
    expect(overview.setups).toContainEqual(expect.objectContaining({ setupId: 'alerts', scheduled: 1 }));
    expect(overview.lastHour.outcomes).toContainEqual({ status: 'suppressed', reason: 'cooldown', count: 1 });
    expect(overview.ledger.backend).toBe('sqlite');
  });
});

describe('operations console switched by reload', () => {
  it('is off (404) once http.console.enabled is false, on again after the next reload, which the overview reports', async () => {
    const original = readFileSync(dirs.configFile, 'utf8');
    const main = parse(original) as { http: { console: { enabled: boolean } } };
    main.http.console.enabled = false;
    writeFileSync(dirs.configFile, stringify(main));
    expect(await t.daemon.reload()).toEqual({ ok: true, needsRestart: [] });
    expect((await get('/console/', ONCALL)).status).toBe(404);
    writeFileSync(dirs.configFile, original);
    expect(await t.daemon.reload()).toEqual({ ok: true, needsRestart: [] });
    const overview = (await (await get('/console/?format=json', ONCALL)).json()) as { lastReload: { ok: boolean } | null };
    expect(overview.lastReload).toMatchObject({ ok: true });
  });
});

