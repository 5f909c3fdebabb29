import type { TwilioProviderConfig } from '../../config/providers.js';
import { createHttpClient } from '../../core/http-client.js';
import {
  basicAuthorization,
  field,
  formFields,
  header,
  interim,
  notConfigured,
  positiveInt,
  priceOf,
  refuse,
  statusRow,
  type AdapterDeps,
} from '../adapter-kit.js';
import { classifyAnswer, classifyCallError, defaultPermanentStatuses, toE164 } from '../classify.js';
import { safeJson } from '../simulator-client.js';
import type { HttpHeaders, InboundParse, OutgoingSms, ReceiptParse, SendResult, SmsProvider, WebhookRefusal, WebhookRequest } from '../types.js';
import { TWILIO_ERRORS, TWILIO_OPTED_OUT, TWILIO_STATUSES } from './statuses.js';
import { TWILIO_SIGNATURE_HEADER, TWILIO_SIGNATURE_SETTINGS_HEADER, twilioSignatureShapeOk, twilioSignatureValid } from './signature.js';

/*
 * Twilio Programmable Messaging, written over our HTTP client rather than the
 * `twilio` package: a send is one form-encoded POST, and the SDK (axios and
 * ~50 packages) would add weight and per-call cost for that one call. The SDK
 * is the oracle of our signature check in the tests.
 *
 *   send:     POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json
 *             (form: To, Body, From | MessagingServiceSid, StatusCallback; HTTP Basic)
 *   receipts: StatusCallback form posts, X-Twilio-Signature
 *   inbound:  the number's "A message comes in" webhook, answered with empty TwiML
 */

/** What Twilio expects back from an inbound SMS webhook when we send no reply through it. */
export const EMPTY_TWIML = { contentType: 'text/xml; charset=utf-8', body: '<?xml version="1.0" encoding="UTF-8"?><Response/>' } as const;

const PERMANENT = defaultPermanentStatuses();

export function createTwilioProvider(config: TwilioProviderConfig, deps: AdapterDeps): SmsProvider {
  const sendUrl = new URL(`${config.base_url.replace(/\/$/, '')}/2010-04-01/Accounts/${config.account_sid}/Messages.json`);
  const client = createHttpClient({ maxSockets: deps.maxSockets });
  const user = config.api_key_sid ?? config.account_sid;
  const password = config.api_key_secret ?? config.auth_token ?? '';
  const headers = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
    authorization: basicAuthorization(user, password),
  };
  const authToken = config.auth_token;

  /** The signature and its settings checked before the body; the MAC itself needs the body. */
  function checkHeaders(h: HttpHeaders, request: WebhookRequest | undefined): WebhookRefusal | undefined {
    if (authToken === undefined) return notConfigured('no auth_token configured: Twilio signs callbacks with the account\'s auth token');
    if (!request) return refuse(403, 'no_request_url');
    const algorithm = /algorithm=([^,]*)/.exec(header(h, TWILIO_SIGNATURE_SETTINGS_HEADER) ?? '')?.[1]?.trim();
    if (algorithm && algorithm.toUpperCase() !== 'HMAC_SHA1') return refuse(403, 'unsupported_algorithm');
    const signature = header(h, TWILIO_SIGNATURE_HEADER);
    if (signature === undefined || signature === '') return refuse(403, 'missing');
    return twilioSignatureShapeOk(signature) ? undefined : refuse(403, 'malformed');
  }

  /** The callback's form fields once its signature holds, or why not. */
  function verified(h: HttpHeaders, rawBody: string, request: WebhookRequest | undefined): Map<string, string[]> | WebhookRefusal {
    const problem = checkHeaders(h, request);
    if (problem || !request || authToken === undefined) return problem ?? refuse(403, 'missing');
    const fields = formFields(rawBody);
    return twilioSignatureValid(authToken, request.url, fields, header(h, TWILIO_SIGNATURE_HEADER) ?? '') ? fields : refuse(403, 'bad_signature');
  }

  return {
    name: deps.name,
    // Twilio has no idempotency key for creating a message: a timeout after the request was written may have sent it.
    idempotent: false,
    async send(sms: OutgoingSms): Promise<SendResult> {
      let response;
      try {
        response = await client.request('POST', sendUrl, messageForm(config, sms), headers, config.timeout);
      } catch (error) {
        return classifyCallError(error);
      }
      const json = safeJson(response.body) as Record<string, unknown> | undefined;
      const result = classifyAnswer(response, PERMANENT, deps.clock.now(), () => ({
        id: typeof json?.sid === 'string' ? json.sid : undefined,
        parts: positiveInt(json?.num_segments),
      }));
      if (result.ok) {
        const price = priceOf(json?.price, json?.price_unit);
        return price ? { ...result, price } : result;
      }
      return explainRefusal(result, json);
    },
    checkWebhookHeaders: (_kind, h, request) => checkHeaders(h, request),
    parseReceipt(h, rawBody, _nowMs, request): ReceiptParse {
      const fields = verified(h, rawBody, request);
      if (!(fields instanceof Map)) return fields;
      return receiptFrom(fields, rawBody);
    },
    parseInbound(h, rawBody, nowMs, request): InboundParse {
      const fields = verified(h, rawBody, request);
      if (!(fields instanceof Map)) return fields;
      const id = field(fields, 'MessageSid') ?? field(fields, 'SmsSid');
      const rawFrom = field(fields, 'From');
      if (!id || !rawFrom) return refuse(400, 'inbound SMS needs MessageSid and From');
      const from = toE164(rawFrom);
      if (!from) return refuse(400, 'the sender is not a phone number');
      return {
        ok: true,
        inbound: { providerId: id, from, to: field(fields, 'To') ?? '', text: fields.get('Body')?.[0] ?? '', receivedAt: nowMs },
        reply: EMPTY_TWIML,
      };
    },
    close: () => client.destroy(),
  };
}

