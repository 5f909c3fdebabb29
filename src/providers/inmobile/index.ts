import { createHash } from 'node:crypto';
import type { InMobileProviderConfig } from '../../config/providers.js';
import { createHttpClient } from '../../core/http-client.js';
import type { Receipt } from '../../ledger/types.js';
import { isGsm7 } from '../../message/encoding.js';
import { basicAuthorization, interim, positiveInt, queryOf, refuse, sameSecret, statusRow, type AdapterDeps } from '../adapter-kit.js';
import { classifyAnswer, classifyCallError, defaultPermanentStatuses, toE164 } from '../classify.js';
import { safeJson } from '../simulator-client.js';
import type { InboundParse, InboundSms, OutgoingSms, ReceiptParse, SendResult, SmsProvider, WebhookRefusal, WebhookRequest } from '../types.js';
import { INMOBILE_ERRORS, INMOBILE_STATES } from './statuses.js';

/*
 * inMobile's JSON API v4, over our HTTP client (inMobile publishes no Node SDK).
 *
 *   send:     POST {base_url}/v4/sms/outgoing ({messages: [{to, text, from, messageId, statusCallbackUrl, encoding}]};
 *             HTTP Basic with any user and the API key as password)
 *   receipts: status reports posted to statusCallbackUrl, batched ({reports: [...]})
 *   inbound:  incoming SMS posted to the URL set in inMobile's portal
 * inMobile signs nothing. Its callbacks are told from a forger's by a long
 * random token (callback_token) in their query, compared in constant time:
 * we add it to every statusCallbackUrl; the admin adds it to the inbound URL.
 */

const PERMANENT = defaultPermanentStatuses();

interface StatusReport {
  messageId?: unknown;
  deliveryInfo?: { stateCode?: unknown; errorCode?: unknown; errorDescription?: unknown; doneTime?: unknown };
}

interface IncomingMessage {
  from?: { countryCode?: unknown; phoneNumber?: unknown; rawSource?: unknown };
  to?: { countryCode?: unknown; phoneNumber?: unknown; msisdn?: unknown };
  text?: unknown;
  receivedAt?: unknown;
}

export function createInMobileProvider(config: InMobileProviderConfig, deps: AdapterDeps): SmsProvider {
  const sendUrl = new URL(`${config.base_url.replace(/\/$/, '')}/v4/sms/outgoing`);
  const client = createHttpClient({ maxSockets: deps.maxSockets });
  // inMobile ignores the Basic user; naming ourselves helps their support read logs.
  const headers = { accept: 'application/json', 'content-type': 'application/json', authorization: basicAuthorization('mail2sms', config.api_key) };

  /** The callback's token, before the body is read: inMobile's only credential is the URL. */
  function checkToken(request: WebhookRequest | undefined): WebhookRefusal | undefined {
    if (!request) return refuse(403, 'no_request_url');
    const token = new URLSearchParams(queryOf(request)).get('token');
    if (token === null || token === '') return refuse(403, 'missing');
    return sameSecret(token, config.callback_token) ? undefined : refuse(403, 'bad_token');
  }

  return {
    name: deps.name,
    // A messageId is unique per account, so inMobile refuses a repeat rather than sending it twice; but that refusal
    // is an error answer we cannot tell from a real one, so an unknown outcome is not retried as if it were safe.
    idempotent: false,
    async send(sms: OutgoingSms): Promise<SendResult> {
      const body = JSON.stringify({
        messages: [{
          to: sms.to.replace(/^\+/, ''),
          text: sms.text,
          from: sms.from.replace(/^\+/, ''),
          messageId: sms.idempotencyKey,
          statusCallbackUrl: withToken(sms.callbackUrl, config.callback_token),
          encoding: isGsm7(sms.text) ? 'gsm7' : 'ucs2',
        }],
      });
      let response;
      try {
        response = await client.request('POST', sendUrl, body, headers, config.timeout);
      } catch (error) {
        return classifyCallError(error);
      }
      const json = safeJson(response.body) as { results?: { messageId?: unknown; smsCount?: unknown }[]; errorMessage?: unknown; details?: unknown } | undefined;
      const result = classifyAnswer(response, PERMANENT, deps.clock.now(), () => {
        const first = Array.isArray(json?.results) ? json.results[0] : undefined;
        return { id: typeof first?.messageId === 'string' ? first.messageId : undefined, parts: positiveInt(first?.smsCount) };
      });
      if (result.ok || typeof json?.errorMessage !== 'string') return result;
      const details = Array.isArray(json.details) ? json.details.filter((d): d is string => typeof d === 'string') : [];
      const status = /^HTTP \d+/.exec(result.reason)?.[0] ?? 'refused';
      return { ...result, reason: `${status}: inMobile: ${[json.errorMessage, ...details].join('; ')}` };
    },
    checkWebhookHeaders: (_kind, _h, request) => checkToken(request),
    parseReceipt(_h, rawBody, _nowMs, request): ReceiptParse {
      const refused = checkToken(request);
      if (refused) return refused;
      const reports = (safeJson(rawBody) as { reports?: unknown } | undefined)?.reports;
      if (!Array.isArray(reports) || reports.length === 0) return refuse(400, 'status callback needs reports: [...]');
      const receipts = (reports as StatusReport[]).map((report) => receiptFrom(report)).filter((r): r is Receipt => r !== undefined);
      const first = receipts[0];
      if (!first) return interim('unknown', `${reports.length} status report(s), none final`);
      return { ok: true, receipt: first, ...(receipts.length > 1 ? { receipts } : {}) };
    },
    parseInbound(_h, rawBody, nowMs, request): InboundParse {
      const refused = checkToken(request);
      if (refused) return refused;
      const json = safeJson(rawBody) as { messages?: unknown } | undefined;
      const list = (Array.isArray(json?.messages) ? json.messages : json ? [json] : []) as IncomingMessage[];
      const inbounds = list.map((m) => inboundFrom(m, nowMs)).filter((m): m is InboundSms => m !== undefined);
      const first = inbounds[0];
      if (!first) return refuse(400, 'incoming SMS needs from, text and receivedAt');
      return { ok: true, inbound: first, ...(inbounds.length > 1 ? { inbounds } : {}) };
    },
    close: () => client.destroy(),
  };
}

