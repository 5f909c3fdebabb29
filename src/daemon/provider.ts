import { createProvider, type SmsProvider } from '../providers/index.js';
import { createProviderSimulator } from '../simulator/server.js';
import type { Wiring } from './steps.js';

export interface ProviderStep {
  provider: SmsProvider;
  /** The embedded simulator's port, when one runs. */
  simulatorPort?: number;
  /** Where the simulator posts simulated inbound SMS: known once HTTP listens (its port may be 0). */
  setInboundUrl(url: string): void;
}

/** The SMS provider, and the built-in simulator first when the config asks for an embedded one. */
export async function startProviderStep(wiring: Wiring): Promise<ProviderStep> {
  const config = wiring.config();
  const providerConfig = config.main.provider;
  let inboundUrl: string | undefined;
  let simulator: { url: string; port: number } | undefined;
  if (providerConfig.type === 'simulator' && providerConfig.embedded) {
    const server = createProviderSimulator({
      listen: providerConfig.listen,
      secret: providerConfig.secret,
      receiptDelayMs: providerConfig.receipt_delay,
      logger: wiring.logger.child({ stage: 'simulator' }),
      clock: wiring.clock,
      inboundUrl: () => providerConfig.inbound_url ?? inboundUrl,
    });
    simulator = await server.start();
    wiring.steps.add('simulator', () => server.stop());
  }
  const provider = createProvider(providerConfig, {
    clock: wiring.clock,
    maxSockets: config.main.dispatch.concurrency,
    ...(simulator ? { simulatorUrl: simulator.url } : {}),
  });
  wiring.steps.add('provider', () => provider.close());
  return {
    provider,
    ...(simulator ? { simulatorPort: simulator.port } : {}),
    setInboundUrl: (url) => void (inboundUrl = url),
  };
}
