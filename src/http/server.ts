import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../core/log.js';
import type { Ledger, ReceiptOutcome } from '../ledger/types.js';
import type { SmsProvider } from '../providers/types.js';
import type { ListenAddress } from '../core/units.js';
import { BodyTooLarge, closeServer, listenOn, PreparedJson, readBody, refuseBody, sendJson } from '../core/http-server-kit.js';
import { noMetrics, type MetricsRegistry } from '../core/metrics.js';
import { systemClock, type Clock } from '../core/clock.js';

export interface HttpApiOptions {
  listen: ListenAddress;
  ledger: Ledger;
  provider: SmsProvider;
  logger: Logger;
  /** Checks the timestamps of signed callbacks. */
  clock?: Clock;
  /** Counts receipts and serves GET /metrics (404 without it). */
  metrics?: MetricsRegistry;
  /** More POST routes ("POST /sends"): raw body in, status and JSON out. */
  routes?: Record<string, Route>;
  /** Whole subtrees served by their own handler (the console at /console): the prefix and everything below it. */
  mounts?: { prefix: string; handle(req: IncomingMessage, res: ServerResponse): void }[];
  /** Request bodies read at once; more get 503 with Retry-After before a byte of theirs is read (default 8). */
  maxConcurrentBodies?: number;
  /** Where callers reach us (http.public_url): Twilio signs the URL it called. */
  publicUrl?: () => string;
  /** Named providers (issue 24): each posts its receipts to /receipts/<name>, verified and parsed its own way. */
  providerByName?: (name: string) => SmsProvider | undefined;
  /** What /healthz reports besides the process being up: each check 'ok' or what is wrong (then 503). */
  health?: () => Promise<Record<string, string>>;
}

export interface Route {
  maxBytes?: number;
  /** A GET callback (Kannel's): the raw query string is the body, byte for byte (binary text is %-encoded there). */
  queryAsBody?: boolean;
  /** Checked before anything else: may this client address call at all? 403 otherwise. */
  source?(remoteAddress: string | undefined): boolean;
  /** Checked from the headers before any body byte is read: a refusal as [status, body], or undefined to go on. */
  /** `url`: the request as the caller addressed it (http.public_url + path and query), which some providers sign. */
  authorize?(headers: IncomingHttpHeaders, url: string): [number, unknown] | undefined;
  handle(headers: IncomingHttpHeaders, raw: string, query: URLSearchParams, url: string): Promise<[number, unknown]>;
}

/** An answer that is not JSON (Twilio expects TwiML): sent as it is. */
export class RawAnswer {
  constructor(
    readonly contentType: string,
    readonly body: string,
  ) {}
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  if (!(body instanceof RawAnswer)) return sendJson(res, status, body);
  res.writeHead(status, { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.body) });
  res.end(body.body);
}

export interface HttpApi {
  start(): Promise<number>;
  stop(): Promise<void>;
}

export const RECEIPTS_PATH = '/receipts';
const RECEIPTS_ROUTE = `POST ${RECEIPTS_PATH}`;
/** Where providers post inbound SMS (the route itself comes with the inbound SMS rules). */
export const INBOUND_PATH = '/inbound';

/** A receipt's answers, one per outcome, serialised once: a provider posts one per part of every SMS. */
const RECEIPT_ANSWERS: Readonly<Record<ReceiptOutcome, PreparedJson>> = {
  applied: new PreparedJson({ outcome: 'applied' }),
  partial: new PreparedJson({ outcome: 'partial' }),
  duplicate: new PreparedJson({ outcome: 'duplicate' }),
  stale: new PreparedJson({ outcome: 'stale' }),
  parked: new PreparedJson({ outcome: 'parked' }),
  unknown: new PreparedJson({ error: 'unknown message id' }),
};
const INTERIM_ANSWER = new PreparedJson({ outcome: 'interim' });
/** A report of an SMS still on its way (ReceiptParse `progress`). */
const PROGRESS_ANSWER = new PreparedJson({ outcome: 'progress' });

/** A provider webhook's headers checked before its body is read: a request without a signature in our format is not read at all. */
export function webhookHeaders(provider: Pick<SmsProvider, 'checkWebhookHeaders'>, kind: 'receipt' | 'inbound', logger: Logger): NonNullable<Route['authorize']> {
  return (headers, url) => {
    const refused = provider.checkWebhookHeaders(kind, headers, { url });
    if (!refused) return undefined;
    logger.warn({ status: refused.status, reason: refused.reason }, `${kind === 'receipt' ? 'receipt' : 'inbound SMS'} refused`);
    return [refused.status, { error: refused.reason }];
  };
}

