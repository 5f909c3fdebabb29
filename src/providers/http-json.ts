import type { Clock } from '../core/clock.js';
import type { HttpProviderConfig } from '../config/schema.js';
import type { ReceiptStatus } from '../ledger/types.js';
import { createHttpClient } from '../core/http-client.js';
import { createSignatureVerifier, SIGNATURE_HEADER, signatureHeaderProblem } from '../core/signing.js';
import { classifyAnswer, classifyCallError, defaultPermanentStatuses, toE164 } from './classify.js';
import { safeJson } from './simulator-client.js';
import type { HttpHeaders, InboundParse, OutgoingSms, ReceiptParse, SendResult, SmsProvider } from './types.js';

/*
 * A generic HTTP/JSON SMS provider, described entirely by config: where to
 * POST, how to authenticate, a JSON body template, and where in the answer and
 * in the callbacks the fields are. Most SMS APIs fit this shape; one that does
 * not gets its own adapter behind the same SmsProvider interface.
 */

export interface HttpJsonProviderDeps {
  clock: Clock;
  /** Upper bound of concurrent connections to the provider. */
  maxSockets: number;
}

type Placeholders = Record<'to' | 'from' | 'text' | 'idempotency_key' | 'callback_url', string>;

/**
 * Fills the body template. Substitution happens on the parsed value and the
 * result is serialised once, so quotes, newlines and emoji in the SMS text can
 * never break the JSON. A string that is just one placeholder becomes that
 * value; placeholders inside a longer string are interpolated.
 */
export function renderTemplate(template: unknown, values: Placeholders): unknown {
  if (typeof template === 'string') {
    const whole = /^\{\{\s*(\w+)\s*\}\}$/.exec(template);
    if (whole) return values[whole[1] as keyof Placeholders] ?? template;
    return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (match, name: string) => values[name as keyof Placeholders] ?? match);
  }
  if (Array.isArray(template)) return template.map((item) => renderTemplate(item, values));
  if (template && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, renderTemplate(value, values)]));
  }
  return template;
}

/** `messages.0.id` → value, walking objects by key and arrays by index. */
export function getPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = current[Number(key)];
    else if (current && typeof current === 'object' && !Array.isArray(current)) current = (current as Record<string, unknown>)[key];
    else return undefined;
  }
  return current;
}

function stringAt(value: unknown, path: string | undefined): string | undefined {
  if (!path) return undefined;
  const found = getPath(value, path);
  return typeof found === 'string' && found !== '' ? found : typeof found === 'number' ? String(found) : undefined;
}

function positiveIntAt(value: unknown, path: string | undefined): number | undefined {
  if (!path) return undefined;
  const found = Number(getPath(value, path));
  return Number.isInteger(found) && found > 0 ? found : undefined;
}

/** A provider timestamp: epoch seconds, epoch ms or an ISO 8601 string. */
function timeAt(value: unknown, path: string | undefined): number | undefined {
  if (!path) return undefined;
  const found = getPath(value, path);
  if (typeof found === 'number' && Number.isFinite(found)) return found < 1e11 ? found * 1000 : found;
  if (typeof found === 'string') {
    const parsed = /^\d+$/.test(found) ? timeAt({ t: Number(found) }, 't') : Date.parse(found);
    return parsed !== undefined && !Number.isNaN(parsed) ? parsed : undefined;
  }
  return undefined;
}

