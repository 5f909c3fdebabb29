import { createHash, createHmac, randomBytes } from 'node:crypto';
import { isGsm7, measureSms } from '../../src/message/encoding.js';
import { json, mediaType, postCallback, scripted, startFake, type FakeAnswer, type FakeRequest, type FakeServer } from './kit.js';

/*
 * A fake of Vonage's SMS API and of the signed webhooks it posts back. Follows:
 *   https://developer.vonage.com/en/api/sms#send-an-sms (POST /sms/json, form or JSON, api_key + api_secret)
 *   https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts
 *   https://developer.vonage.com/en/messaging/sms/guides/inbound-sms
 *   https://developer.vonage.com/en/getting-started/concepts/signing-messages
 * The send answer is HTTP 200 even for a refusal, with a status per message
 * (one message per part). Webhooks are signed as Vonage's PHP library does
 * (ksort, `&`/`=` in values replaced by `_`, md5hash lower-case hex, HMACs
 * upper-case hex): written apart from the adapter's verifier, so the two
 * check each other.
 */

export type SignatureMethod = 'md5hash' | 'md5' | 'sha1' | 'sha256' | 'sha512';

export interface FakeVonageOptions {
  apiKey: string;
  apiSecret: string;
  signature?: { secret: string; method: SignatureMethod };
  /** Price of one part, as Vonage prints it. */
  partPrice?: string;
}

export interface FakeVonageMessage {
  clientRef: string | undefined;
  messageIds: string[];
  to: string;
  from: string;
  text: string;
  type: string;
  callback: string | undefined;
}

/** How the dashboard's webhook format sends the parameters. */
export type WebhookFormat = 'POST' | 'POST-JSON' | 'GET';

export interface FakeVonage extends FakeServer {
  messages: FakeVonageMessage[];
  script: ReturnType<typeof scripted>;
  /** Posts a (signed) delivery receipt for one part of a message to its callback; returns the URL it called. */
  deliveryReceipt(messageId: string, status: string, errCode: string, options?: { format?: WebhookFormat; signedAt?: number }): Promise<string>;
  /** Posts a (signed) inbound SMS to `url`; returns the URL it called. */
  inbound(url: string, msisdn: string, to: string, text: string, options?: { format?: WebhookFormat; signedAt?: number }): Promise<string>;
}

/** Vonage's signature, PHP-library style. */
export function phpStyleSignature(method: SignatureMethod, secret: string, params: Record<string, string>): string {
  const sorted = Object.keys(params).filter((k) => k !== 'sig').sort();
  const base = sorted.map((k) => `&${k}=${(params[k] ?? '').split('&').join('_').split('=').join('_')}`).join('');
  if (method === 'md5hash') return createHash('md5').update(base + secret).digest('hex');
  return createHmac(method, secret).update(base).digest('hex').toUpperCase();
}

const refusal = (status: string, text: string): FakeAnswer => json(200, { 'message-count': '1', messages: [{ status, 'error-text': text }] });

export async function startFakeVonage(options: FakeVonageOptions): Promise<FakeVonage> {
  const messages: FakeVonageMessage[] = [];
  const script = scripted();

  function send(request: FakeRequest): FakeAnswer {
    if (request.method !== 'POST' || request.url.split('?')[0] !== '/sms/json') return json(404, { error: 'not found' });
    const type = mediaType(request.headers);
    const params: Record<string, string> =
      type === 'application/json' ? (JSON.parse(request.body || '{}') as Record<string, string>)
      : type === 'application/x-www-form-urlencoded' ? Object.fromEntries(new URLSearchParams(request.body))
      : {};
    if (!params.api_key) return refusal('2', 'Missing api_key');
    if (params.api_key !== options.apiKey || params.api_secret !== options.apiSecret) return refusal('4', 'Bad Credentials');
    const scriptedAnswer = script.next();
    if (scriptedAnswer) return scriptedAnswer;
    if (!params.from) return refusal('2', 'Missing from param');
    if (!params.to) return refusal('2', 'Missing to param');
    if (!/^[1-9]\d{5,14}$/.test(params.to)) return refusal('3', 'Invalid to param: omit the leading + or 00');
    if (!params.text) return refusal('2', 'Missing text param');
    const clientRef = params['client-ref'];
    if (clientRef !== undefined && clientRef.length > 100) return refusal('3', 'Invalid client-ref: over 100 characters');
    // Sent as type=text, a non-GSM text arrives garbled; the fake counts it as Vonage would.
    const unicode = params.type === 'unicode';
    const parts = measureSms(unicode || isGsm7(params.text) ? params.text : params.text.replace(/[^\x20-\x7e]/g, '?')).segments;
    const messageIds = Array.from({ length: parts }, () => randomBytes(8).toString('hex').toUpperCase());
    messages.push({ clientRef, messageIds, to: params.to, from: params.from, text: params.text, type: params.type ?? 'text', callback: params.callback });
    return json(200, {
      'message-count': String(parts),
      messages: messageIds.map((id) => ({
        to: params.to, 'message-id': id, status: '0', 'remaining-balance': '10.00000000',
        'message-price': options.partPrice ?? '0.03330000', network: '23801', ...(clientRef ? { 'client-ref': clientRef } : {}),
      })),
    });
  }

  const server = await startFake(send);

  async function signedCall(url: string, fields: Record<string, string>, format: WebhookFormat, signedAt: number): Promise<string> {
    const params: Record<string, string> = { ...fields };
    if (options.signature) {
      params.timestamp = String(Math.floor(signedAt / 1000));
      params.nonce = randomBytes(8).toString('hex');
      params.sig = phpStyleSignature(options.signature.method, options.signature.secret, params);
    }
    if (format === 'GET') {
      const target = `${url}${url.includes('?') ? '&' : '?'}${new URLSearchParams(params).toString()}`;
      await fetch(target);
      return target;
    }
    if (format === 'POST-JSON') await postCallback(url, JSON.stringify(params), { 'content-type': 'application/json' });
    else await postCallback(url, new URLSearchParams(params).toString(), { 'content-type': 'application/x-www-form-urlencoded' });
    return url;
  }

  return Object.assign(server, {
    messages,
    script,
    async deliveryReceipt(messageId: string, status: string, errCode: string, o: { format?: WebhookFormat; signedAt?: number } = {}) {
      const message = messages.find((m) => m.messageIds.includes(messageId));
      if (!message?.callback) throw new Error(`no callback for ${messageId}`);
      return signedCall(message.callback, {
        msisdn: message.to, to: message.from, 'network-code': '23801', messageId, price: options.partPrice ?? '0.03330000', status,
        scts: '2501011200', 'err-code': errCode, 'api-key': options.apiKey, 'message-timestamp': '2025-01-01 12:00:00',
        ...(message.clientRef ? { 'client-ref': message.clientRef } : {}),
      }, o.format ?? 'POST', o.signedAt ?? Date.now());
    },
    async inbound(url: string, msisdn: string, to: string, text: string, o: { format?: WebhookFormat; signedAt?: number } = {}) {
      return signedCall(url, {
        msisdn, to, messageId: randomBytes(8).toString('hex').toUpperCase(), text, type: isGsm7(text) ? 'text' : 'unicode',
        keyword: (text.split(/\s+/)[0] ?? '').toUpperCase(), 'api-key': options.apiKey, 'message-timestamp': '2025-01-01 12:00:00',
      }, o.format ?? 'POST', o.signedAt ?? Date.now());
    },
  });
}
