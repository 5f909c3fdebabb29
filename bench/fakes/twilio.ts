import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { measureSms } from '../../src/message/encoding.js';
import { basicCredentials, json, mediaType, postCallback, scripted, startFake, type FakeAnswer, type FakeRequest, type FakeServer } from './kit.js';

/*
 * A fake of Twilio's Messages API (create a Message), and of the webhooks it
 * posts back. Follows:
 *   https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
 *   https://www.twilio.com/docs/usage/requests-to-twilio (form-encoded POST, HTTP Basic)
 *   https://www.twilio.com/docs/messaging/guides/track-outbound-message-status (StatusCallback)
 *   https://www.twilio.com/docs/messaging/guides/webhook-request (inbound SMS webhook)
 *   https://www.twilio.com/docs/usage/security#validating-requests (X-Twilio-Signature)
 * Callbacks are signed with the `twilio` package's own getExpectedTwilioSignature.
 */

export interface FakeTwilioOptions {
  accountSid: string;
  authToken: string;
  /** An API key that may authenticate instead of the auth token. */
  apiKey?: { sid: string; secret: string };
  /** Numbers that replied STOP at Twilio: a send to them is refused with 21610. */
  optedOut?: readonly string[];
}

export interface FakeTwilioMessage {
  sid: string;
  to: string;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  body: string;
  statusCallback: string | undefined;
}

export interface FakeTwilio extends FakeServer {
  messages: FakeTwilioMessage[];
  /** The next answers, before the API's own (429, 500…). */
  script: ReturnType<typeof scripted>;
  /** Posts a signed StatusCallback for a message, as Twilio does. */
  statusCallback(sid: string, status: string, errorCode?: string): Promise<{ status: number; body: string }>;
  /** Posts a signed inbound SMS webhook to `url`, as Twilio does for a number. */
  inbound(url: string, from: string, to: string, text: string): Promise<{ status: number; body: string }>;
}

const error = (status: number, code: number, message: string): FakeAnswer =>
  json(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

export async function startFakeTwilio(options: FakeTwilioOptions): Promise<FakeTwilio> {
  const messages: FakeTwilioMessage[] = [];
  const script = scripted();
  const path = `/2010-04-01/Accounts/${options.accountSid}/Messages.json`;
  const optedOut = new Set(options.optedOut ?? []);

  function authorised(request: FakeRequest): boolean {
    const credentials = basicCredentials(request.headers);
    if (!credentials) return false;
    if (credentials.user === options.accountSid && credentials.password === options.authToken) return true;
    return options.apiKey !== undefined && credentials.user === options.apiKey.sid && credentials.password === options.apiKey.secret;
  }

  function create(request: FakeRequest): FakeAnswer {
    if (request.method !== 'POST' || request.url !== path) return error(404, 20404, 'The requested resource was not found');
    if (!authorised(request)) return error(401, 20003, 'Authenticate');
    const scriptedAnswer = script.next();
    if (scriptedAnswer) return scriptedAnswer;
    // Twilio reads form fields only: a JSON body has no To.
    const form = new URLSearchParams(mediaType(request.headers) === 'application/x-www-form-urlencoded' ? request.body : '');
    const to = form.get('To');
    const body = form.get('Body');
    const from = form.get('From') ?? undefined;
    const messagingServiceSid = form.get('MessagingServiceSid') ?? undefined;
    if (!to) return error(400, 21604, "A 'To' phone number is required.");
    if (!/^\+[1-9]\d{5,14}$/.test(to)) return error(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!body) return error(400, 21602, 'Message body is required.');
    if (!from && !messagingServiceSid) return error(400, 21603, "A 'From' phone number is required.");
    if (optedOut.has(to)) return error(400, 21610, 'Attempt to send to unsubscribed recipient');
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const statusCallback = form.get('StatusCallback') ?? undefined;
    messages.push({ sid, to, from, messagingServiceSid, body, statusCallback });
    return json(201, {
      sid,
      account_sid: options.accountSid,
      to,
      from: from ?? null,
      messaging_service_sid: messagingServiceSid ?? null,
      body,
      status: messagingServiceSid ? 'accepted' : 'queued',
      num_segments: String(measureSms(body).segments),
      price: null,
      price_unit: 'USD',
      api_version: '2010-04-01',
      error_code: null,
      uri: `${path.replace('.json', '')}/${sid}.json`,
    });
  }

  const server = await startFake(create);

  async function signedPost(url: string, fields: Record<string, string>) {
    const signature = twilio.getExpectedTwilioSignature(options.authToken, url, fields);
    return postCallback(url, new URLSearchParams(fields).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': signature,
      'i-twilio-idempotency-token': randomBytes(8).toString('hex'),
    });
  }

  return Object.assign(server, {
    messages,
    script,
    async statusCallback(sid: string, status: string, errorCode?: string) {
      const message = messages.find((m) => m.sid === sid);
      if (!message?.statusCallback) throw new Error(`no StatusCallback for ${sid}`);
      const fields: Record<string, string> = {
        SmsSid: sid, SmsStatus: status, MessageStatus: status, To: message.to, MessageSid: sid,
        AccountSid: options.accountSid, From: message.from ?? '+15005550006', ApiVersion: '2010-04-01',
        ...(errorCode ? { ErrorCode: errorCode } : {}),
      };
      return signedPost(message.statusCallback, fields);
    },
    async inbound(url: string, from: string, to: string, text: string) {
      const sid = `SM${randomBytes(16).toString('hex')}`;
      return signedPost(url, {
        ToCountry: 'US', SmsMessageSid: sid, NumMedia: '0', SmsSid: sid, SmsStatus: 'received', Body: text, To: to,
        NumSegments: '1', MessageSid: sid, AccountSid: options.accountSid, From: from, ApiVersion: '2010-04-01',
      });
    },
  });
}
