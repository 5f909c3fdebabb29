import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../core/log.js';
import type { ListenAddress } from '../core/units.js';
import { systemClock, type Clock } from '../core/clock.js';
import { splitSms } from '../message/encoding.js';
import { BodyTooLarge, closeServer, listenOn, readBody, sendJson } from '../core/http-server-kit.js';
import { SIGNATURE_HEADER, signBody } from '../core/signing.js';
import { createHttpPost } from '../core/http-client.js';
import type { ReceiptStatus } from '../ledger/types.js';

/*
 * The built-in SMS provider simulator: a real HTTP server that accepts sends,
 * answers with an id and the number of parts, de-duplicates on the
 * Idempotency-Key header (and counts the duplicates, so tests can assert there
 * were none), and posts one signed delivery receipt per part back to the
 * callback URL after a delay. Faults (latency, 5xx, 429, hangs, resets,
 * permanent refusals, failed deliveries, outages) are switched on at runtime
 * with PUT /faults, and an inbound SMS is simulated with POST /simulate/inbound.
 */

/** Messages kept for GET /messages (and for de-duplication). */
const MAX_KEPT = 100_000;

export interface SimulatedSms {
  id: string;
  to: string;
  from: string;
  text: string;
  /** Segments the text was split into; one receipt is posted per part. */
  parts: number;
  idempotency_key: string | null;
  received_at: string;
  /** Arrival time in epoch ms, for counting sends per second. */
  received_at_ms: number;
}

const e164 = z.string().regex(/^\+\d{6,15}$/, 'must be an E.164 number');
const fraction = z.number().min(0).max(1);

/** PUT /faults. Rates are fractions of sends (0–1), drawn from a PRNG seeded with `seed` (random when absent). */
export const faultsSchema = z.strictObject({
  seed: z.number().int().optional(),
  /** Delay before every answer to /send. */
  latency_ms: z.number().int().min(0).max(600_000).optional(),
  /** Answered 503. */
  error_rate: fraction.optional(),
  /** Answered 429 with Retry-After: retry_after_s. */
  rate_429: fraction.optional(),
  retry_after_s: z.number().int().min(0).optional(),
  /** The send is accepted (recorded, receipts follow) but never answered: the client times out. true = every send. */
  hang: z.union([z.boolean(), fraction]).optional(),
  /** The connection is destroyed without an answer; the send is not recorded. */
  reset_rate: fraction.optional(),
  /** These numbers are answered 400 (permanently unreachable). */
  permanent_for: z.array(e164).optional(),
  /** Receipts for these numbers say failed / expired / rejected (with an error_code). */
  fail_delivery_for: z.array(e164).optional(),
  expire_delivery_for: z.array(e164).optional(),
  reject_delivery_for: z.array(e164).optional(),
  /** Epoch ms: every send is answered 503 until then. */
  outage_until: z.number().int().optional(),
});

export type SimulatorFaults = z.output<typeof faultsSchema>;

const sendBody = z.object({
  to: e164,
  from: z.string().min(1, 'is required'),
  text: z.string().min(1, 'is required'),
  callback_url: z.string().optional(),
});

const inboundRequest = z.strictObject({
  from: e164,
  to: z.string().min(1).optional(),
  text: z.string(),
});

export interface SimulatorOptions {
  listen: ListenAddress;
  secret: string;
  receiptDelayMs: number;
  logger: Logger;
  clock?: Clock;
  /**
   * Where POST /simulate/inbound delivers the inbound SMS webhook (the daemon's
   * `<public url>/inbound`). A function because the daemon learns its own port
   * only after the simulator has started.
   */
  inboundUrl?: () => string | undefined;
  /** Faults active from the start (as PUT /faults). */
  faults?: SimulatorFaults;
}

export interface ProviderSimulator {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
}

