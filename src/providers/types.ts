import type { Receipt } from '../ledger/types.js';

export interface OutgoingSms {
  to: string;
  from: string;
  text: string;
  /** Stable per outbox row across retries and restarts, so a provider can drop a repeated call. */
  idempotencyKey: string;
  /** Where the provider posts the delivery receipt. */
  callbackUrl: string;
  /** The setup behind the SMS: routes may match on it (routed.ts). */
  setupId?: string;
}

/**
 * What one send attempt came to.
 * - `ok`: the provider took the SMS; `parts` is its segment count when it says.
 * - `temporary`: worth retrying (timeouts, connection errors, 5xx, 429 with
 *   `retryAfterMs` from Retry-After); otherwise permanent (e.g. 400).
 * - `unknown`: the request reached the provider but no answer came back, so it
 *   may have been sent. Safe to retry only when the provider is `idempotent`;
 *   otherwise the dispatcher should park the row as `unknown` rather than risk
 *   a second SMS.
 */
export type SendResult =
  | ({ ok: true; providerMessageId: string; parts?: number } & RouteTrail)
  | ({ ok: false; temporary: boolean; reason: string; retryAfterMs?: number; unknown?: boolean } & RouteTrail);

/** Which provider of a route answered, and why the ones before it were passed over (routed.ts). */
export interface RouteTrail {
  via?: string;
  hops?: string[];
}

export type HttpHeaders = Record<string, string | string[] | undefined>;

/** On failure, `reason` for a 403 is the signature check's code (missing, malformed, bad_signature, too_old, in_future). */
export type WebhookRefusal = { ok: false; status: 400 | 403; reason: string };

/**
 * A report of an SMS still on its way (Kannel's "accepted by the SMSC" or
 * "buffered"): answered 200 so the provider does not retry it, and settles
 * nothing (the row is `sent` already).
 */
export interface ReceiptProgress {
  providerMessageId: string;
  /** The provider's own word for the step, for the debug log. */
  detail: string;
}

export type ReceiptParse =
  | { ok: true; receipt: Receipt }
  | { ok: true; progress: ReceiptProgress }
  | { ok: false; status: 400 | 403; reason: string };

/** An SMS someone sent to one of our numbers. */
export interface InboundSms {
  /** The provider's id of the inbound message (for de-duplication). */
  providerId: string;
  /** E.164. */
  from: string;
  /** Our number (or sender name) the reply went to, as the provider gives it. */
  to: string;
  text: string;
  /** Epoch ms. */
  receivedAt: number;
}

export type InboundParse =
  | { ok: true; inbound: InboundSms }
  | { ok: false; status: 400 | 403; reason: string };

/** One SMS provider behind HTTP. Adapters translate; they never decide policy. */
export interface SmsProvider {
  readonly name: string;
  /** True when the provider drops a repeated send with the same idempotency key, so an `unknown` outcome may be retried. */
  readonly idempotent: boolean;
  send(sms: OutgoingSms): Promise<SendResult>;
  /** A webhook (receipt or inbound SMS) refused from its headers alone, before its body is read; undefined to read on. */
  checkWebhookHeaders(kind: 'receipt' | 'inbound', headers: HttpHeaders): WebhookRefusal | undefined;
  /** Verifies the signature of a receipt callback (against `nowMs`) and parses it into a typed Receipt. */
  parseReceipt(headers: HttpHeaders, rawBody: string, nowMs: number): ReceiptParse;
  /** Verifies and parses an inbound SMS webhook. */
  parseInbound(headers: HttpHeaders, rawBody: string, nowMs: number): InboundParse;
  /**
   * Whether a callback from this address may be read at all (Kannel's
   * allow_from: Kannel signs nothing); absent = any address.
   */
  acceptsSource?(remoteAddress: string | undefined): boolean;
  /** Closes kept-alive connections. */
  close(): void;
}
