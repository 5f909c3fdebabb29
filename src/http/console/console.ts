import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../core/clock.js';
import { ReadersBusyError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { readBody } from '../../core/http-server-kit.js';
import type { Setup } from '../../config/schema.js';
import type { Ledger } from '../../ledger/types.js';
import type { ApiToken, Grant } from '../tokens.js';
import { createConsoleAuth } from './auth.js';
import type { Html } from './html.js';
import { loginPage, page, type Reader } from './layout.js';
import { createView } from './mask.js';
import type { DaemonStatus, PageContext, PageOutcome } from './page-types.js';
import { consentPage, mailPage, numberPage, readE164, searchPage } from './pages-number.js';
import { overviewPage, queuePage, setupsPage } from './pages-state.js';
import { CONSOLE_CSS } from './style.js';

/*
 * The operations console at /console/: read-only pages over the ledger and
 * the config. Safe by construction: GET only (the login form's POST changes
 * no ledger state), every value escaped by the html template, no script, and
 * headers that forbid scripts, framing, foreign styles and referrers.
 */

export const CONSOLE_PREFIX = '/console';

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-resource-policy': 'same-origin',
};

export interface ConsoleDeps {
  ledger: Pick<Ledger, 'consoleQuery' | 'mailStatus'>;
  tokens(): readonly ApiToken[];
  setups(): readonly Setup[];
  status(): DaemonStatus;
  refusals(): Record<string, number>;
  /** True when readers reach us over HTTPS (http.public_url): the session cookie is then Secure. */
  secure(): boolean;
  clock: Clock;
  logger: Logger;
}

export interface Console {
  /** Handles every request whose path is /console or below it. */
  handle(req: IncomingMessage, res: ServerResponse): void;
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

const sendHtml = (res: ServerResponse, status: number, body: Html, headers: Record<string, string> = {}) =>
  send(res, status, 'text/html; charset=utf-8', body.toString(), headers);
const sendJsonBody = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body, null, 2), headers);

type Route = (ctx: PageContext, rest: string[]) => Promise<PageOutcome | undefined> | PageOutcome | undefined;

/** Pages by their first path segment after /console/. */
const ROUTES: Record<string, Route> = {
  '': (ctx, rest) => (rest.length === 0 ? overviewPage(ctx) : undefined),
  queue: (ctx, rest) => (rest.length === 0 ? queuePage(ctx) : undefined),
  setups: (ctx, rest) => (rest.length === 0 ? setupsPage(ctx) : undefined),
  search: (ctx, rest) => (rest.length === 0 ? searchPage(ctx) : undefined),
  mails: (ctx, rest) => (rest.length === 1 && /^[A-Za-z0-9]{1,64}$/.test(rest[0] ?? '') ? mailPage(ctx, rest[0] as string) : undefined),
  numbers: (ctx, rest) => numberRoute(rest, (e164) => numberPage(ctx, e164), 'numbers'),
  consent: (ctx, rest) => numberRoute(rest, (e164) => consentPage(ctx, e164), 'consent'),
};

function numberRoute(rest: string[], render: (e164: string) => Promise<PageOutcome>, section: string): Promise<PageOutcome> | PageOutcome | undefined {
  if (rest.length !== 1) return undefined;
  const e164 = readE164(rest[0] ?? '');
  if (!e164) return undefined;
  // One URL per number: 0045…, spaces and dashes lead to the E.164 form.
  return e164 === rest[0] ? render(e164) : { redirect: `${CONSOLE_PREFIX}/${section}/${e164}` };
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined; // not a URL: not us
  }
}

function segmentsOf(pathname: string): string[] | undefined {
  try {
    return pathname.slice(CONSOLE_PREFIX.length + 1).split('/').map(decodeURIComponent);
  } catch {
    return undefined; // malformed percent-encoding
  }
}

