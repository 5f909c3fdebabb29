import type { VonageProviderConfig } from '../../config/providers.js';
import { createHttpClient } from '../../core/http-client.js';
import { isGsm7 } from '../../message/encoding.js';
import { header, interim, notConfigured, priceOf, queryOf, refuse, statusRow, type AdapterDeps } from '../adapter-kit.js';
import { classifyAnswer, classifyCallError, defaultPermanentStatuses, excerpt, toE164 } from '../classify.js';
import { safeJson } from '../simulator-client.js';
import type { HttpHeaders, InboundParse, OutgoingSms, ReceiptParse, SendResult, SmsProvider, WebhookRefusal, WebhookRequest } from '../types.js';
import { verifyVonageSignature } from './signature.js';
import { VONAGE_DLR_ERRORS, VONAGE_SEND_STATUSES, VONAGE_STATUSES } from './statuses.js';

/*
 * Vonage's SMS API, over our HTTP client: a send is one form-encoded POST, and
 * @vonage/server-sdk would bring a dozen packages for it.
 *
 *   send:     POST {base_url}/sms/json (form: api_key, api_secret, from, to, text, type, callback, client-ref)
 *   receipts: the delivery receipt webhook (`callback` per send)
 *   inbound:  the number's inbound webhook
 * Both webhooks are verified by Vonage's signature (`sig`, with `timestamp`
 * and `nonce`, over the parameters), which Vonage support enables per account.
 *
 * Vonage gives each part of a long SMS its own message-id and its own receipt,
 * but echoes our `client-ref` in every one: the send's id is therefore our
 * idempotency key, sent as client-ref, so every part's receipt finds its row.
 */

/** Vonage accounts are charged in euros; message-price carries no currency. */
const VONAGE_CURRENCY = 'EUR';
const PERMANENT = defaultPermanentStatuses();

interface VonageMessage {
  status?: unknown;
  'message-id'?: unknown;
  'message-price'?: unknown;
  'error-text'?: unknown;
}

export function createVonageProvider(config: VonageProviderConfig, deps: AdapterDeps): SmsProvider {
  const sendUrl = new URL(`${config.base_url.replace(/\/$/, '')}/sms/json`);
  const client = createHttpClient({ maxSockets: deps.maxSockets });
  const headers = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
  const secret = config.signature_secret;
  const fixedFields = new URLSearchParams({ api_key: config.api_key, api_secret: config.api_secret, 'status-report-req': '1' }).toString();

  function verified(h: HttpHeaders, rawBody: string, nowMs: number, request: WebhookRequest | undefined): Map<string, string> | WebhookRefusal {
    if (secret === undefined) return notConfigured('no signature_secret configured: Vonage webhooks are verified by their signature');
    const params = webhookParams(h, rawBody, request);
    const check = verifyVonageSignature(config.signature_method, secret, params, nowMs);
    if (!check.ok) return refuse(403, check.reason);
    if (params.get('api-key') !== undefined && params.get('api-key') !== config.api_key) return refuse(403, 'another_account');
    return params;
  }

  return {
    name: deps.name,
    // The SMS API has no idempotency key: a timeout after the request was written may have sent it.
    idempotent: false,
    async send(sms: OutgoingSms): Promise<SendResult> {
      // The account's fields are encoded once; per SMS only its own (URLSearchParams cost a third more per send).
      const form = `${fixedFields}&from=${encodeURIComponent(sms.from.replace(/^\+/, ''))}&to=${encodeURIComponent(sms.to.replace(/^\+/, ''))}`
        + `&text=${encodeURIComponent(sms.text)}&type=${isGsm7(sms.text) ? 'text' : 'unicode'}`
        + `&callback=${encodeURIComponent(sms.callbackUrl)}&client-ref=${encodeURIComponent(sms.idempotencyKey)}`;
      let response;
      try {
        response = await client.request('POST', sendUrl, form, headers, config.timeout);
      } catch (error) {
        return classifyCallError(error);
      }
      if (response.status < 200 || response.status >= 300) return classifyAnswer(response, PERMANENT, deps.clock.now(), () => ({ id: undefined }));
      return sendAnswer(response.body, sms.idempotencyKey);
    },
    checkWebhookHeaders() {
      // The signature is among the parameters, in the body (POST) or the query (GET): nothing to judge before the body.
      return secret === undefined ? notConfigured('no signature_secret configured: Vonage webhooks are verified by their signature') : undefined;
    },
    parseReceipt(h, rawBody, nowMs, request): ReceiptParse {
      const params = verified(h, rawBody, nowMs, request);
      return params instanceof Map ? receiptFrom(params, rawBody) : params;
    },
    parseInbound(h, rawBody, nowMs, request): InboundParse {
      const params = verified(h, rawBody, nowMs, request);
      if (!(params instanceof Map)) return params;
      const id = params.get('messageId');
      const rawFrom = params.get('msisdn');
      if (!id || !rawFrom) return refuse(400, 'inbound SMS needs messageId and msisdn');
      const from = toE164(rawFrom);
      if (!from) return refuse(400, 'the sender is not a phone number');
      const stamp = Date.parse(`${(params.get('message-timestamp') ?? '').replace(' ', 'T')}Z`);
      return {
        ok: true,
        inbound: { providerId: id, from, to: params.get('to') ?? '', text: params.get('text') ?? '', receivedAt: Number.isNaN(stamp) ? nowMs : stamp },
      };
    },
    close: () => client.destroy(),
  };
}

