import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../core/log.js';
import type { Ledger } from '../ledger/types.js';
import type { SmsProvider } from '../providers/types.js';
import type { ListenAddress } from '../core/units.js';
import { BodyTooLarge, closeServer, listenOn, readBody, sendJson } from '../core/httpkit.js';
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
  routes?: Record<string, { maxBytes?: number; handle(headers: IncomingHttpHeaders, raw: string, query: URLSearchParams): Promise<[number, unknown]> }>;
  /** Whole subtrees served by their own handler (the console at /console): the prefix and everything below it. */
  mounts?: { prefix: string; handle(req: IncomingMessage, res: ServerResponse): void }[];
}

export interface HttpApi {
  start(): Promise<number>;
  stop(): Promise<void>;
}

export const RECEIPTS_PATH = '/receipts';
/** Where providers post inbound SMS (the route itself comes with the inbound SMS rules). */
export const INBOUND_PATH = '/inbound';

/** The daemon's HTTP listener: delivery receipts and health. */
export function createHttpApi(options: HttpApiOptions): HttpApi {
  const { ledger, provider } = options;
  const logger = options.logger.child({ stage: 'http' });
  const metrics = options.metrics ?? noMetrics;
  const exposition = options.metrics;
  const clock = options.clock ?? systemClock;
  let server: Server | undefined;

  async function receipt(headers: Record<string, string | string[] | undefined>, raw: string): Promise<[number, unknown]> {
    const parsed = provider.parseReceipt(headers, raw, clock.now());
    if (!parsed.ok) {
      logger.warn({ status: parsed.status, reason: parsed.reason }, 'receipt refused');
      return [parsed.status, { error: parsed.reason }];
    }
    const outcome = await ledger.applyReceipt(parsed.receipt);
    metrics.inc('mail2sms_receipts_total', { outcome });
    const log = { providerId: parsed.receipt.providerMessageId, status: parsed.receipt.status, outcome };
    if (outcome === 'unknown') {
      logger.warn(log, 'receipt for an unknown provider message id (still unknown after dispatch.receipt_grace)');
      return [404, { error: 'unknown message id' }];
    }
    if (outcome === 'parked') {
      // Stored: applied as soon as the send's own answer names this id.
      logger.info(log, 'receipt for an id not known yet: parked');
      return [202, { outcome }];
    }
    logger.info(log, 'receipt');
    return [200, { outcome }];
  }

  return {
    async start() {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://mail2sms');
        const path = url.pathname;
        const route = `${req.method} ${path}`;
        if (route === 'GET /healthz') return sendJson(res, 200, { status: 'ok' });
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
        if (route === `POST ${RECEIPTS_PATH}`) {
          readBody(req)
            .then((raw) => receipt(req.headers, raw))
            .then(([status, body]) => sendJson(res, status, body))
            .catch((error: unknown) => {
              if (error instanceof BodyTooLarge) return sendJson(res, 413, { error: 'body too large' });
              logger.error({ err: error }, 'receipt could not be stored');
              sendJson(res, 503, { error: 'temporarily unavailable' }); // the provider retries
            });
          return;
        }
        const handler = options.routes?.[route];
        if (handler) {
          readBody(req, handler.maxBytes)
            .then((raw) => handler.handle(req.headers, raw, url.searchParams))
            .then(([status, body]) => sendJson(res, status, body))
            .catch((error: unknown) => {
              if (error instanceof BodyTooLarge) return sendJson(res, 413, { error: 'body too large' });
              logger.error({ err: error, route }, 'request could not be handled');
              sendJson(res, 503, { error: 'temporarily unavailable' });
            });
          return;
        }
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
