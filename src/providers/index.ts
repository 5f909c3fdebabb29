import type { Clock } from '../core/clock.js';
import type { ProviderConfig } from '../config/schema.js';
import { formatListen } from '../core/units.js';
import { createHttpJsonProvider } from './http-json.js';
import { createKannelProvider } from './kannel/index.js';
import { createGatewayApiProvider } from './gatewayapi/index.js';
import { createInMobileProvider } from './inmobile/index.js';
import { createTwilioProvider } from './twilio/index.js';
import { createVonageProvider } from './vonage/index.js';
import { createSimulatorProvider } from './simulator-client.js';
import type { SmsProvider } from './types.js';

export type { SmsProvider, SendResult, OutgoingSms, ReceiptParse, InboundParse, InboundSms, HttpHeaders } from './types.js';

export interface ProviderDeps {
  clock: Clock;
  /** Upper bound of concurrent connections to the provider (dispatch concurrency). */
  maxSockets: number;
  /** The simulator's URL when the daemon started it itself (its port may have been 0); else its `listen`. */
  simulatorUrl?: string;
  /** Its name under providers: (its callbacks' path). */
  name?: string;
}

/** The adapter for `provider:` in the main config. */
export function createProvider(config: ProviderConfig, deps: ProviderDeps): SmsProvider {
  switch (config.type) {
    case 'simulator':
      return createSimulatorProvider({
        baseUrl: deps.simulatorUrl ?? `http://${formatListen(config.listen)}`,
        secret: config.secret,
        timeoutMs: config.timeout,
        maxSockets: deps.maxSockets,
        clock: deps.clock,
      });
    case 'http':
      return createHttpJsonProvider(config, { clock: deps.clock, maxSockets: deps.maxSockets });
    case 'kannel':
      return createKannelProvider(config, { clock: deps.clock, maxSockets: deps.maxSockets, ...(deps.name ? { name: deps.name } : {}) });
    case 'twilio':
      return createTwilioProvider(config, adapterDeps(config.type, deps));
    case 'vonage':
      return createVonageProvider(config, adapterDeps(config.type, deps));
    case 'gatewayapi':
      return createGatewayApiProvider(config, adapterDeps(config.type, deps));
    case 'inmobile':
      return createInMobileProvider(config, adapterDeps(config.type, deps));
  }
}

function adapterDeps(type: string, deps: ProviderDeps) {
  return { name: deps.name ?? type, clock: deps.clock, maxSockets: deps.maxSockets };
}
