import { providerPlan, type PlannedProvider } from '../config/provider-plan.js';
import { createProvider, type SmsProvider } from '../providers/index.js';
import { createBreaker } from '../providers/breaker.js';
import { createProviderGate } from '../providers/provider-gate.js';
import { createRoutedProvider, type RoutedProvider } from '../providers/routed.js';
import { createProviderSimulator } from '../simulator/server.js';
import type { Wiring } from './steps.js';

/** A provider's circuit opens after this many temporary failures in a row, for this long (issue 24). */
const BREAKER = { threshold: 5, coolOffMs: 30_000 };

export interface ProviderStep {
  /** What the dispatcher calls: the one provider, or the routes over the named ones. */
  provider: SmsProvider;
  /** With named providers: each by name (its callbacks are /receipts/<name>, /inbound/<name>) and the breakers. */
  routed?: RoutedProvider;
  /** The first embedded simulator's port, when one runs. */
  simulatorPort?: number;
  /** Where simulators post simulated inbound SMS: known once HTTP listens (its port may be 0). */
  setInboundUrl(url: string): void;
}

/** The SMS providers, the built-in simulators first where the config asks for embedded ones. */
export async function startProviderStep(wiring: Wiring): Promise<ProviderStep> {
  const config = wiring.config();
  const plan = providerPlan(config.main);
  let inboundUrl: string | undefined;
  const simulatorUrls = new Map<string, { url: string; port: number }>();
  for (const planned of plan.providers) {
    const started = await startSimulator(wiring, planned, () => (inboundUrl && plan.named ? `${inboundUrl}/${planned.name}` : inboundUrl));
    if (started) simulatorUrls.set(planned.name, started);
  }
  const built = new Map<string, SmsProvider>();
  for (const { name, config: providerConfig } of plan.providers) {
    const simulator = simulatorUrls.get(name);
    const provider = createProvider(providerConfig, { clock: wiring.clock, maxSockets: config.main.dispatch.concurrency, name, ...(simulator ? { simulatorUrl: simulator.url } : {}) });
    wiring.steps.add(`provider ${name}`, () => provider.close());
    built.set(name, provider);
  }
  const first = [...simulatorUrls.values()][0];
  const common = { ...(first ? { simulatorPort: first.port } : {}), setInboundUrl: (url: string) => void (inboundUrl = url) };
  // The shorthand `provider:` is called as before: no routes, no breaker, its callbacks at /receipts and /inbound.
  if (!plan.named) return { provider: built.get('provider') as SmsProvider, ...common };
  const routed = createRoutedProvider({
    providers: new Map(
      [...built].map(([name, provider]) => {
        const limits = plan.providers.find((p) => p.name === name)?.config as { concurrency?: number; rate_limit?: number } | undefined;
        const gate = createProviderGate({ clock: wiring.clock, ...(limits?.concurrency ? { concurrency: limits.concurrency } : {}), ...(limits?.rate_limit ? { ratePerSecond: limits.rate_limit } : {}) });
        return [name, { provider, breaker: createBreaker({ ...BREAKER, clock: wiring.clock }), ...(gate ? { gate } : {}) }];
      }),
    ),
    routes: plan.routes,
    categoryOf: (setupId) => wiring.config().setups.find((s) => s.id === setupId)?.category ?? 'alert',
    receiptUrl: (name, receipts) => `${receipts}/${name}`,
  });
  return { provider: routed, routed, ...common };
}

async function startSimulator(wiring: Wiring, planned: PlannedProvider, inboundUrl: () => string | undefined): Promise<{ url: string; port: number } | undefined> {
  const sim = planned.config;
  if (sim.type !== 'simulator' || !sim.embedded) return undefined;
  const server = createProviderSimulator({
    listen: sim.listen,
    secret: sim.secret,
    receiptDelayMs: sim.receipt_delay,
    logger: wiring.logger.child({ stage: 'simulator', provider: planned.name }),
    clock: wiring.clock,
    inboundUrl: () => sim.inbound_url ?? inboundUrl(),
  });
  const started = await server.start();
  wiring.steps.add(`simulator ${planned.name}`, () => server.stop());
  return started;
}
