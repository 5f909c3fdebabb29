import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/*
 * What GET /metrics shows, in one list, served by prom-client. Stages see only
 * the small `Metrics` interface (count, observe); the daemon owns the registry
 * (one per daemon: tests run several in one process) and adds gauges read at
 * scrape time.
 */

const COUNTERS = {
  mail2sms_smtp_connections_total: { help: 'SMTP connections accepted.', labels: [] },
  mail2sms_smtp_refusals_total: { help: 'SMTP refusals by reason.', labels: ['reason'] },
  mail2sms_mails_accepted_total: { help: 'Mails answered 250 after the ledger commit.', labels: [] },
  mail2sms_recipients_total: { help: 'Recipients of accepted mails by decision.', labels: ['decision'] },
  mail2sms_dispatch_total: { help: 'Provider calls by result.', labels: ['result'] },
  mail2sms_receipts_total: { help: 'Delivery receipts by outcome.', labels: ['outcome'] },
  mail2sms_inbound_total: { help: 'Inbound SMS by keyword kind; duplicate = a webhook the provider sent again.', labels: ['kind', 'duplicate'] },
  mail2sms_notifications_total: { help: 'Notification emails (report, reply, postmaster) by result.', labels: ['kind', 'result'] },
  mail2sms_http_busy_total: { help: 'HTTP requests refused because http.max_concurrent_bodies bodies were being read.', labels: [] },
  mail2sms_automation_runs_total: { help: 'Automation occurrences by outcome: ran, already_ran (another daemon or a manual run had it), missed, refused (nothing sent: merge_missing reject, too long), failed.', labels: ['automation', 'outcome'] },
} as const;

/** Seconds; the default buckets (5 ms – 10 s) fit calls that should take milliseconds. */
const FAST = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const HISTOGRAMS = {
  mail2sms_smtp_data_seconds: {
    help: 'From the end of DATA to the 250 (DKIM, parse, rules, ledger commit), for mails answered 250.',
    labels: [],
    buckets: FAST,
  },
  mail2sms_provider_call_seconds: { help: 'Provider send calls by dispatch result.', labels: ['result'], buckets: FAST },
  mail2sms_accept_to_sent_seconds: {
    help: 'From the 250 to the provider taking the SMS (queueing, retries, rate limit, X-SMS-Send-At and sending windows included).',
    labels: [],
    // Up to the 24 h of dispatch.max_retry_age; scheduled sends may land in +Inf.
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400],
  },
} as const;

const GAUGES = {
  mail2sms_outbox_queued: 'Outbox rows waiting to be sent.',
  mail2sms_outbox_sending: 'Outbox rows claimed for sending.',
  mail2sms_dispatch_in_flight: 'Provider calls in flight in this process.',
} as const;

export type CounterName = keyof typeof COUNTERS;
export type HistogramName = keyof typeof HISTOGRAMS;
export type GaugeName = keyof typeof GAUGES;

type LabelOf<T extends { labels: readonly string[] }> = T['labels'][number];
/** No argument for a metric without labels; every label, as a string, for one with them. */
type LabelArgs<L extends string> = [L] extends [never] ? [] : [labels: Record<L, string>];

export interface Metrics {
  inc<N extends CounterName>(name: N, ...labels: LabelArgs<LabelOf<(typeof COUNTERS)[N]>>): void;
  observe<N extends HistogramName>(name: N, seconds: number, ...labels: LabelArgs<LabelOf<(typeof HISTOGRAMS)[N]>>): void;
}

export interface MetricsRegistry extends Metrics {
  /** A gauge whose value is read when /metrics is scraped; a read that fails makes the scrape fail. */
  gauge(name: GaugeName, read: () => number | Promise<number>): void;
  /** The exposition text (collects the gauges). */
  render(): Promise<string>;
  readonly contentType: string;
}

/**
 * A registry with every counter and histogram above, and, unless turned off,
 * prom-client's process and Node.js metrics (CPU, memory, file descriptors,
 * event loop lag, GC). Those watch GC and the event loop from the moment they
 * are created until the process ends: one daemon per process in production.
 */
export function createMetrics(options: { processMetrics?: boolean } = {}): MetricsRegistry {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const counters = new Map<string, Counter>();
  for (const [name, { help, labels }] of Object.entries(COUNTERS)) {
    counters.set(name, new Counter({ name, help, labelNames: labels, registers: [registry] }));
  }
  const histograms = new Map<string, Histogram>();
  for (const [name, { help, labels, buckets }] of Object.entries(HISTOGRAMS)) {
    histograms.set(name, new Histogram({ name, help, labelNames: labels, buckets: [...buckets], registers: [registry] }));
  }
  return {
    inc(name, ...labels) {
      counters.get(name)?.inc(labels[0] ?? {});
    },
    observe(name, seconds, ...labels) {
      histograms.get(name)?.observe(labels[0] ?? {}, Math.max(0, seconds));
    },
    gauge(name, read) {
      new Gauge({
        name,
        help: GAUGES[name],
        registers: [registry],
        async collect() {
          this.set(await read());
        },
      });
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/** For stages started without metrics (unit tests). */
export const noMetrics: Metrics = { inc: () => undefined, observe: () => undefined };

/** Seconds since `start`, a performance.now() reading: durations use the monotonic clock, never the (injectable) wall clock. */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
