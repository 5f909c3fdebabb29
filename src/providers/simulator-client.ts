import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { createHttpClient } from '../core/http-client.js';
import { createSignatureVerifier, SIGNATURE_HEADER, signatureHeaderProblem } from '../core/signing.js';
import { classifyAnswer, classifyCallError, defaultPermanentStatuses, toE164 } from './classify.js';
import type { HttpHeaders, InboundParse, OutgoingSms, ReceiptParse, SendResult, SmsProvider } from './types.js';

export interface SimulatorClientOptions {
  baseUrl: string;
  secret: string;
  timeoutMs: number;
  /** Upper bound of concurrent connections to the provider. */
  maxSockets: number;
  /** For Retry-After dates. */
  clock: Clock;
}

const sendAnswer = z.object({ id: z.string().min(1), parts: z.number().int().min(1).optional() });

/** What the simulator posts to the receipts URL (see simulator.ts). */
export const simulatorReceiptSchema = z.object({
  id: z.string().min(1),
  status: z.enum(['delivered', 'failed', 'expired', 'rejected']),
  error_code: z.union([z.string(), z.number()]).optional(),
  part: z.number().int().min(1).optional(),
  parts: z.number().int().min(1).optional(),
  timestamp: z.union([z.iso.datetime(), z.number()]).optional(),
});

/** What the simulator posts to the inbound URL. */
export const simulatorInboundSchema = z.object({
  id: z.string().min(1),
  from: z.string().min(1),
  to: z.string(),
  text: z.string(),
  received_at: z.iso.datetime(),
});

const PERMANENT = defaultPermanentStatuses();

/** The adapter for our provider simulator, spoken to over real HTTP like any provider. */
export function createSimulatorProvider(options: SimulatorClientOptions): SmsProvider {
  const sendUrl = new URL(`${options.baseUrl.replace(/\/$/, '')}/send`);
  const client = createHttpClient({ maxSockets: options.maxSockets });
  const verifySignature = createSignatureVerifier(options.secret);

  function verify(headers: HttpHeaders, rawBody: string, nowMs: number): { ok: false; status: 403; reason: string } | undefined {
    const check = verifySignature(rawBody, headers[SIGNATURE_HEADER], nowMs);
    return check.ok ? undefined : { ok: false, status: 403, reason: check.reason };
  }

  return {
    name: 'simulator',
    idempotent: true,
    async send(sms: OutgoingSms): Promise<SendResult> {
      const body = JSON.stringify({ to: sms.to, from: sms.from, text: sms.text, callback_url: sms.callbackUrl });
      let response;
      try {
        response = await client.request('POST', sendUrl, body, { 'idempotency-key': sms.idempotencyKey }, options.timeoutMs);
      } catch (error) {
        return classifyCallError(error);
      }
      return classifyAnswer(response, PERMANENT, options.clock.now(), (text) => {
        const parsed = sendAnswer.safeParse(safeJson(text));
        return parsed.success ? { id: parsed.data.id, parts: parsed.data.parts } : { id: undefined };
      });
    },
    checkWebhookHeaders(_kind, headers) {
      const problem = signatureHeaderProblem(headers[SIGNATURE_HEADER]);
      return problem ? { ok: false, status: 403, reason: problem } : undefined;
    },
    parseReceipt(headers, rawBody, nowMs): ReceiptParse {
      const refused = verify(headers, rawBody, nowMs);
      if (refused) return refused;
      const parsed = simulatorReceiptSchema.safeParse(safeJson(rawBody));
      if (!parsed.success) return { ok: false, status: 400, reason: 'receipt needs "id" and "status" (delivered|failed|expired|rejected)' };
      const r = parsed.data;
      const timestamp = typeof r.timestamp === 'string' ? Date.parse(r.timestamp) : r.timestamp;
      return {
        ok: true,
        receipt: {
          providerMessageId: r.id,
          status: r.status,
          ...(r.error_code !== undefined ? { errorCode: String(r.error_code) } : {}),
          ...(r.part !== undefined ? { part: r.part } : {}),
          ...(r.parts !== undefined ? { parts: r.parts } : {}),
          ...(timestamp !== undefined ? { providerTimestamp: timestamp } : {}),
          rawBody,
        },
      };
    },
    parseInbound(headers, rawBody, nowMs): InboundParse {
      const refused = verify(headers, rawBody, nowMs);
      if (refused) return refused;
      const parsed = simulatorInboundSchema.safeParse(safeJson(rawBody));
      if (!parsed.success) return { ok: false, status: 400, reason: 'inbound SMS needs "id", "from", "to", "text" and "received_at"' };
      const from = toE164(parsed.data.from);
      if (!from) return { ok: false, status: 400, reason: '"from" is not a phone number' };
      const { id, to, text, received_at: receivedAt } = parsed.data;
      return { ok: true, inbound: { providerId: id, from, to, text, receivedAt: Date.parse(receivedAt) } };
    },
    close: () => client.destroy(),
  };
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
