import type { GatewayApiProviderConfig } from '../../config/providers.js';
import { createHttpClient } from '../../core/http-client.js';
import { DEFAULT_SIGNATURE_TOLERANCE_MS } from '../../core/signing.js';
import { isGsm7 } from '../../message/encoding.js';
import { basicAuthorization, header, interim, notConfigured, positiveInt, priceOf, refuse, statusRow, type AdapterDeps } from '../adapter-kit.js';
import { classifyAnswer, classifyCallError, defaultPermanentStatuses, toE164 } from '../classify.js';
import { safeJson } from '../simulator-client.js';
import type { HttpHeaders, InboundParse, OutgoingSms, ReceiptParse, SendResult, SmsProvider, WebhookRefusal } from '../types.js';
import { createJwtVerifier, GATEWAYAPI_SIGNATURE_HEADER, jwtShapeProblem } from './jwt.js';
import { GATEWAYAPI_MAX_AGE_MS, GATEWAYAPI_STATUSES } from './statuses.js';

/*
 * GatewayAPI's REST API, over our HTTP client (GatewayAPI publishes no
 * Node SDK; a send is one JSON POST).
 *
 *   send:     POST {base_url}/rest/mtsms (JSON; HTTP Basic with the API token as user)
 *   receipts: delivery status notifications to the send's callback_url
 *   inbound:  MO SMS to the webhook a keyword is assigned to
 * Both webhooks carry a JWT (HS256) in X-Gwapi-Signature, signed with the
 * webhook's authentication token; its payload is the webhook.
 */

const PERMANENT = defaultPermanentStatuses();

type Claims = Record<string, unknown>;

export function createGatewayApiProvider(config: GatewayApiProviderConfig, deps: AdapterDeps): SmsProvider {
  const sendUrl = new URL(`${config.base_url.replace(/\/$/, '')}/rest/mtsms`);
  const client = createHttpClient({ maxSockets: deps.maxSockets });
  const headers = { accept: 'application/json', 'content-type': 'application/json', authorization: basicAuthorization(config.token, '') };
  const verifyJwt = config.receipts ? createJwtVerifier(config.receipts.secret) : undefined;
  const NO_SECRET = 'no receipts.secret configured: GatewayAPI webhooks are verified by their JWT';

  /** The webhook's verified claims, fresh enough (`time` or `senttime`), or why not. */
  function verified(h: HttpHeaders, nowMs: number, timeField: 'time' | 'senttime'): { ok: true; claims: Claims } | WebhookRefusal {
    if (!verifyJwt) return notConfigured(NO_SECRET);
    const check = verifyJwt(header(h, GATEWAYAPI_SIGNATURE_HEADER), nowMs);
    if (!check.ok) return refuse(403, check.reason);
    const at = Number(check.claims[timeField]) * 1000;
    if (Number.isFinite(at) && nowMs - at > GATEWAYAPI_MAX_AGE_MS) return refuse(403, 'too_old');
    if (Number.isFinite(at) && at - nowMs > DEFAULT_SIGNATURE_TOLERANCE_MS) return refuse(403, 'in_future');
    return check;
  }

  return {
    name: deps.name,
    // mtsms has no idempotency key (userref is only echoed back): a timeout after the request was written may have sent it.
    idempotent: false,
    async send(sms: OutgoingSms): Promise<SendResult> {
      const body = JSON.stringify({
        sender: sms.from.replace(/^\+/, ''),
        message: sms.text,
        recipients: [{ msisdn: Number(sms.to.replace(/^\+/, '')) }],
        callback_url: sms.callbackUrl,
        userref: sms.idempotencyKey,
        ...(isGsm7(sms.text) ? {} : { encoding: 'UCS2' }),
        extra_details: 'recipients_usage',
      });
      let response;
      try {
        response = await client.request('POST', sendUrl, body, headers, config.timeout);
      } catch (error) {
        return classifyCallError(error);
      }
      const json = safeJson(response.body) as Record<string, unknown> | undefined;
      const result = classifyAnswer(response, PERMANENT, deps.clock.now(), () => readAccepted(json));
      if (!result.ok) return explainRefusal(result, json);
      const usage = json?.usage as Record<string, unknown> | undefined;
      const price = priceOf(usage?.total_cost, usage?.currency);
      return price ? { ...result, price } : result;
    },
    checkWebhookHeaders(_kind, h) {
      if (!verifyJwt) return notConfigured(NO_SECRET);
      const problem = jwtShapeProblem(header(h, GATEWAYAPI_SIGNATURE_HEADER));
      return problem ? refuse(403, problem) : undefined;
    },
    parseReceipt(h, _rawBody, nowMs): ReceiptParse {
      const check = verified(h, nowMs, 'time');
      return check.ok ? receiptFrom(check.claims) : check;
    },
    parseInbound(h, _rawBody, nowMs): InboundParse {
      const check = verified(h, nowMs, 'senttime');
      if (!check.ok) return check;
      const { claims } = check;
      const id = claims.id;
      const from = toE164(String(claims.msisdn ?? ''));
      if ((typeof id !== 'number' && typeof id !== 'string') || typeof claims.message !== 'string') return refuse(400, 'MO SMS needs id, msisdn and message');
      if (!from) return refuse(400, 'the sender is not a phone number');
      const sent = Number(claims.senttime) * 1000;
      return {
        ok: true,
        inbound: { providerId: String(id), from, to: String(claims.receiver ?? ''), text: claims.message, receivedAt: Number.isFinite(sent) ? sent : nowMs },
      };
    },
    close: () => client.destroy(),
  };
}

