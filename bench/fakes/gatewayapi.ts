import { createHmac } from 'node:crypto';
import { isGsm7, measureSms } from '../../src/message/encoding.js';
import { basicCredentials, json, mediaType, postCallback, scripted, startFake, type FakeAnswer, type FakeRequest, type FakeServer } from './kit.js';

/*
 * A fake of GatewayAPI's REST API (POST /rest/mtsms) and of the webhooks it
 * posts back. Follows https://gatewayapi.com/docs/apis/rest/ (sending,
 * authentication with the API token as Basic user or ?token=, the answer with
 * ids and usage, delivery status notifications, MO SMS, and the JWT in
 * X-Gwapi-Signature). The JWT is made here with node:crypto, apart from the
 * adapter's verifier.
 */

export interface FakeGatewayApiOptions {
  token: string;
  /** The webhook's authentication token; webhooks are unsigned without it. */
  webhookSecret?: string;
  /** Cost of one part, in `currency`. */
  partCost?: number;
  currency?: string;
}

export interface FakeGatewayApiMessage {
  id: number;
  msisdn: number;
  sender: string | undefined;
  message: string;
  encoding: string | undefined;
  callbackUrl: string | undefined;
  userref: string | undefined;
}

export interface FakeGatewayApi extends FakeServer {
  messages: FakeGatewayApiMessage[];
  script: ReturnType<typeof scripted>;
  /** Posts a delivery status notification for a message to its callback_url. */
  statusNotification(id: number, status: string, extra?: { error?: string; code?: string; time?: number }): Promise<{ status: number; body: string }>;
  /** Posts an MO SMS to `url`. */
  moSms(url: string, msisdn: number, receiver: number, message: string, senttime?: number): Promise<{ status: number; body: string }>;
}

function jwt(secret: string, payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${part({ typ: 'JWT', alg: 'HS256' })}.${part(payload)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

const refusal = (status: number, message: string, code?: string, variables?: string[]): FakeAnswer =>
  json(status, { ...(code ? { code } : {}), incident_uuid: '00000000-0000-4000-8000-000000000000', message, ...(variables ? { variables } : {}) });

export async function startFakeGatewayApi(options: FakeGatewayApiOptions): Promise<FakeGatewayApi> {
  const messages: FakeGatewayApiMessage[] = [];
  const script = scripted();
  let nextId = 421332671;

  function authorised(request: FakeRequest): boolean {
    const credentials = basicCredentials(request.headers);
    const queryToken = new URLSearchParams(request.url.split('?')[1] ?? '').get('token');
    return credentials?.user === options.token || queryToken === options.token;
  }

  function mtsms(request: FakeRequest): FakeAnswer {
    if (request.method !== 'POST' || request.url.split('?')[0] !== '/rest/mtsms') return refusal(404, 'Not found');
    if (!authorised(request)) return refusal(401, 'Invalid API key or signature');
    const scriptedAnswer = script.next();
    if (scriptedAnswer) return scriptedAnswer;
    if (mediaType(request.headers) !== 'application/json') return refusal(400, 'Invalid arguments: message and recipients are required');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(request.body) as Record<string, unknown>;
    } catch {
      return refusal(422, 'Invalid json request body');
    }
    const recipients = Array.isArray(body.recipients) ? (body.recipients as { msisdn?: unknown }[]) : [];
    if (typeof body.message !== 'string' || body.message === '' || recipients.length === 0) return refusal(400, 'Invalid arguments: message and recipients are required');
    const raw = recipients[0]?.msisdn;
    // An MSISDN is digits only (a number, or a string of digits): no +, no spaces.
    const msisdn = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(msisdn) || msisdn < 100000) return refusal(400, 'Invalid MSISDN: %1', '0x0301', [String(recipients[0]?.msisdn)]);
    const sender = typeof body.sender === 'string' ? body.sender : undefined;
    if (sender !== undefined && !/^([A-Za-z0-9 ]{1,11}|\d{1,15})$/.test(sender)) return refusal(400, 'Invalid sender: %1', '0x0302', [sender]);
    const encoding = typeof body.encoding === 'string' ? body.encoding : undefined;
    const text = encoding === 'UCS2' || isGsm7(body.message) ? body.message : body.message.replace(/[^\x20-\x7e]/g, '?');
    const parts = measureSms(text).segments;
    const id = nextId++;
    messages.push({ id, msisdn, sender, message: body.message, encoding, callbackUrl: typeof body.callback_url === 'string' ? body.callback_url : undefined, userref: typeof body.userref === 'string' ? body.userref : undefined });
    const cost = Math.round(parts * (options.partCost ?? 0.12) * 1e4) / 1e4;
    return json(200, {
      ids: [id],
      usage: { countries: { DK: parts }, currency: options.currency ?? 'DKK', total_cost: cost },
      ...(body.extra_details === 'recipients_usage' ? { details: { messages: [{ id, recipients: [{ country: 'DK', msisdn, parts }] }] } } : {}),
    });
  }

  const server = await startFake(mtsms);

  async function signedPost(url: string, payload: Record<string, unknown>) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.webhookSecret) headers['x-gwapi-signature'] = jwt(options.webhookSecret, payload);
    return postCallback(url, JSON.stringify(payload), headers);
  }

  return Object.assign(server, {
    messages,
    script,
    async statusNotification(id: number, status: string, extra: { error?: string; code?: string; time?: number } = {}) {
      const message = messages.find((m) => m.id === id);
      if (!message?.callbackUrl) throw new Error(`no callback_url for ${id}`);
      return signedPost(message.callbackUrl, {
        id, msisdn: message.msisdn, time: extra.time ?? Math.floor(Date.now() / 1000), status,
        error: extra.error ?? null, code: extra.code ?? null, userref: message.userref ?? null,
        country_code: 'DK', country_prefix: 45, callback_url: message.callbackUrl, api: 4,
      });
    },
    async moSms(url: string, msisdn: number, receiver: number, message: string, senttime = Math.floor(Date.now() / 1000)) {
      return signedPost(url, { id: nextId++, msisdn, receiver, message, senttime, webhook_label: 'mail2sms', country_code: 'DK', country_prefix: 45 });
    },
  });
}