/** The form of a Messages create call. */
function messageForm(config: TwilioProviderConfig, sms: OutgoingSms): string {
  const form = new URLSearchParams({ To: sms.to, Body: sms.text });
  if (config.messaging_service_sid) form.set('MessagingServiceSid', config.messaging_service_sid);
  else form.set('From', sms.from);
  // Without the auth token we could not verify the callbacks, so we do not ask for them.
  if (config.auth_token !== undefined) form.set('StatusCallback', sms.callbackUrl);
  return form.toString();
}

/** A refused send with Twilio's error code and words in the reason; 21610 is an opt-out at Twilio. */
function explainRefusal(result: SendResult & { ok: false }, json: Record<string, unknown> | undefined): SendResult {
  const code = json?.code === undefined ? undefined : String(json.code);
  if (code === undefined) return result;
  const words = TWILIO_ERRORS[code] ?? (typeof json?.message === 'string' ? json.message : 'no message');
  const status = /^HTTP \d+/.exec(result.reason)?.[0] ?? 'refused';
  const reason = `${status}: Twilio ${code}: ${words}`;
  if (code === TWILIO_OPTED_OUT) return { ok: false, temporary: false, reason, optedOut: true };
  return { ...result, reason };
}

/** A StatusCallback's fields as a receipt, an interim status, or why not. */
function receiptFrom(fields: Map<string, string[]>, rawBody: string): ReceiptParse {
  const id = field(fields, 'MessageSid') ?? field(fields, 'SmsSid');
  const status = field(fields, 'MessageStatus') ?? field(fields, 'SmsStatus');
  if (!id || !status) return refuse(400, 'receipt needs MessageSid and MessageStatus');
  const row = statusRow(TWILIO_STATUSES, status);
  if (!row) return interim('unknown', `Twilio status "${status}" is not in our table`);
  if (row.ours === 'sent' || row.ours === 'unknown') return interim(row.ours, `Twilio status ${status}: ${row.meaning}`);
  const errorCode = field(fields, 'ErrorCode');
  return {
    ok: true,
    receipt: { providerMessageId: id, status: row.ours, ...(errorCode ? { errorCode } : {}), rawBody },
    ...(errorCode === TWILIO_OPTED_OUT ? { optedOut: true } : {}),
  };
}
