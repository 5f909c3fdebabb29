import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/core/metrics.js';

describe('metrics registry (prom-client)', () => {
  it('each daemon has its own registry: two in one process neither clash nor share counts', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.inc('mail2sms_dispatch_total', { result: 'sent' });
    a.inc('mail2sms_dispatch_total', { result: 'sent' });
    b.inc('mail2sms_inbound_total', { kind: 'opt_out', duplicate: 'false' });
    const [textA, textB] = await Promise.all([a.render(), b.render()]);
    expect(textA).toMatch(/^mail2sms_dispatch_total\{result="sent"\} 2$/m);
    expect(textB).not.toMatch(/^mail2sms_dispatch_total\{/m);
    expect(textB).toMatch(/^mail2sms_inbound_total\{kind="opt_out",duplicate="false"\} 1$/m);
    expect(textA).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('lists every counter, a label-free one at 0, before anything happened', async () => {
    const text = await createMetrics({ processMetrics: false }).render();
    for (const name of [
      'mail2sms_smtp_connections_total',
      'mail2sms_smtp_refusals_total',
      'mail2sms_mails_accepted_total',
      'mail2sms_recipients_total',
      'mail2sms_dispatch_total',
      'mail2sms_receipts_total',
      'mail2sms_inbound_total',
      'mail2sms_notifications_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} counter\n`);
    }
    expect(text).toMatch(/^mail2sms_mails_accepted_total 0$/m);
    expect(text).not.toMatch(/^process_/m);
  });

  it('histograms count observations into cumulative buckets, in seconds', async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.observe('mail2sms_provider_call_seconds', 0.003, { result: 'sent' });
    metrics.observe('mail2sms_provider_call_seconds', 0.2, { result: 'sent' });
    metrics.observe('mail2sms_accept_to_sent_seconds', 7200);
    metrics.observe('mail2sms_smtp_data_seconds', -1); // clocks disagreeing: clamped, not refused
    const text = await metrics.render();
    expect(text).toMatch(/^mail2sms_provider_call_seconds_bucket\{le="0.005",result="sent"\} 1$/m);
    expect(text).toMatch(/^mail2sms_provider_call_seconds_bucket\{le="0.25",result="sent"\} 2$/m);
    expect(text).toMatch(/^mail2sms_provider_call_seconds_count\{result="sent"\} 2$/m);
    expect(text).toMatch(/^mail2sms_accept_to_sent_seconds_bucket\{le="3600"\} 0$/m);
    expect(text).toMatch(/^mail2sms_accept_to_sent_seconds_bucket\{le="14400"\} 1$/m);
    expect(text).toMatch(/^mail2sms_smtp_data_seconds_sum 0$/m);
  });

  it('gauges are read at scrape time; a gauge that cannot be read fails the scrape', async () => {
    const metrics = createMetrics({ processMetrics: false });
    let queued = 3;
    metrics.gauge('mail2sms_outbox_queued', async () => queued);
    expect(await metrics.render()).toMatch(/^# TYPE mail2sms_outbox_queued gauge\nmail2sms_outbox_queued 3$/m);
    queued = 5;
    expect(await metrics.render()).toMatch(/^mail2sms_outbox_queued 5$/m);
    metrics.gauge('mail2sms_outbox_sending', () => Promise.reject(new Error('ledger gone')));
    await expect(metrics.render()).rejects.toThrow('ledger gone');
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});
