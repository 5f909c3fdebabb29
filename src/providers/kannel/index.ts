import type { Clock } from '../../core/clock.js';
import type { KannelProviderConfig } from '../../config/provider-kannel.js';
import { createHttpClient } from '../../core/http-client.js';
import { classifyCallError } from '../classify.js';
import type { OutgoingSms, SendResult, SmsProvider } from '../types.js';
import { createSourceCheck, createTokenCheck, dlrUrl, parseDlr, parseMo } from './callbacks.js';
import { classifySendsmsAnswer, recipientProblem, sendsmsRequest } from './send.js';

export { KANNEL_DLR_TYPES, SMPP_FINAL_STATES } from './status.js';
export { inboundGetUrl } from './callbacks.js';

/*
 * Kannel (bearerbox + smsbox) as a provider: SMS go out through smsbox's
 * sendsms interface; delivery reports and inbound SMS come back as GETs that
 * Kannel fills from URL patterns. Kannel has no idempotency key and no message
 * id of its own, so our id travels in the dlr-url and a timeout after the
 * request was written is `unknown` (dispatch.on_unknown decides).
 *
 * The callbacks are GETs: the route passes the raw query string (without "?")
 * as the body to parseReceipt/parseInbound, and the caller's address to
 * acceptsSource before anything else.
 */

export interface KannelProviderDeps {
  clock: Clock;
  /** Upper bound of concurrent connections to smsbox. */
  maxSockets: number;
  /** The provider's name in `providers:` (its callbacks arrive at /receipts/<name> and /inbound/<name>). */
  name?: string;
}

export interface KannelProvider extends SmsProvider {
  /** Whether a callback from this address may be read at all (`allow_from`); 403 otherwise. */
  acceptsSource(remoteAddress: string | undefined): boolean;
}

export function createKannelProvider(config: KannelProviderConfig, deps: KannelProviderDeps): KannelProvider {
  const sendUrl = new URL(config.url);
  const client = createHttpClient({ maxSockets: deps.maxSockets });
  const checkToken = createTokenCheck(config.callback.token);
  const acceptsSource = createSourceCheck(config.allow_from);

  return {
    name: deps.name ?? `kannel ${sendUrl.host}`,
    idempotent: false,
    acceptsSource,
    async send(sms: OutgoingSms): Promise<SendResult> {
      const problem = recipientProblem(sms.to);
      if (problem) return { ok: false, temporary: false, reason: problem };
      const request = sendsmsRequest(config, sendUrl, sms, dlrUrl(sms.callbackUrl, sms.idempotencyKey, config.callback.token));
      let response;
      try {
        response = await client.request(request.method, request.url, request.body, request.headers, config.timeout);
      } catch (error) {
        return classifyCallError(error);
      }
      return classifySendsmsAnswer(response, sms.idempotencyKey, deps.clock.now());
    },
    // A GET carries no body and Kannel sets no header of ours: the token is in the query, checked by the parsers.
    checkWebhookHeaders: () => undefined,
    parseReceipt: (_headers, query) => parseDlr(query, checkToken),
    parseInbound: (_headers, query, nowMs) => parseMo(query, checkToken, nowMs),
    close: () => client.destroy(),
  };
}