/** mulberry32: a tiny deterministic PRNG, so a seeded fault run is the same run every time. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ERROR_CODES: Record<Exclude<ReceiptStatus, 'delivered'>, string> = {
  failed: 'UNDELIVERABLE',
  expired: 'EXPIRED',
  rejected: 'REJECTED',
};

export function createProviderSimulator(options: SimulatorOptions): ProviderSimulator {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const messages: SimulatedSms[] = [];
  const byKey = new Map<string, SimulatedSms>();
  let duplicates = 0;
  let forgotten = 0;
  let receiptsPosted = 0;
  let faults: SimulatorFaults = {};
  let random = Math.random;
  const timers = new Set<NodeJS.Timeout>();
  /** Answers held back by `hang`, ended on stop. */
  const hanging = new Set<ServerResponse>();
  let server: Server | undefined;
  const post = createHttpPost({ maxSockets: 32 });

  function setFaults(next: SimulatorFaults): void {
    faults = next;
    random = next.seed !== undefined ? seededRandom(next.seed) : Math.random;
  }
  setFaults(options.faults ?? {});

  const roll = (rate: number | boolean | undefined) => rate === true || (typeof rate === 'number' && rate > 0 && random() < rate);

  // Set by stop(): a receipt post that fails because we stopped neither retries nor logs after the daemon's last line.
  let stopped = false;

  function schedule(fn: () => Promise<void>, delay: number): void {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      void fn();
    }, delay);
    timers.add(timer);
  }

  function deliveryStatus(to: string): ReceiptStatus {
    if (faults.fail_delivery_for?.includes(to)) return 'failed';
    if (faults.expire_delivery_for?.includes(to)) return 'expired';
    if (faults.reject_delivery_for?.includes(to)) return 'rejected';
    return 'delivered';
  }

  /** Posts the receipt of one part (re-signed on every attempt), then the next part's. */
  async function postReceipt(callbackUrl: string, sms: SimulatedSms, status: ReceiptStatus, part: number, attempt = 1): Promise<void> {
    const body = JSON.stringify({
      id: sms.id,
      part,
      parts: sms.parts,
      status,
      ...(status !== 'delivered' ? { error_code: ERROR_CODES[status] } : {}),
      timestamp: new Date(clock.now()).toISOString(),
    });
    const retry = () => schedule(() => postReceipt(callbackUrl, sms, status, part, attempt + 1), 500 * attempt);
    try {
      const response = await post(new URL(callbackUrl), body, { [SIGNATURE_HEADER]: signBody(options.secret, body, clock.now()) }, 5000);
      receiptsPosted++;
      if (response.status >= 500 && attempt < 5) return retry();
    } catch (error) {
      if (stopped) return;
      if (attempt < 5) return retry();
      logger.warn({ err: error, id: sms.id, part }, 'simulator: receipt could not be delivered');
    }
    if (part < sms.parts) await postReceipt(callbackUrl, sms, status, part + 1);
  }

  function record(body: z.output<typeof sendBody>, idempotencyKey: string | null): SimulatedSms {
    const now = clock.now();
    const sms: SimulatedSms = {
      id: randomUUID(),
      to: body.to,
      from: body.from,
      text: body.text,
      parts: Math.max(1, splitSms(body.text).length),
      idempotency_key: idempotencyKey,
      received_at: new Date(now).toISOString(),
      received_at_ms: now,
    };
    messages.push(sms);
    if (idempotencyKey) byKey.set(idempotencyKey, sms);
    // A simulator left running for weeks keeps the latest messages only.
    if (messages.length > MAX_KEPT) {
      const dropped = messages.shift() as SimulatedSms;
      if (dropped.idempotency_key) byKey.delete(dropped.idempotency_key);
      forgotten++;
    }
    if (body.callback_url && /^https?:\/\//.test(body.callback_url)) {
      const status = deliveryStatus(sms.to);
      const url = body.callback_url;
      schedule(() => postReceipt(url, sms, status, 1), options.receiptDelayMs);
    }
    return sms;
  }

  type Answer = [number, unknown, Record<string, string>?] | 'hang' | 'reset';

  /** Faults that refuse a send before it is looked at. */
  function refusal(): Answer | undefined {
    if (faults.outage_until !== undefined && clock.now() < faults.outage_until) {
      const seconds = Math.max(1, Math.ceil((faults.outage_until - clock.now()) / 1000));
      return [503, { error: 'provider outage (simulated)' }, { 'retry-after': String(seconds) }];
    }
    if (roll(faults.reset_rate)) return 'reset';
    if (roll(faults.rate_429)) return [429, { error: 'too many requests (simulated)' }, { 'retry-after': String(faults.retry_after_s ?? 1) }];
    if (roll(faults.error_rate)) return [503, { error: 'service unavailable (simulated)' }];
    return undefined;
  }

  function handleSend(rawBody: string, idempotencyKey: string | null): Answer {
    const refused = refusal();
    if (refused) return refused;
    let json: unknown;
    try {
      json = JSON.parse(rawBody);
    } catch {
      return [400, { error: 'body is not JSON' }];
    }
    const parsed = sendBody.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return [400, { error: `"${issue?.path.join('.') ?? ''}" ${issue?.message ?? 'is invalid'}` }];
    }
    if (faults.permanent_for?.includes(parsed.data.to)) return [400, { error: 'number permanently unreachable (simulated)' }];
    if (idempotencyKey) {
      const earlier = byKey.get(idempotencyKey);
      if (earlier) {
        duplicates++;
        logger.info({ id: earlier.id, idempotencyKey }, 'simulator: duplicate send ignored');
        return [200, { id: earlier.id, parts: earlier.parts, duplicate: true }];
      }
    }
    const sms = record(parsed.data, idempotencyKey);
    // A hang happens after the send was taken: the SMS goes out, only the answer is lost.
    if (roll(faults.hang)) return 'hang';
    return [200, { id: sms.id, parts: sms.parts }];
  }

  function answer(req: IncomingMessage, res: ServerResponse, result: Answer): void {
    if (result === 'reset') {
      req.socket.destroy();
      return;
    }
    if (result === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    const [status, body, headers] = result;
    if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    sendJson(res, status, body);
  }

  /** Posts a signed inbound SMS webhook to the daemon and hands its answer back. */
  async function simulateInbound(rawBody: string): Promise<[number, unknown] | { status: number; raw: string }> {
    const parsed = inboundRequest.safeParse(safeParse(rawBody));
    if (!parsed.success) return [400, { error: 'needs {"from": "+<E.164>", "text": "…"} and optionally "to"' }];
    const target = options.inboundUrl?.();
    if (!target) return [503, { error: 'the simulator has no inbound_url to post to' }];
    const { from, text } = parsed.data;
    // Without "to", the reply goes to whoever sent the latest SMS to this number.
    let to = parsed.data.to;
    for (let i = messages.length - 1; to === undefined && i >= 0; i--) if (messages[i]?.to === from) to = messages[i]?.from;
    to ??= 'mail2sms';
    const body = JSON.stringify({ id: randomUUID(), from, to, text, received_at: new Date(clock.now()).toISOString() });
    try {
      const response = await post(new URL(target), body, { [SIGNATURE_HEADER]: signBody(options.secret, body, clock.now()) }, 10_000);
      return { status: response.status, raw: response.body };
    } catch (error) {
      return [502, { error: `could not reach ${target}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }];
    }
  }

  function withBody(req: IncomingMessage, res: ServerResponse, handle: (raw: string) => Promise<void> | void): void {
    readBody(req)
      .then(handle)
      .catch((error: unknown) => sendJson(res, error instanceof BodyTooLarge ? 413 : 400, { error: String((error as Error).message) }));
  }

  return {
    async start() {
      stopped = false;
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://simulator');
        const route = `${req.method} ${url.pathname}`;
        if (route === 'GET /messages') return sendJson(res, 200, messages);
        if (route === 'GET /stats') return sendJson(res, 200, { messages: messages.length + forgotten, duplicates, receipts_posted: receiptsPosted });
        if (route === 'GET /healthz') return sendJson(res, 200, { status: 'ok' });
        if (route === 'GET /faults') return sendJson(res, 200, faults);
        if (route === 'DELETE /faults') {
          setFaults({});
          return sendJson(res, 200, faults);
        }
        if (route === 'PUT /faults') {
          return withBody(req, res, (raw) => {
            const body = safeParse(raw);
            if (body === undefined) {
              return sendJson(res, 400, { error: `body is not JSON (send an object such as {"error_rate": 0.1}): ${JSON.stringify(raw.slice(0, 40))}` });
            }
            const parsed = faultsSchema.safeParse(body);
            if (!parsed.success) {
              const issue = parsed.error.issues[0];
              return sendJson(res, 400, { error: `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'is invalid'}` });
            }
            setFaults(parsed.data);
            logger.info({ faults: parsed.data }, 'simulator: faults set');
            sendJson(res, 200, faults);
          });
        }
        if (route === 'POST /send') {
          const key = req.headers['idempotency-key'];
          return withBody(req, res, (raw) => {
            const result = handleSend(raw, typeof key === 'string' && key ? key : null);
            const latency = faults.latency_ms ?? 0;
            if (latency > 0 && result !== 'hang') {
              const timer = setTimeout(() => {
                timers.delete(timer);
                answer(req, res, result);
              }, latency);
              timers.add(timer);
            } else answer(req, res, result);
          });
        }
        if (route === 'POST /simulate/inbound') {
          return withBody(req, res, async (raw) => {
            const result = await simulateInbound(raw);
            if (Array.isArray(result)) return sendJson(res, result[0], result[1]);
            // The daemon's own answer, passed through as it came.
            res.writeHead(result.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(result.raw) });
            res.end(result.raw);
          });
        }
        sendJson(res, 404, { error: `no route ${route}` });
      });
      server.keepAliveTimeout = 30_000;
      const port = await listenOn(server, options.listen);
      const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;
      return { url: `http://${host}:${port}`, port };
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const res of hanging) res.destroy();
      hanging.clear();
      post.destroy();
      if (server) await closeServer(server);
    },
  };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
