/*
 * Counters for Prometheus, rendered in its text format at GET /metrics. A few
 * counters need no library; gauges are read when scraped.
 */

const HELP: Record<string, string> = {
  mail2sms_smtp_connections_total: 'SMTP connections accepted.',
  mail2sms_smtp_refusals_total: 'SMTP refusals by reason.',
  mail2sms_mails_accepted_total: 'Mails answered 250 after the ledger commit.',
  mail2sms_recipients_total: 'Recipients of accepted mails by decision.',
  mail2sms_dispatch_total: 'Provider calls by result.',
  mail2sms_receipts_total: 'Delivery receipts by outcome.',
  mail2sms_notifications_total: 'Notification emails (report, reply, postmaster) by result.',
};

export type CounterName = keyof typeof HELP;

export interface Metrics {
  inc(name: CounterName, labels?: Record<string, string>, by?: number): void;
  /** The exposition text; `gauges` are values read at scrape time. */
  render(gauges?: Record<string, { help: string; value: number }>): string;
}

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function createMetrics(): Metrics {
  const counters = new Map<string, Map<string, number>>();
  return {
    inc(name, labels = {}, by = 1) {
      const key = Object.entries(labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}="${escape(v)}"`)
        .join(',');
      let series = counters.get(name);
      if (!series) counters.set(name, (series = new Map()));
      series.set(key, (series.get(key) ?? 0) + by);
    },
    render(gauges = {}) {
      const lines: string[] = [];
      for (const [name, help] of Object.entries(HELP)) {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
        const series = counters.get(name);
        if (!series || series.size === 0) lines.push(`${name} 0`);
        else for (const [labels, value] of series) lines.push(`${name}${labels ? `{${labels}}` : ''} ${value}`);
      }
      for (const [name, { help, value }] of Object.entries(gauges)) lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
      return lines.join('\n') + '\n';
    },
  };
}

/** For stages started without metrics (unit tests). */
export const noMetrics: Metrics = { inc: () => undefined, render: () => '' };