/** The first id of an accepted send, and its parts when extra_details says. */
function readAccepted(json: Record<string, unknown> | undefined): { id: string | undefined; parts?: number | undefined } {
  const ids = Array.isArray(json?.ids) ? json.ids : [];
  const id = typeof ids[0] === 'number' || typeof ids[0] === 'string' ? String(ids[0]) : undefined;
  const details = json?.details as { messages?: { recipients?: { parts?: unknown }[] }[] } | undefined;
  return { id, parts: positiveInt(details?.messages?.[0]?.recipients?.[0]?.parts) };
}

/** GatewayAPI's error code and message (with its %1 variables filled in) in the reason. */
function explainRefusal(result: SendResult & { ok: false }, json: Record<string, unknown> | undefined): SendResult {
  if (typeof json?.message !== 'string') return result;
  const variables = Array.isArray(json.variables) ? json.variables.map(String) : [];
  const words = json.message.replace(/%(\d+)/g, (match, n: string) => variables[Number(n) - 1] ?? match);
  const status = /^HTTP \d+/.exec(result.reason)?.[0] ?? 'refused';
  return { ...result, reason: `${status}: GatewayAPI${typeof json.code === 'string' ? ` ${json.code}` : ''}: ${words}` };
}

/** A verified DSN as a receipt or an interim status. The claims are stored as its body: they are what was signed. */
function receiptFrom(claims: Claims): ReceiptParse {
  const id = claims.id;
  const status = claims.status;
  if ((typeof id !== 'number' && typeof id !== 'string') || typeof status !== 'string') return refuse(400, 'status notification needs id and status');
  const row = statusRow(GATEWAYAPI_STATUSES, status);
  if (!row) return interim('unknown', `GatewayAPI status "${status}" is not in our table`);
  if (row.ours === 'sent' || row.ours === 'unknown') return interim(row.ours, `GatewayAPI status ${status}: ${row.meaning}`);
  const code = typeof claims.code === 'string' && claims.code !== '' ? claims.code : undefined;
  const error = typeof claims.error === 'string' && claims.error !== '' ? claims.error : undefined;
  const errorCode = code && error ? `${code} ${error}` : (code ?? error);
  const time = Number(claims.time);
  return {
    ok: true,
    receipt: {
      providerMessageId: String(id),
      status: row.ours,
      ...(errorCode ? { errorCode } : {}),
      ...(Number.isFinite(time) ? { providerTimestamp: time * 1000 } : {}),
      rawBody: JSON.stringify(claims),
    },
  };
}