/** The callback URL with our token in its query. */
export function withToken(url: string, token: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

/** One status report as a receipt; undefined while it is not final (state 0) or unreadable. */
function receiptFrom(report: StatusReport): Receipt | undefined {
  const id = typeof report.messageId === 'string' ? report.messageId : undefined;
  const state = String(report.deliveryInfo?.stateCode ?? '');
  const row = statusRow(INMOBILE_STATES, state);
  if (!id || !row || row.ours === 'sent' || row.ours === 'unknown') return undefined;
  const errorCode = report.deliveryInfo?.errorCode === undefined || report.deliveryInfo.errorCode === null ? undefined : String(report.deliveryInfo.errorCode);
  const refined = errorCode !== undefined ? INMOBILE_ERRORS[errorCode] : undefined;
  const ours = refined?.ours ?? row.ours;
  if (ours === 'sent' || ours === 'unknown') return undefined;
  const doneTime = typeof report.deliveryInfo?.doneTime === 'string' ? Date.parse(report.deliveryInfo.doneTime) : NaN;
  return {
    providerMessageId: id,
    status: ours,
    ...(errorCode !== undefined ? { errorCode: refined ? `${errorCode} ${refined.meaning}` : errorCode } : {}),
    ...(Number.isNaN(doneTime) ? {} : { providerTimestamp: doneTime }),
    rawBody: JSON.stringify(report),
  };
}

/**
 * One incoming SMS. inMobile gives it no id, so its id is a digest of what it
 * is (sender, our number, time, text): a retried callback gets the same id and
 * is recorded once.
 */
function inboundFrom(m: IncomingMessage, nowMs: number): InboundSms | undefined {
  const digits = `${String(m.from?.countryCode ?? '')}${String(m.from?.phoneNumber ?? '')}`;
  const from = toE164(digits) ?? (typeof m.from?.rawSource === 'string' ? toE164(m.from.rawSource) : undefined);
  if (!from || typeof m.text !== 'string') return undefined;
  const to = typeof m.to?.msisdn === 'string' ? m.to.msisdn : `${String(m.to?.countryCode ?? '')}${String(m.to?.phoneNumber ?? '')}`;
  const at = typeof m.receivedAt === 'string' ? Date.parse(m.receivedAt) : NaN;
  const providerId = createHash('sha256').update(JSON.stringify([from, to, m.receivedAt ?? null, m.text])).digest('hex').slice(0, 32);
  return { providerId, from, to, text: m.text, receivedAt: Number.isNaN(at) ? nowMs : at };
}
