import type { ReceiptStatus } from '../ledger/types.js';
import { createHttpPost } from './http-client.js';
import { SIGNATURE_HEADER, verifyBody } from './signing.js';
import type { OutgoingSms, ReceiptParse, SendResult, SmsProvider } from './types.js';

export interface SimulatorClientOptions {
  baseUrl: string;
  secret: string;
  timeoutMs: number;
  /** Upper bound of concurrent connections to the provider. */
  maxSockets: number;
}

/** The adapter for our provider simulator, spoken to over real HTTP like any provider. */
export function createSimulatorProvider(options: SimulatorClientOptions): SmsProvider {
  const sendUrl = new URL(`${options.baseUrl.replace(/\/$/, '')}/send`);
  const post = createHttpPost({ maxSockets: options.maxSockets });
  return {
    name: 'simulator',
    async send(sms: OutgoingSms): Promise<SendResult> {
      let response;
      try {
        response = await post(
          sendUrl,
          JSON.stringify({ to: sms.to, from: sms.from, text: sms.text, callback_url: sms.callbackUrl }),
          { 'idempotency-key': sms.idempotencyKey },
          options.timeoutMs,
        );
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        return { ok: false, temporary: true, reason: code === 'ETIMEDOUT' ? 'provider timed out' : `provider unreachable: ${code ?? (error as Error).message}` };
      }
      const { status, body } = response;
      if (status >= 200 && status < 300) {
        const id = safeJson(body)?.id;
        if (typeof id === 'string' && id) return { ok: true, providerMessageId: id };
        return { ok: false, temporary: true, reason: 'provider answered without a message id' };
      }
      const temporary = status === 429 || status >= 500;
      const retryAfter = Number(response.headers['retry-after']);
      return {
        ok: false,
        temporary,
        reason: `provider answered ${status}${body ? `: ${body.slice(0, 200)}` : ''}`,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      };
    },
    parseReceipt(headers, rawBody): ReceiptParse {
      const signature = headers[SIGNATURE_HEADER];
      if (!verifyBody(options.secret, rawBody, Array.isArray(signature) ? signature[0] : signature)) {
        return { ok: false, status: 403, reason: 'bad or missing signature' };
      }
      const body = safeJson(rawBody);
      const status = body?.status;
      if (typeof body?.id !== 'string' || (status !== 'delivered' && status !== 'failed')) {
        return { ok: false, status: 400, reason: 'receipt needs "id" and "status" (delivered|failed)' };
      }
      return {
        ok: true,
        receipt: {
          providerMessageId: body.id,
          status: status as ReceiptStatus,
          ...(typeof body.error_code === 'string' ? { errorCode: body.error_code } : {}),
          rawBody,
        },
      };
    },
  };
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
