import type { MainConfig, ProviderConfig, RouteConfig, SimulatorProviderConfig } from './schema.js';

/*
 * The providers and routes of a config, whichever way it was written: `provider:`
 * is one provider (named "provider") on one route; `providers:` are named, with
 * `routes:` or, without them, one route through every provider in the order
 * listed (issue 24).
 */

export interface PlannedProvider {
  name: string;
  config: ProviderConfig;
  /** Where it stands in the config, for messages (`provider`, `providers.gw`). */
  path: string[];
}

export interface ProviderPlan {
  providers: readonly PlannedProvider[];
  routes: readonly RouteConfig[];
  /** False for the `provider:` shorthand: callbacks keep their paths /receipts and /inbound. */
  named: boolean;
}

export function providerPlan(main: Pick<MainConfig, 'provider' | 'providers' | 'routes'>): ProviderPlan {
  if (main.providers) {
    const providers = Object.entries(main.providers).map(([name, config]) => ({ name, config, path: ['providers', name] }));
    return { providers, routes: main.routes ?? [{ providers: providers.map((p) => p.name) }], named: true };
  }
  // The schema refuses a config with neither.
  const config = main.provider as ProviderConfig;
  return { providers: [{ name: 'provider', config, path: ['provider'] }], routes: [{ providers: ['provider'] }], named: false };
}

/** The simulators the daemon starts itself, with where each stands in the config. */
export function embeddedSimulators(main: Pick<MainConfig, 'provider' | 'providers' | 'routes'>): (PlannedProvider & { config: SimulatorProviderConfig })[] {
  return providerPlan(main).providers.filter(
    (p): p is PlannedProvider & { config: SimulatorProviderConfig } => p.config.type === 'simulator' && p.config.embedded,
  );
}