/** The daemon's HTTP listener: delivery receipts and health. */
export function createHttpApi(options: HttpApiOptions): HttpApi {
  const { ledger, provider } = options;
  const logger = options.logger.child({ stage: 'http' });
  const metrics = options.metrics ?? noMetrics;
  const exposition = options.metrics;
  const clock = options.clock ?? systemClock;
  let server: Server | undefined;
  const maxBodies = options.maxConcurrentBodies ?? 8;
  let bodiesReading = 0;

  /** Authorises from the headers, reads the body within its limit and the concurrency cap, and answers. */
  function serveRoute(req: IncomingMessage, res: ServerResponse, route: string, handler: Route, query: URLSearchParams): void {
    if (handler.source && !handler.source(req.socket.remoteAddress)) return refuseBody(req, res, 403, { error: 'not from an allowed address' });
    const url = (options.publicUrl?.() ?? '') + (req.url ?? '');
    const refused = handler.authorize?.(req.headers, url);
    if (refused) return refuseBody(req, res, refused[0], refused[1]);
    if (handler.queryAsBody) {
      const mark = (req.url ?? '').indexOf('?');
      const raw = mark === -1 ? '' : (req.url ?? '').slice(mark + 1);
      handler.handle(req.headers, raw, query, url).then(
        ([status, body]) => answer(res, status, body),
        (error: unknown) => {
          logger.error({ err: error, route }, 'request could not be handled');
          sendJson(res, 503, { error: 'temporarily unavailable' });
        },
      );
      return;
    }
    if (bodiesReading >= maxBodies) {
      metrics.inc('mail2sms_http_busy_total');
      return refuseBody(req, res, 503, { error: `${maxBodies} request bodies are being read already; retry shortly` }, { 'retry-after': '1' });
    }
    bodiesReading++;
    let reading = true;
    const done = () => {
      if (reading) bodiesReading--;
      reading = false;
    };
    readBody(req, handler.maxBytes)
      .then((raw) => {
        done();
        return handler.handle(req.headers, raw, query, url);
      })
      .then(([status, body]) => answer(res, status, body))
      .catch((error: unknown) => {
        done();
        if (error instanceof BodyTooLarge) return refuseBody(req, res, 413, { error: error.message });
        logger.error({ err: error, route }, 'request could not be handled');
        sendJson(res, 503, { error: 'temporarily unavailable' }); // the client (or the provider) retries
      });
  }

  async function receipt(from: SmsProvider, headers: Record<string, string | string[] | undefined>, raw: string, url: string): Promise<[number, unknown]> {
    const parsed = from.parseReceipt(headers, raw, clock.now(), { url });
    if (!parsed.ok && parsed.status === 200) {
      // Verified, and reports nothing the ledger records (sent, en route): 200 so the provider does not send it again.
      if (logger.isLevelEnabled('debug')) logger.debug({ reason: parsed.reason }, 'receipt: interim status');
      return [200, INTERIM_ANSWER];
    }
    if (!parsed.ok) {
      logger.warn({ status: parsed.status, reason: parsed.reason }, 'receipt refused');
      return [parsed.status, { error: parsed.reason }];
    }
    if (!('receipt' in parsed)) {
      // On its way (e.g. Kannel's "accepted by the SMSC"): the row is sent already; 200 so the provider does not retry.
      metrics.inc('mail2sms_receipts_total', { outcome: 'progress' });
      if (logger.isLevelEnabled('debug')) logger.debug({ providerId: parsed.progress.providerMessageId, detail: parsed.progress.detail }, 'receipt: still on its way');
      return [200, PROGRESS_ANSWER];
    }
    const { receipt } = parsed;
    const outcome = await ledger.applyReceipt(receipt);
    // A batch (inMobile): the rest too; the answer speaks of the first.
    for (const more of parsed.receipts?.slice(1) ?? []) metrics.inc('mail2sms_receipts_total', { outcome: await ledger.applyReceipt(more) });
    metrics.inc('mail2sms_receipts_total', { outcome });
    if (outcome === 'unknown') {
      logger.warn({ providerId: receipt.providerMessageId, status: receipt.status, outcome }, 'receipt for an unknown provider message id (still unknown after dispatch.receipt_grace)');
      return [404, RECEIPT_ANSWERS.unknown];
    }
    // An SMS has two info lines (queued, sent): receipts are one a part, so debug, unless one settles it as not delivered.
    if (outcome === 'applied' && receipt.status !== 'delivered') {
      logger.warn({ providerId: receipt.providerMessageId, status: receipt.status, outcome, errorCode: receipt.errorCode }, 'sms not delivered (receipt)');
    } else if (logger.isLevelEnabled('debug')) {
      // Stored when parked: applied as soon as the send's own answer names this id.
      logger.debug({ providerId: receipt.providerMessageId, status: receipt.status, outcome }, outcome === 'parked' ? 'receipt for an id not known yet: parked' : 'receipt');
    }
    return [outcome === 'parked' ? 202 : 200, RECEIPT_ANSWERS[outcome]];
  }

  // Made once: a receipt arrives for every part of every SMS. It reads no query string.
  const receiptRoute: Route = { handle: (headers, raw, _query, url) => receipt(provider, headers, raw, url), authorize: webhookHeaders(provider, 'receipt', logger) };
  // One route per named provider and method, made when its first receipt arrives (a name that is no provider gets 404).
  const namedReceipts = new Map<string, Route>();
  function namedReceiptRoute(name: string, method: 'GET' | 'POST'): Route | undefined {
    const key = `${method} ${name}`;
    const found = namedReceipts.get(key);
    if (found) return found;
    const named = options.providerByName?.(name);
    if (!named) return undefined;
    const route = receiptRouteOf(named, method, logger.child({ provider: name }));
    namedReceipts.set(key, route);
    return route;
  }
  const getReceiptRoute = receiptRouteOf(provider, 'GET', logger);

  function receiptRouteOf(from: SmsProvider, method: 'GET' | 'POST', log: Logger): Route {
    const route: Route = { handle: (headers, raw, _query, url) => receipt(from, headers, raw, url), authorize: webhookHeaders(from, 'receipt', log) };
    if (method === 'GET') route.queryAsBody = true;
    if (from.acceptsSource) route.source = (address) => from.acceptsSource?.(address) ?? true;
    return route;
  }
  const noQuery = new URLSearchParams();

  return {
    async start() {
      server = createServer((req, res) => {
        // The receipts URL as the provider calls it, without parsing a URL for each one.
        if (req.url === RECEIPTS_PATH && req.method === 'POST') return serveRoute(req, res, RECEIPTS_ROUTE, receiptRoute, noQuery);
        const url = new URL(req.url ?? '/', 'http://mail2sms');
        const path = url.pathname;
        const route = `${req.method} ${path}`;
        if (route === 'GET /healthz') {
          void (options.health ? options.health() : Promise.resolve({} as Record<string, string>)).then((checks) => {
            // Without the ledger nothing can be accepted (503); a failing provider only delays sends, so it is reported, degraded.
            const ledgerOk = (checks.ledger ?? 'ok') === 'ok';
            const allOk = Object.values(checks).every((state) => state === 'ok');
            sendJson(res, ledgerOk ? 200 : 503, { status: allOk ? 'ok' : ledgerOk ? 'degraded' : 'unavailable', ...checks });
          });
          return;
        }
        if (route === 'GET /metrics' && exposition) {
          exposition
            .render()
            .then((text) => {
              res.writeHead(200, { 'content-type': exposition.contentType, 'content-length': Buffer.byteLength(text) });
              res.end(text);
            })
            .catch((error: unknown) => {
              logger.error({ err: error }, 'metrics could not be read');
              sendJson(res, 503, { error: 'metrics unavailable' });
            });
          return;
        }
        if (route === RECEIPTS_ROUTE) return serveRoute(req, res, route, receiptRoute, noQuery);
        // Kannel calls its dlr-url with GET, the query carrying the report.
        if (route === `GET ${RECEIPTS_PATH}` && !options.providerByName) return serveRoute(req, res, route, getReceiptRoute, url.searchParams);
        const method = req.method === 'GET' || req.method === 'POST' ? req.method : undefined;
        const named = method && path.startsWith(`${RECEIPTS_PATH}/`) ? namedReceiptRoute(path.slice(RECEIPTS_PATH.length + 1), method) : undefined;
        if (named) return serveRoute(req, res, route, named, url.searchParams);
        const handler = options.routes?.[route];
        if (handler) return serveRoute(req, res, route, handler, url.searchParams);
        const mount = options.mounts?.find((m) => path === m.prefix || path.startsWith(`${m.prefix}/`));
        if (mount) return mount.handle(req, res);
        sendJson(res, 404, { error: `no route ${route}` });
      });
      server.headersTimeout = 10_000;
      server.requestTimeout = 30_000;
      return listenOn(server, options.listen);
    },
    async stop() {
      if (server) await closeServer(server);
    },
  };
}
