import type { HttpCallError, HttpPostResult } from '../core/http-client.js';
import type { SendResult } from './types.js';

/*
 * How a provider's HTTP answer (or the lack of one) becomes a SendResult. One
 * table for every adapter, so "temporary", "permanent" and "unknown" mean the
 * same thing whichever provider is configured.
 */

/** 4xx except 408 (request timeout) and 429 (too many requests): the provider will never take this request. */
export function defaultPermanentStatuses(): ReadonlySet<number> {
  const statuses = new Set<number>();
  for (let status = 400; status < 500; status++) if (status !== 408 && status !== 429) statuses.add(status);
  return statuses;
}

/** A failed call (no HTTP answer). A timeout after the request was sent is `unknown`: the provider may have acted on it. */
export function classifyCallError(error: unknown): SendResult & { ok: false } {
  const e = error as Partial<HttpCallError>;
  if (e.code === 'ETIMEDOUT') {
    return e.requestSent
      ? { ok: false, temporary: true, unknown: true, reason: 'timeout after request was sent' }
      : { ok: false, temporary: true, reason: 'provider timed out before the request was sent' };
  }
  return { ok: false, temporary: true, reason: `provider unreachable: ${e.code ?? e.message ?? String(error)}` };
}

/**
 * Retry-After in milliseconds from now: delta-seconds or an HTTP date
 * (RFC 9110 10.2.3). Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** The start of a body for a reason string: one line, at most `max` characters. */
export function excerpt(body: string, max = 200): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export interface AcceptedAnswer {
  id: string | undefined;
  parts?: number | undefined;
}

/**
 * Classifies an HTTP answer; `read` extracts the message id (and parts) from a
 * 2xx body. A 2xx without an id is `unknown`: the provider probably took the
 * SMS, but we cannot match its receipts.
 */
export function classifyAnswer(
  response: HttpPostResult,
  permanentStatuses: ReadonlySet<number>,
  nowMs: number,
  read: (body: string) => AcceptedAnswer,
): SendResult {
  const { status, body } = response;
  if (status >= 200 && status < 300) {
    const { id, parts } = read(body);
    if (id) return { ok: true, providerMessageId: id, ...(parts !== undefined ? { parts } : {}) };
    return { ok: false, temporary: true, unknown: true, reason: `HTTP ${status} without a message id: ${excerpt(body)}` };
  }
  const reason = `HTTP ${status}${body ? `: ${excerpt(body)}` : ''}`;
  if (permanentStatuses.has(status)) return { ok: false, temporary: false, reason };
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(response.headers['retry-after'], nowMs) : undefined;
  return { ok: false, temporary: true, reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

/** Normalises a provider's sender number to E.164 (`+` and 6–15 digits); undefined when it is not a number. */
export function toE164(raw: string): string | undefined {
  const compact = raw.replace(/[\s().-]/g, '');
  const digits = compact.startsWith('+') ? compact.slice(1) : compact.startsWith('00') ? compact.slice(2) : compact;
  return /^[1-9]\d{5,14}$/.test(digits) ? `+${digits}` : undefined;
}
