import { createMetrics, type MetricsRegistry } from '../core/metrics.js';
import { createRecentTally, tallying, type RecentTally } from '../core/recent.js';
import type { Ledger } from '../ledger/types.js';
import type { Wiring } from './steps.js';

export interface Observability {
  metrics: MetricsRegistry;
  /** SMTP refusals never reach the ledger: the console counts the last hour's here. */
  refusals: RecentTally;
  /** Dispatch's live numbers, known once it runs. */
  watchDispatch(dispatch: { inFlight(): number; providerState(): string }): void;
  providerState(): string;
}

export function createObservability(wiring: Wiring, ledger: Pick<Ledger, 'queueDepth'>): Observability {
  const refusals = createRecentTally(wiring.clock);
  const metrics = tallying(createMetrics(), 'mail2sms_smtp_refusals_total', 'reason', refusals);
  let dispatch = { inFlight: () => 0, providerState: () => 'ok' };
  // Both outbox gauges are collected in the same scrape: one ledger read serves them.
  let depth: ReturnType<Ledger['queueDepth']> | undefined;
  const readDepth = () => (depth ??= ledger.queueDepth().finally(() => (depth = undefined)));
  metrics.gauge('mail2sms_outbox_queued', async () => (await readDepth()).queued);
  metrics.gauge('mail2sms_outbox_sending', async () => (await readDepth()).sending);
  metrics.gauge('mail2sms_dispatch_in_flight', () => dispatch.inFlight());
  return {
    metrics,
    refusals,
    watchDispatch: (live) => void (dispatch = live),
    providerState: () => dispatch.providerState(),
  };
}