export function createConsole(deps: ConsoleDeps): Console {
  const auth = createConsoleAuth({ tokens: deps.tokens, clock: deps.clock, secure: deps.secure });
  const logger = deps.logger.child({ stage: 'console' });

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A form posted from another site must not log the browser in (login CSRF).
    // Our own form's Origin is "null" (Referrer-Policy: no-referrer), so browsers
    // are judged by Sec-Fetch-Site, and an Origin naming another host is refused.
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if ((site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && origin !== 'null' && hostOf(origin) !== req.headers.host)) {
      return sendHtml(res, 403, loginPage('Log in from this console’s own page.'));
    }
    const form = new URLSearchParams(await readBody(req, 4096));
    const result = auth.login(form.get('token') ?? '', req.socket.remoteAddress ?? 'unknown');
    if (!result.ok) {
      logger.warn({ status: result.status, client: req.socket.remoteAddress }, result.status === 429 ? `console login refused: ${result.error}` : 'console login refused');
      if (result.status === 429) return sendHtml(res, 429, loginPage(`Too many logins: ${result.error}.`), { 'retry-after': String(result.retryAfterS) });
      return sendHtml(res, result.status, loginPage(result.status === 403 ? 'This token may not read the console (it needs the console scope).' : 'Unknown token.'));
    }
    logger.info({ token: result.grant.name }, 'console login');
    send(res, 303, 'text/plain; charset=utf-8', '', { location: `${CONSOLE_PREFIX}/`, 'set-cookie': auth.cookie(result.sessionId) });
  }

  async function render(req: IncomingMessage, res: ServerResponse, url: URL, grant: Grant): Promise<void> {
    const json = url.searchParams.get('format') === 'json';
    const segments = segmentsOf(url.pathname) ?? ['\0'];
    const [first = '', ...rest] = segments.at(-1) === '' && segments.length > 1 ? segments.slice(0, -1) : segments;
    const reader: Reader = { name: grant.name, pii: grant.scopes.has('console:pii') };
    const ctx: PageContext = {
      ledger: deps.ledger, view: createView(reader.pii), now: deps.clock.now(), query: url.searchParams,
      setups: deps.setups, status: deps.status, refusals: deps.refusals,
    };
    const outcome = Object.hasOwn(ROUTES, first) ? await ROUTES[first]?.(ctx, rest) : undefined;
    if (!outcome) {
      if (json) return sendJsonBody(res, 404, { error: 'no such page' });
      return sendHtml(res, 404, page({ title: 'Not found', reader, body: 'There is no such console page.' }));
    }
    if ('redirect' in outcome) {
      const location = json ? `${outcome.redirect}${outcome.redirect.includes('?') ? '&' : '?'}format=json` : outcome.redirect;
      return send(res, 303, 'text/plain; charset=utf-8', '', { location });
    }
    const link: Record<string, string> = outcome.next ? { link: `<${outcome.next}>; rel="next"` } : {};
    if (json) return sendJsonBody(res, outcome.status ?? 200, outcome.json, link);
    const query = first === 'search' ? (url.searchParams.get('q') ?? '') : '';
    sendHtml(res, outcome.status ?? 200, page({ title: outcome.title, reader, body: outcome.body, query, ...(outcome.section ? { section: outcome.section } : {}) }), link);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === `${CONSOLE_PREFIX}/login` && method === 'POST') return login(req, res);
    // Nothing else changes anything, so nothing else is accepted.
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'the console is read-only\n', { allow: 'GET, HEAD' });
    if (path === CONSOLE_PREFIX) return send(res, 301, 'text/plain; charset=utf-8', '', { location: `${CONSOLE_PREFIX}/` });
    if (path === `${CONSOLE_PREFIX}/style.css`) return send(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS, { 'cache-control': 'max-age=3600' });
    if (path === `${CONSOLE_PREFIX}/login`) return sendHtml(res, 200, loginPage());
    const json = url.searchParams.get('format') === 'json';
    const grant = auth.grantOf(req.headers);
    if (!grant) {
      const challenge = { 'www-authenticate': 'Bearer realm="mail2sms console"' };
      return json ? sendJsonBody(res, 401, { error: 'log in: a bearer token with the console scope' }, challenge) : sendHtml(res, 401, loginPage(), challenge);
    }
    if (!grant.scopes.has('console')) {
      const error = `token ${grant.name} has no console scope`;
      return json ? sendJsonBody(res, 403, { error }) : sendHtml(res, 403, loginPage(`The token ${grant.name} may not read the console (it needs the console scope).`));
    }
    await render(req, res, url, grant);
  }

  return {
    handle(req, res) {
      route(req, res).catch((error: unknown) => {
        if (res.headersSent) return void res.destroy();
        // Every reader busy and enough pages waiting: shed this one (intake never waits on console reads either way).
        if (error instanceof ReadersBusyError) {
          logger.warn({ path: req.url?.split('?')[0] }, 'console page refused: every reader is busy');
          return send(res, 503, 'text/plain; charset=utf-8', 'the console is busy; try again in a moment\n', { 'retry-after': '1' });
        }
        logger.error({ err: error, path: req.url?.split('?')[0] }, 'console page failed');
        send(res, 503, 'text/plain; charset=utf-8', 'temporarily unavailable\n');
      });
    },
  };
}