export function createHttpJsonProvider(config: HttpProviderConfig, deps: HttpJsonProviderDeps): SmsProvider {
  const url = new URL(config.url);
  const client = createHttpClient({ maxSockets: deps.maxSockets });
  const permanent: ReadonlySet<number> = config.permanent_statuses ? new Set(config.permanent_statuses) : defaultPermanentStatuses();
  const fixedHeaders: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(config.headers)) fixedHeaders[name.toLowerCase()] = value;
  if (config.auth?.bearer !== undefined) fixedHeaders.authorization = `Bearer ${config.auth.bearer}`;
  if (config.auth?.basic) {
    const { user, password } = config.auth.basic;
    fixedHeaders.authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const idempotencyHeader = config.idempotency_header?.toLowerCase() ?? null;
  const receipts = config.receipts;
  const verifySignature = receipts ? createSignatureVerifier(receipts.secret) : undefined;

  function verify(headers: HttpHeaders, rawBody: string, nowMs: number): { ok: false; status: 400 | 403; reason: string } | undefined {
    if (!verifySignature) return { ok: false, status: 400, reason: 'this provider has no receipts configured' };
    const check = verifySignature(rawBody, headers[SIGNATURE_HEADER], nowMs);
    return check.ok ? undefined : { ok: false, status: 403, reason: check.reason };
  }

  return {
    name: `http ${url.host}`,
    idempotent: idempotencyHeader !== null,
    async send(sms: OutgoingSms): Promise<SendResult> {
      const body = JSON.stringify(
        renderTemplate(config.body, {
          to: sms.to,
          from: sms.from,
          text: sms.text,
          idempotency_key: sms.idempotencyKey,
          callback_url: sms.callbackUrl,
        }),
      );
      const headers = idempotencyHeader ? { ...fixedHeaders, [idempotencyHeader]: sms.idempotencyKey } : fixedHeaders;
      let response;
      try {
        response = await client.request(config.method, url, body, headers, config.timeout);
      } catch (error) {
        return classifyCallError(error);
      }
      return classifyAnswer(response, permanent, deps.clock.now(), (text) => {
        const json = safeJson(text);
        return { id: stringAt(json, config.id_path), parts: positiveIntAt(json, config.parts_path) };
      });
    },
    checkWebhookHeaders(kind, headers) {
      if (kind === 'inbound' && !config.inbound) return { ok: false, status: 400, reason: 'this provider has no inbound SMS configured' };
      if (!verifySignature) return { ok: false, status: 400, reason: 'this provider has no receipts configured' };
      const problem = signatureHeaderProblem(headers[SIGNATURE_HEADER]);
      return problem ? { ok: false, status: 403, reason: problem } : undefined;
    },
    parseReceipt(headers, rawBody, nowMs): ReceiptParse {
      const refused = verify(headers, rawBody, nowMs);
      if (refused || !receipts) return refused ?? { ok: false, status: 400, reason: 'no receipts configured' };
      const json = safeJson(rawBody);
      const id = stringAt(json, receipts.id_path);
      const providerStatus = stringAt(json, receipts.status_path);
      if (!id || providerStatus === undefined) return { ok: false, status: 400, reason: `receipt needs ${receipts.id_path} and ${receipts.status_path}` };
      const status: ReceiptStatus | undefined = Object.hasOwn(receipts.status_map, providerStatus) ? receipts.status_map[providerStatus] : undefined;
      if (!status) return { ok: false, status: 400, reason: `receipt status "${providerStatus}" is not in receipts.status_map` };
      const errorCode = stringAt(json, receipts.error_path);
      const part = positiveIntAt(json, receipts.part_path);
      const parts = positiveIntAt(json, receipts.parts_path);
      const timestamp = timeAt(json, receipts.timestamp_path);
      return {
        ok: true,
        receipt: {
          providerMessageId: id,
          status,
          ...(errorCode !== undefined ? { errorCode } : {}),
          ...(part !== undefined ? { part } : {}),
          ...(parts !== undefined ? { parts } : {}),
          ...(timestamp !== undefined ? { providerTimestamp: timestamp } : {}),
          rawBody,
        },
      };
    },
    parseInbound(headers, rawBody, nowMs): InboundParse {
      const inbound = config.inbound;
      if (!inbound) return { ok: false, status: 400, reason: 'this provider has no inbound SMS configured' };
      const refused = verify(headers, rawBody, nowMs);
      if (refused) return refused;
      const json = safeJson(rawBody);
      const id = stringAt(json, inbound.id_path);
      const rawFrom = stringAt(json, inbound.from_path);
      const text = getPath(json, inbound.text_path);
      if (!id || !rawFrom || typeof text !== 'string') {
        return { ok: false, status: 400, reason: `inbound SMS needs ${inbound.id_path}, ${inbound.from_path} and ${inbound.text_path}` };
      }
      const from = toE164(rawFrom);
      if (!from) return { ok: false, status: 400, reason: 'the sender is not a phone number' };
      return {
        ok: true,
        inbound: {
          providerId: id,
          from,
          to: stringAt(json, inbound.to_path) ?? '',
          text,
          receivedAt: timeAt(json, inbound.received_at_path) ?? nowMs,
        },
      };
    },
    close: () => client.destroy(),
  };
}
