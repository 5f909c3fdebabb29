import type { Config } from '../config/load.js';
import type { Logger } from '../core/log.js';
import type { InboundOutcome, Ledger } from '../ledger/types.js';
import type { InboundSms, SmsProvider } from '../providers/types.js';
import { createContactsEndpoint } from './contacts-api.js';
import { authorizeSends, createSendsEndpoint } from './sends-api.js';
import { INBOUND_PATH, webhookHeaders, type Route } from './server.js';
import type { ApiToken } from './tokens.js';

/*
 * The API's routes beside receipts, health and metrics (server.ts): inbound
 * SMS from the provider, and POST /sends and PUT /contacts for the
 * organisation's own systems.
 */

export interface ApiRouteDeps {
  provider: Pick<SmsProvider, 'checkWebhookHeaders' | 'parseInbound'>;
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
  return {
    [`POST ${INBOUND_PATH}`]: {
      authorize: webhookHeaders(deps.provider, 'inbound', deps.logger),
      async handle(headers, raw) {
        const parsed = deps.provider.parseInbound(headers, raw, deps.now());
        if (!parsed.ok) {
          deps.logger.warn({ status: parsed.status, reason: parsed.reason }, 'inbound SMS refused');
          return [parsed.status, { error: parsed.reason }];
        }
        const outcome = await deps.handleInbound(parsed.inbound);
        return [200, { id: outcome.inboundId, action: outcome.action, duplicate: outcome.duplicate }];
      },
    },
    'POST /sends': {
      maxBytes: 32 * 1024 * 1024,
      authorize: authorizeSends(tokens),
      handle: createSendsEndpoint({ ledger, tokens, now: deps.now, maxSkewMs: deps.maxSkewMs }),
    },
    'PUT /contacts': {
      maxBytes: 64 * 1024 * 1024,
      // The same tokens and scope as POST /sends, checked before the body is read.
      authorize: authorizeSends(tokens),
      handle: createContactsEndpoint({ ledger, getConfig: deps.getConfig }),
    },
  };
}