/** A 200 answer: one message per part, each with its own status; any part sent means the SMS was (partly) sent. */
function sendAnswer(body: string, clientRef: string): SendResult {
  const json = safeJson(body) as { messages?: unknown } | undefined;
  const messages = Array.isArray(json?.messages) ? (json.messages as VonageMessage[]) : [];
  const sent = messages.filter((m) => m.status === '0' || m.status === 0);
  if (sent.length > 0) {
    const cost = sent.reduce((sum, m) => sum + (priceOf(m['message-price'], VONAGE_CURRENCY)?.amount ?? 0), 0);
    const priced = sent.every((m) => priceOf(m['message-price'], VONAGE_CURRENCY));
    return {
      ok: true,
      providerMessageId: clientRef,
      parts: messages.length,
      ...(priced ? { price: { amount: Math.round(cost * 1e8) / 1e8, currency: VONAGE_CURRENCY } } : {}),
    };
  }
  const first = messages[0];
  if (!first) return { ok: false, temporary: true, unknown: true, reason: `HTTP 200 without messages: ${excerpt(body)}` };
  const code = String(first.status);
  const known = VONAGE_SEND_STATUSES[code];
  const words = typeof first['error-text'] === 'string' ? first['error-text'] : (known?.meaning ?? 'unknown status');
  const reason = `Vonage status ${code}: ${words}`;
  if (code === '1') return { ok: false, temporary: true, reason, retryAfterMs: 1000 };
  return { ok: false, temporary: known?.temporary ?? false, reason };
}

/** A delivery receipt's parameters as a receipt, an interim status, or why not. */
function receiptFrom(params: Map<string, string>, rawBody: string): ReceiptParse {
  // Every part's receipt names our client-ref; a receipt without one (sent by another system) by its own id.
  const id = params.get('client-ref') ?? params.get('messageId');
  const status = params.get('status');
  if (!id || !status) return refuse(400, 'receipt needs messageId (or client-ref) and status');
  const row = statusRow(VONAGE_STATUSES, status);
  if (!row) return interim('unknown', `Vonage status "${status}" is not in our table`);
  if (row.ours === 'sent' || row.ours === 'unknown') return interim(row.ours, `Vonage status ${status}: ${row.meaning}`);
  const errorCode = params.get('err-code');
  const known = errorCode !== undefined && errorCode !== '0' ? VONAGE_DLR_ERRORS[errorCode] : undefined;
  return {
    ok: true,
    receipt: {
      providerMessageId: id,
      status: row.ours,
      ...(errorCode !== undefined && errorCode !== '0' ? { errorCode: known ? `${errorCode} ${known}` : errorCode } : {}),
      rawBody: rawBody === '' ? new URLSearchParams([...params]).toString() : rawBody,
    },
  };
}

/**
 * A webhook's parameters, wherever the dashboard's webhook format puts them:
 * the query (GET), a form body (POST) or a JSON body (POST-JSON). Later ones
 * win; the signature covers them all.
 */
export function webhookParams(h: HttpHeaders, rawBody: string, request: WebhookRequest | undefined): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(queryOf(request))) if (!params.has(name)) params.set(name, value);
  const type = (header(h, 'content-type') ?? '').toLowerCase();
  if (type.includes('json')) {
    const json = safeJson(rawBody);
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      for (const [name, value] of Object.entries(json)) {
        if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') params.set(name, String(value));
      }
    }
  } else if (rawBody !== '') {
    for (const [name, value] of new URLSearchParams(rawBody)) params.set(name, value);
  }
  return params;
}
