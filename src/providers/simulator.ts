import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { ListenAddress } from '../config/units.js';
import { BodyTooLarge, closeServer, listenOn, readBody, sendJson } from '../httpkit.js';
import { SIGNATURE_HEADER, signBody } from './signing.js';
import { createHttpPost } from './http-client.js';

/*
 * The built-in SMS provider simulator: a real HTTP server that accepts sends,
 * answers with an id, de-duplicates on the Idempotency-Key header (and counts
 * the duplicates, so tests can assert there were none), and posts a signed
 * delivery receipt back to the callback URL after a delay.
 */

/** Messages kept for GET /messages (and for de-duplication). */
const MAX_KEPT = 100_000;

export interface SimulatedSms {
  id: string;
  to: string;
  from: string;
  text: string;
  idempotency_key: string | null;
  received_at: string;
}

export interface SimulatorOptions {
  listen: ListenAddress;
  secret: string;
  receiptDelayMs: number;
  logger: Logger;
}

export interface ProviderSimulator {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
}

export function createProviderSimulator(options: SimulatorOptions): ProviderSimulator {
  const { logger } = options;
  const messages: SimulatedSms[] = [];
  const byKey = new Map<string, SimulatedSms>();
  let duplicates = 0;
  let forgotten = 0;
  let receiptsPosted = 0;
  const timers = new Set<NodeJS.Timeout>();
  let server: Server | undefined;
  const post = createHttpPost({ maxSockets: 32 });

  async function postReceipt(callbackUrl: string, sms: SimulatedSms, attempt = 1): Promise<void> {
    const body = JSON.stringify({ id: sms.id, status: 'delivered', to: sms.to, at: new Date().toISOString() });
    try {
      const response = await post(new URL(callbackUrl), body, { [SIGNATURE_HEADER]: signBody(options.secret, body) }, 5000);
      receiptsPosted++;
      if (response.status >= 500 && attempt < 5) schedule(() => postReceipt(callbackUrl, sms, attempt + 1), 500 * attempt);
    } catch (error) {
      if (attempt < 5) schedule(() => postReceipt(callbackUrl, sms, attempt + 1), 500 * attempt);
      else logger.warn({ err: error, id: sms.id }, 'simulator: receipt could not be delivered');
    }
  }

  function schedule(fn: () => Promise<void>, delay: number): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void fn();
    }, delay);
    timers.add(timer);
  }

  async function handleSend(rawBody: string, idempotencyKey: string | null): Promise<[number, unknown]> {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(rawBody) as Record<string, unknown>;
    } catch {
      return [400, { error: 'body is not JSON' }];
    }
    const { to, from, text, callback_url: callbackUrl } = body;
    if (typeof to !== 'string' || !/^\+\d{6,15}$/.test(to)) return [400, { error: '"to" must be an E.164 number' }];
    if (typeof from !== 'string' || !from) return [400, { error: '"from" is required' }];
    if (typeof text !== 'string' || !text) return [400, { error: '"text" is required' }];
    if (idempotencyKey) {
      const earlier = byKey.get(idempotencyKey);
      if (earlier) {
        duplicates++;
        logger.info({ id: earlier.id, idempotencyKey }, 'simulator: duplicate send ignored');
        return [200, { id: earlier.id, duplicate: true }];
      }
    }
    const sms: SimulatedSms = { id: randomUUID(), to, from, text, idempotency_key: idempotencyKey, received_at: new Date().toISOString() };
    messages.push(sms);
    if (idempotencyKey) byKey.set(idempotencyKey, sms);
    // A simulator left running for weeks keeps the latest messages only.
    if (messages.length > MAX_KEPT) {
      const dropped = messages.shift() as SimulatedSms;
      if (dropped.idempotency_key) byKey.delete(dropped.idempotency_key);
      forgotten++;
    }
    if (typeof callbackUrl === 'string' && /^https?:\/\//.test(callbackUrl)) {
      schedule(() => postReceipt(callbackUrl, sms), options.receiptDelayMs);
    }
    return [200, { id: sms.id }];
  }

  return {
    async start() {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://simulator');
        const route = `${req.method} ${url.pathname}`;
        if (route === 'GET /messages') return sendJson(res, 200, messages);
        if (route === 'GET /stats') return sendJson(res, 200, { messages: messages.length + forgotten, duplicates, receipts_posted: receiptsPosted });
        if (route === 'GET /healthz') return sendJson(res, 200, { status: 'ok' });
        if (route === 'POST /send') {
          const key = req.headers['idempotency-key'];
          readBody(req)
            .then((raw) => handleSend(raw, typeof key === 'string' && key ? key : null))
            .then(([status, body]) => sendJson(res, status, body))
            .catch((error: unknown) => sendJson(res, error instanceof BodyTooLarge ? 413 : 400, { error: String((error as Error).message) }));
          return;
        }
        sendJson(res, 404, { error: `no route ${route}` });
      });
      server.keepAliveTimeout = 30_000;
      const port = await listenOn(server, options.listen);
      const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;
      return { url: `http://${host}:${port}`, port };
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      post.destroy();
      if (server) await closeServer(server);
    },
  };
}
