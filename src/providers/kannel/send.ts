import type { KannelProviderConfig } from '../../config/provider-kannel.js';
import type { HttpPostResult } from '../../core/http-client.js';
import { isGsm7 } from '../../message/encoding.js';
import { excerpt, parseRetryAfter } from '../classify.js';
import type { OutgoingSms, SendResult } from '../types.js';

/*
 * One sendsms call: how an SMS becomes smsbox's CGI variables (GET) or
 * X-Kannel-* headers and a text/plain body (POST), and how smsbox's answer
 * becomes a SendResult.
 */

export interface SendsmsRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
}

/** The fields of one sendsms call, by their CGI names (the POST headers are X-Kannel-<Name>). */
function sendsmsFields(config: KannelProviderConfig, sms: OutgoingSms, dlrUrl: string): [cgi: string, header: string, value: string][] {
  const coding = isGsm7(sms.text) ? config.coding.gsm7 : config.coding.ucs2;
  const fields: [string, string, string][] = [
    ['username', 'Username', config.username],
    ['password', 'Password', config.password],
    ['from', 'From', sms.from],
    ['to', 'To', sms.to],
    ['coding', 'Coding', String(coding)],
  ];
  if (config.smsc) fields.push(['smsc', 'SMSC', config.smsc]);
  if (config.dlr_mask > 0) fields.push(['dlr-mask', 'DLR-Mask', String(config.dlr_mask)], ['dlr-url', 'DLR-URL', dlrUrl]);
  return fields;
}

/** The HTTP request for one SMS. Our text is always UTF-8; `coding` tells Kannel what to put on the air. */
export function sendsmsRequest(config: KannelProviderConfig, sendUrl: URL, sms: OutgoingSms, dlrUrl: string): SendsmsRequest {
  const fields = sendsmsFields(config, sms, dlrUrl);
  if (config.method === 'POST') {
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=UTF-8' };
    for (const [, header, value] of fields) headers[`x-kannel-${header.toLowerCase()}`] = value;
    return { method: 'POST', url: sendUrl, headers, body: sms.text };
  }
  const url = new URL(sendUrl);
  for (const [cgi, , value] of fields) url.searchParams.set(cgi, value);
  url.searchParams.set('charset', 'UTF-8');
  url.searchParams.set('text', sms.text);
  return { method: 'GET', url, headers: {}, body: undefined };
}

/** smsbox's answers to an accepted SMS: "0: Accepted for delivery", "3: Queued for later delivery", "Sent." (immediate-sendsms-reply). */
const ACCEPTED = /^(0: Accepted|3: Queued|Sent\.)/;

/**
 * smsbox's answer as a SendResult. Kannel has no message id of its own to
 * give, so an accepted SMS is known by ours (the idempotency key, also in its
 * dlr-url). 4xx are refusals Kannel means (authorisation, missing fields, "Not
 * routable. Do not try again."); 5xx are its temporary failures.
 */
export function classifySendsmsAnswer(response: HttpPostResult, providerMessageId: string, nowMs: number): SendResult {
  const { status, body } = response;
  const said = excerpt(body);
  if (status >= 200 && status < 300) {
    if (!ACCEPTED.test(body.trim())) return { ok: false, temporary: true, unknown: true, reason: `kannel: HTTP ${status} that is not smsbox's acceptance: ${said}` };
    const parts = /Message splits: (\d+)/.exec(body)?.[1];
    return { ok: true, providerMessageId, ...(parts !== undefined ? { parts: Number(parts) } : {}) };
  }
  const reason = `kannel: HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { ok: false, temporary: false, reason };
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(response.headers['retry-after'], nowMs) : undefined;
  return { ok: false, temporary: true, reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

/** A recipient Kannel would read as several (it splits `to` on spaces) or as nothing: refused before the call. */
export function recipientProblem(to: string): string | undefined {
  return /^\+?\d{3,15}$/.test(to) ? undefined : 'kannel: the recipient must be digits with an optional + (Kannel splits "to" on spaces)';
}
