import { randomUUID } from 'node:crypto';
import { isGsm7, measureSms } from '../../src/message/encoding.js';
import { basicCredentials, json, mediaType, postCallback, scripted, startFake, type FakeAnswer, type FakeRequest, type FakeServer } from './kit.js';

/*
 * A fake of inMobile's API v4 (POST /v4/sms/outgoing) and of its callbacks.
 * Follows the v4 OpenAPI document (https://api.inmobile.com/docs/):
 * SmsOutgoingPostRequest / SmsOutgoingPostReply, ApiErrorMessage, Basic auth
 * with any user and the API key as password (or ?apikey=), the status
 * callback's StatusReportListModel (reports grouped per callback URL) and the
 * IncomingMessage model for incoming SMS.
 */

export interface FakeInMobileOptions {
  apiKey: string;
}

export interface FakeInMobileMessage {
  messageId: string;
  to: string;
  from: string;
  text: string;
  encoding: string;
  smsCount: number;
  statusCallbackUrl: string | undefined;
}

export interface FakeInMobile extends FakeServer {
  messages: FakeInMobileMessage[];
  script: ReturnType<typeof scripted>;
  /** Posts one status callback with a report for each message (all must share a callback URL, as inMobile groups them). */
  statusReports(reports: { messageId: string; stateCode: number; errorCode?: number }[]): Promise<{ status: number; body: string }>;
  /** Posts incoming SMS to `url`. */
  incoming(url: string, messages: { from: string; to: string; text: string; receivedAt?: string }[]): Promise<{ status: number; body: string }>;
}

const error = (status: number, errorMessage: string, details: string[] = []): FakeAnswer => json(status, { errorMessage, details });

export async function startFakeInMobile(options: FakeInMobileOptions): Promise<FakeInMobile> {
  const messages: FakeInMobileMessage[] = [];
  const script = scripted();

  function authorised(request: FakeRequest): boolean {
    const query = new URLSearchParams(request.url.split('?')[1] ?? '');
    return basicCredentials(request.headers)?.password === options.apiKey || query.get('apikey') === options.apiKey;
  }

  function validate(m: Record<string, unknown>, i: number): string[] {
    const problems: string[] = [];
    if (typeof m.to !== 'string' || m.to.length > 20 || !/^\d+$/.test(m.to)) problems.push(`messages[${i}].to must be a msisdn with country code, e.g. 4512345678`);
    if (typeof m.text !== 'string' || m.text === '') problems.push(`messages[${i}].text is required`);
    if (typeof m.from !== 'string' || m.from === '') problems.push(`messages[${i}].from is required`);
    if (m.messageId !== undefined && (typeof m.messageId !== 'string' || m.messageId.length > 50)) problems.push(`messages[${i}].messageId must be 1-50 characters`);
    if (typeof m.messageId === 'string' && messages.some((s) => s.messageId === m.messageId)) problems.push(`messages[${i}].messageId ${m.messageId} is already used`);
    if (typeof m.statusCallbackUrl === 'string' && m.statusCallbackUrl.length > 500) problems.push(`messages[${i}].statusCallbackUrl is over 500 characters`);
    if (m.encoding !== undefined && !['gsm7', 'ucs2', 'auto'].includes(String(m.encoding))) problems.push(`messages[${i}].encoding must be gsm7, ucs2 or auto`);
    return problems;
  }

  function outgoing(request: FakeRequest): FakeAnswer {
    if (request.method !== 'POST' || request.url.split('?')[0] !== '/v4/sms/outgoing') return error(404, 'Not found');
    if (!authorised(request)) return error(401, 'Unauthorized');
    const scriptedAnswer = script.next();
    if (scriptedAnswer) return scriptedAnswer;
    if (mediaType(request.headers) !== 'application/json') return error(400, 'The request body must be JSON (Content-Type: application/json)');
    let body: { messages?: unknown };
    try {
      body = JSON.parse(request.body) as { messages?: unknown };
    } catch {
      return error(400, 'The request body is not valid JSON');
    }
    const list = Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]) : [];
    if (list.length < 1 || list.length > 250) return error(400, 'messages must hold 1 to 250 messages');
    const problems = list.flatMap((m, i) => validate(m, i));
    if (problems.length > 0) return error(400, 'Validation failed', problems);
    const results = list.map((m) => {
      const text = m.text as string;
      const encoding = m.encoding === 'ucs2' || (m.encoding === 'auto' && !isGsm7(text)) ? 'ucs2' : 'gsm7';
      const smsCount = measureSms(encoding === 'ucs2' || isGsm7(text) ? text : text.replace(/[^\x20-\x7e]/g, '?')).segments;
      const sent = { messageId: (m.messageId as string | undefined) ?? randomUUID(), to: m.to as string, from: m.from as string, text, encoding, smsCount, statusCallbackUrl: m.statusCallbackUrl as string | undefined };
      messages.push(sent);
      return { numberDetails: { countryCode: sent.to.slice(0, 2), phoneNumber: sent.to.slice(2), rawMsisdn: sent.to, msisdn: sent.to, isValidMsisdn: true }, text, from: sent.from, smsCount, messageId: sent.messageId, encoding };
    });
    return json(200, { results });
  }

  const server = await startFake(outgoing);

  return Object.assign(server, {
    messages,
    script,
    async statusReports(reports: { messageId: string; stateCode: number; errorCode?: number }[]) {
      const first = messages.find((m) => m.messageId === reports[0]?.messageId);
      if (!first?.statusCallbackUrl) throw new Error('no statusCallbackUrl');
      const body = {
        reports: reports.map((r) => {
          const m = messages.find((s) => s.messageId === r.messageId)!;
          return {
            messageId: r.messageId,
            numberDetails: { countryCode: m.to.slice(0, 2), phoneNumber: m.to.slice(2), rawMsisdn: m.to, msisdn: m.to, isValidMsisdn: true, isAnonymized: false },
            deliveryInfo: {
              stateCode: r.stateCode, stateDescription: r.stateCode === 1 ? 'Delivered' : 'Failed', sendTime: '2025-01-01T12:00:00Z', doneTime: '2025-01-01T12:00:05Z',
              ...(r.errorCode !== undefined ? { errorCode: r.errorCode, errorDescription: 'see ErrorCode' } : {}),
            },
            chargeInfo: { isCharged: true, smsCount: m.smsCount, encoding: m.encoding },
          };
        }),
      };
      return postCallback(first.statusCallbackUrl, JSON.stringify(body), { 'content-type': 'application/json' });
    },
    async incoming(url: string, list: { from: string; to: string; text: string; receivedAt?: string }[]) {
      const body = {
        messages: list.map((m) => ({
          from: { countryCode: m.from.slice(0, 2), phoneNumber: m.from.slice(2), rawSource: m.from, isValidMsisdn: true },
          to: { countryCode: m.to.slice(0, 2), phoneNumber: m.to.slice(2), msisdn: m.to },
          text: m.text,
          receivedAt: m.receivedAt ?? '2025-01-01T12:00:00Z',
        })),
      };
      return postCallback(url, JSON.stringify(body), { 'content-type': 'application/json' });
    },
  });
}
