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
  | ({ ok: true; providerMessageId: string; parts?: number; price?: Price } & RouteTrail)
  | ({
      ok: false;
      temporary: boolean;
      reason: string;
      retryAfterMs?: number;
      unknown?: boolean;
      /** The provider refused because the recipient opted out with it (Twilio 21610): record an opt-out with `reason` as evidence. */
      optedOut?: boolean;
    } & RouteTrail);

/** Which provider of a route answered, and why the ones before it were passed over (routed.ts). */
export interface RouteTrail {
  via?: string;
  hops?: string[];
}

/** What the provider says an SMS cost, when it says (GatewayAPI's usage, Vonage's message-price). */
export interface Price {
  amount: number;
  /** ISO 4217, as the provider gives it. */
  currency: string;
}

/**
 * The request a webhook came as, for providers that sign more than the body or
 * authenticate by URL: Twilio signs the full URL, inMobile's token is in its
 * query, Vonage may send its fields in the query (GET). Optional so that the
 * simulator and the generic adapter, which need only headers and body, keep
 * their shape.
 */
export interface WebhookRequest {
  /** The URL as the provider called it: http.public_url + the request's path and query. */
  url: string;
}

/** What the route must answer instead of its JSON, when a provider expects a particular body (Twilio: empty TwiML). */
export interface WebhookReply {
  contentType: string;
  body: string;
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
  | { ok: true; progress: ReceiptProgress }
  | {
      ok: true;
      receipt: Receipt;
      /** Every receipt of a callback that carries several (inMobile batches them), `receipt` first; absent = just `receipt`. */
      receipts?: readonly Receipt[];
      /** The receipt says the recipient opted out with the provider: record an opt-out with the receipt as evidence. */
      optedOut?: boolean;
    }
  | { ok: false; status: 400 | 403; reason: string }
  | ReceiptInterim;

/**
 * A verified callback that reports nothing the ledger records: an interim
 * status (sent, en route, buffered) or one the provider itself calls unknown.
 * Not a refusal: answer 200 so the provider does not retry. It is `ok: false`
 * so that a route that only knows final receipts answers it without touching
 * the ledger.
 */
export interface ReceiptInterim {
  ok: false;
  status: 200;
  reason: string;
  interim: 'sent' | 'unknown';
}

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
  | {
      ok: true;
      inbound: InboundSms;
      /** Every SMS of a callback that carries several (inMobile), `inbound` first; absent = just `inbound`. */
      inbounds?: readonly InboundSms[];
      /** The answer the provider expects (status 200); absent = the route's usual JSON. */
      reply?: WebhookReply;
    }
  | { ok: false; status: 400 | 403; reason: string };

/** One SMS provider behind HTTP. Adapters translate; they never decide policy. */
export interface SmsProvider {
  readonly name: string;
  /** True when the provider drops a repeated send with the same idempotency key, so an `unknown` outcome may be retried. */
  readonly idempotent: boolean;
  send(sms: OutgoingSms): Promise<SendResult>;
  /** A webhook (receipt or inbound SMS) refused from its headers (and URL) alone, before its body is read; undefined to read on. */
  checkWebhookHeaders(kind: 'receipt' | 'inbound', headers: HttpHeaders, request?: WebhookRequest): WebhookRefusal | undefined;
  /** Verifies the signature of a receipt callback (against `nowMs`) and parses it into a typed Receipt. */
  parseReceipt(headers: HttpHeaders, rawBody: string, nowMs: number, request?: WebhookRequest): ReceiptParse;
  /** Verifies and parses an inbound SMS webhook. */
  parseInbound(headers: HttpHeaders, rawBody: string, nowMs: number, request?: WebhookRequest): InboundParse;
  /**
   * Whether a callback from this address may be read at all (Kannel's
   * allow_from: Kannel signs nothing); absent = any address.
   */
  acceptsSource?(remoteAddress: string | undefined): boolean;
  /** Closes kept-alive connections. */
  close(): void;
}
