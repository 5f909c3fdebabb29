import type { Receipt } from '../ledger/types.js';

export interface OutgoingSms {
  to: string;
  from: string;
  text: string;
  /** Stable per outbox row across retries and restarts, so a provider can drop a repeated call. */
  idempotencyKey: string;
  /** Where the provider posts the delivery receipt. */
  callbackUrl: string;
}

export type SendResult =
  | { ok: true; providerMessageId: string }
  | { ok: false; temporary: boolean; reason: string; retryAfterMs?: number };

export type ReceiptParse =
  | { ok: true; receipt: Receipt }
  | { ok: false; status: 400 | 403; reason: string };

/** One SMS provider behind HTTP. Adapters translate; they never decide policy. */
export interface SmsProvider {
  readonly name: string;
  send(sms: OutgoingSms): Promise<SendResult>;
  /** Verifies the signature of a receipt callback and parses it into a typed Receipt. */
  parseReceipt(headers: Record<string, string | string[] | undefined>, rawBody: string): ReceiptParse;
}
