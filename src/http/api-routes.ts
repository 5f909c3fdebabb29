import type { Config } from '../config/load.js';
import type { Logger } from '../core/log.js';
import type { InboundOutcome, Ledger } from '../ledger/types.js';
import type { InboundSms, SmsProvider } from '../providers/types.js';
import { createContactsEndpoint } from './contacts-api.js';
import { authorizeSends, createSendsEndpoint } from './sends-api.js';
import { INBOUND_PATH, RawAnswer, webhookHeaders, type Route } from './server.js';
import type { ApiToken } from './tokens.js';

/*
 * The API's routes beside receipts, health and metrics (server.ts): inbound
 * SMS from the provider, and POST /sends and PUT /contacts for the
 * organisation's own systems.
 */

export interface ApiRouteDeps {
  /** Where inbound SMS arrive: /inbound for the one provider, /inbound/<name> for each named one. */
  inbound: readonly { name?: string; provider: SmsProvider }[];
  handleInbound(sms: InboundSms): Promise<Pick<InboundOutcome, 'inboundId' | 'action' | 'duplicate'>>;
  ledger: Ledger;
  /** http.tokens, read per request (a reload changes them). */
  tokens(): readonly ApiToken[];
  now(): number;
  logger: Logger;
  /** limits.clock_skew: how far a reported send's time may be ahead. */
  maxSkewMs: number;
  getConfig(): Config;
}

export function apiRoutes(deps: ApiRouteDeps): Record<string, Route> {
  const { ledger, tokens } = deps;
  const contacts = createContactsEndpoint({ ledger, getConfig: deps.getConfig });
  const inbound = deps.inbound.flatMap(({ name, provider }): [string, Route][] => {
    const path = name ? `${INBOUND_PATH}/${name}` : INBOUND_PATH;
    // POST as providers call webhooks; GET for Kannel's sms-service get-url, the query carrying the SMS.
    return [[`POST ${path}`, inboundRoute(deps, provider, false)], [`GET ${path}`, inboundRoute(deps, provider, true)]];
  });
  return {
    ...Object.fromEntries(inbound),
    'POST /sends': {
      maxBytes: 32 * 1024 * 1024,
      authorize: authorizeSends(tokens),
      handle: createSendsEndpoint({ ledger, tokens, now: deps.now, maxSkewMs: deps.maxSkewMs }),
    },
    'PUT /contacts': {
      maxBytes: 64 * 1024 * 1024,
      // The same tokens and scope as POST /sends, and one import at a time, checked before the body is read.
      authorize: (headers) => authorizeSends(tokens)(headers) ?? contacts.busy(),
      handle: contacts.handle,
    },
  };
}

/** Inbound SMS from one provider, verified and parsed its way, into the same ledger path whatever the protocol. */
function inboundRoute(deps: ApiRouteDeps, provider: SmsProvider, queryAsBody: boolean): Route {
  return {
    ...(queryAsBody ? { queryAsBody } : {}),
    ...(provider.acceptsSource ? { source: (address: string | undefined) => provider.acceptsSource?.(address) ?? true } : {}),
    authorize: webhookHeaders(provider, 'inbound', deps.logger),
    async handle(headers, raw, _query, url) {
      const parsed = provider.parseInbound(headers, raw, deps.now(), { url });
      if (!parsed.ok) {
        deps.logger.warn({ status: parsed.status, reason: parsed.reason }, 'inbound SMS refused');
        return [parsed.status, { error: parsed.reason }];
      }
      const outcome = await deps.handleInbound(parsed.inbound);
      // A batch (inMobile): the rest too, each into the same ledger path.
      for (const more of parsed.inbounds?.slice(1) ?? []) await deps.handleInbound(more);
      // The answer the provider expects (Twilio: empty TwiML, so it texts nothing back).
      if (parsed.reply) return [200, new RawAnswer(parsed.reply.contentType, parsed.reply.body)];
      return [200, { id: outcome.inboundId, action: outcome.action, duplicate: outcome.duplicate }];
    },
  };
}
