import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody, SIGNATURE_HEADER } from '../src/core/signing.js';
import {
  alertsSetup,
  queueIdOf,
  sendMail,
  SIM_SECRET,
  simulatorMessages,
  simulatorStats,
  startTestDaemon,
  waitFor,
  writeConfig,
  type TestDaemon,
  type TestDirs,
} from './helpers.js';

/*
 * Email in, SMS out: a real daemon on random ports, a real SQLite file, the real
 * HTTP simulator, and nodemailer as the client.
 */

let dirs: TestDirs;
let t: TestDaemon;
let port: number;

beforeAll(async () => {
  dirs = writeConfig({
    // Fifty parallel mails from one address: above the default per-address connection cap (20).
    main: { smtp: { listen: '127.0.0.1:0', hostname: 'mail2sms.test', max_message_size: '64KB', max_recipients: 5, max_clients_per_address: 60 } },
    setups: [alertsSetup(), alertsSetup({ id: 'nocool', senders: ['erp@other.test'], sender_name: 'ERP', cooldown: 'off' })],
  });
  t = await startTestDaemon(dirs);
  port = t.smtpPort;
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

async function smsTo(number: string) {
  return (await simulatorMessages(t.simUrl)).filter((m) => m.to === number);
}

async function statusOf(queueId: string) {
  return (await t.daemon.ledger.outbox({ queueId })).map((row) => row.status);
}

describe('email in, SMS out', () => {
  it('delivers "Server down" to +4520123456 from Example and ends delivered', async () => {
    const result = await sendMail({ port, from: 'ops@example.test', to: '+4520123456@sms.example.test', subject: 'Alarm', text: 'Server down' });
    expect(result.response).toMatch(/^250 2\.0\.0 Queued as \w+$/);
    const queueId = queueIdOf(result.response);
    const [sms] = await waitFor(() => smsTo('+4520123456').then((list) => (list.length ? list : undefined)), 'the SMS at the simulator');
    expect(sms).toMatchObject({ to: '+4520123456', from: 'Example', text: 'Server down' });
    await waitFor(async () => (await statusOf(queueId))[0] === 'delivered', 'the delivery receipt');
    const [row] = await t.daemon.ledger.outbox({ queueId });
    expect(row).toMatchObject({ recipient: '+4520123456', status: 'delivered', providerMessageId: sms?.id, attempts: 1 });
  });

  it('reads 0045… and national numbers as the same E.164 number', async () => {
    const a = await sendMail({ port, from: 'erp@other.test', to: '004540123456@sms.example.test', text: 'one' });
    const b = await sendMail({ port, from: 'erp@other.test', to: '40123456@sms.example.test', text: 'two' });
    expect([a.code, b.code]).toEqual([250, 250]);
    const texts = await waitFor(async () => {
      const list = await smsTo('+4540123456');
      return list.length === 2 ? list.map((m) => m.text).sort() : undefined;
    }, 'two SMS to +4540123456');
    expect(texts).toEqual(['one', 'two']);
  });

  it('sends one SMS per envelope recipient, Bcc included, and one for a number given twice', async () => {
    const result = await sendMail({
      port,
      from: 'erp@other.test',
      to: ['+4550123401@sms.example.test', '004550123401@sms.example.test'],
      bcc: '+4550123402@sms.example.test',
      text: 'Invoice ready',
    });
    expect(result.code).toBe(250);
    const rows = await t.daemon.ledger.outbox({ queueId: queueIdOf(result.response) });
    expect(rows.map((r) => r.recipient).sort()).toEqual(['+4550123401', '+4550123402']);
    await waitFor(async () => (await smsTo('+4550123402')).length === 1 && (await smsTo('+4550123401')).length === 1, 'both SMS');
    expect((await smsTo('+4550123402'))[0]?.text).toBe('Invoice ready');
  });

  it('converts an HTML-only mail to text', async () => {
    const result = await sendMail({ port, from: 'erp@other.test', to: '+4550123403@sms.example.test', html: '<h1>Disk&nbsp;full</h1><p>on <b>db1</b></p>' });
    expect(result.code).toBe(250);
    const [sms] = await waitFor(() => smsTo('+4550123403').then((l) => (l.length ? l : undefined)), 'the SMS');
    expect(sms?.text).toBe('Disk full\n\non db1');
  });
});

describe('organisation-wide cooldown', () => {
  it('answers 250 to a second mail within the cooldown but sends no second SMS, and says why', async () => {
    const first = await sendMail({ port, from: 'ops@example.test', to: '+4520123457@sms.example.test', text: 'Server down' });
    await waitFor(async () => (await smsTo('+4520123457')).length === 1, 'first SMS');
    const second = await sendMail({ port, from: 'ops@example.test', to: '004520123457@sms.example.test', text: 'Server down' });
    expect(second.response).toMatch(/^250 2\.0\.0 Queued as \w+; 1 of 1 recipient\(s\) suppressed \(cooldown\)$/);
    const [row] = await t.daemon.ledger.outbox({ queueId: queueIdOf(second.response) });
    expect(row).toMatchObject({ status: 'suppressed', reason: 'cooldown' });
    const [firstRow] = await t.daemon.ledger.outbox({ queueId: queueIdOf(first.response) });
    expect(row?.blockedUntil).toBe((firstRow?.sentAt ?? 0) + 600_000);
    expect(t.logs.some((l) => l.msg === 'recipient suppressed' && l.reason === 'cooldown' && l.qid === queueIdOf(second.response))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await smsTo('+4520123457')).toHaveLength(1);
  });

  it('a cooldown-off setup still reserves: a cooldown setup right after it is suppressed', async () => {
    await sendMail({ port, from: 'erp@other.test', to: '+4520123458@sms.example.test', text: 'from ERP' });
    const alert = await sendMail({ port, from: 'ops@example.test', to: '+4520123458@sms.example.test', text: 'alert' });
    expect(alert.response).toMatch(/suppressed \(cooldown\)/);
  });

  it('fifty parallel mails to one number give exactly one SMS', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sendMail({ port, from: 'ops@example.test', to: '+4520123459@sms.example.test', text: `race ${i}` })),
    );
    expect(results.filter((r) => r.code === 250)).toHaveLength(50);
    const rows = await t.daemon.ledger.outbox({ recipient: '+4520123459' });
    expect(rows.filter((r) => r.status !== 'suppressed')).toHaveLength(1);
    expect(rows.filter((r) => r.status === 'suppressed' && r.reason === 'cooldown')).toHaveLength(49);
    await waitFor(async () => (await smsTo('+4520123459')).length === 1, 'the one SMS');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await smsTo('+4520123459')).toHaveLength(1);
  });
});

describe('a retried mail', () => {
  it('gets the original queue id and no second SMS, even with cooldown off', async () => {
    const mail = { port, from: 'erp@other.test', to: '+4520123460@sms.example.test', text: 'Order 1234 shipped', messageId: '<order-1234@erp.other.test>' };
    const first = await sendMail(mail);
    const again = await sendMail(mail);
    expect(again.response).toBe(`250 2.0.0 Already queued as ${queueIdOf(first.response)}`);
    await waitFor(async () => (await smsTo('+4520123460')).length === 1, 'the SMS');
    // A new mail (new Message-ID) to the same number is not a retry.
    const next = await sendMail({ ...mail, messageId: '<order-1235@erp.other.test>' });
    expect(queueIdOf(next.response)).not.toBe(queueIdOf(first.response));
    await waitFor(async () => (await smsTo('+4520123460')).length === 2, 'the second SMS');
  });
});

describe('storage failure', () => {
  it('answers 451 4.3.0 when the ledger cannot write, and the retried mail is queued once it can', async () => {
    const side = new Database(dirs.dbFile);
    side.exec(`CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    const mail = { port, from: 'erp@other.test', to: '+4520123461@sms.example.test', text: 'Backup failed', messageId: '<backup-1@erp.other.test>' };
    try {
      const refused = await sendMail(mail);
      expect(refused.response).toMatch(/^451 4\.3\.0 Cannot store the message right now, try again later \[ref [\w.]+\]$/);
      expect(await t.daemon.ledger.outbox({ recipient: '+4520123461' })).toHaveLength(0);
    } finally {
      side.exec('DROP TRIGGER refuse_outbox');
      side.close();
    }
    const retried = await sendMail(mail);
    expect(retried.code).toBe(250);
    await waitFor(async () => (await smsTo('+4520123461')).length === 1, 'the SMS after the retry');
  });
});

describe('delivery receipts', () => {
  const receiptsUrl = () => `http://127.0.0.1:${t.daemon.ports.http}/receipts`;
  const post = (body: string, signature?: string) =>
    fetch(receiptsUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature ? { [SIGNATURE_HEADER]: signature } : {}) },
      body,
    });

  it('refuses a receipt without a valid signature with 403 and says why', async () => {
    const body = JSON.stringify({ id: 'x', status: 'delivered' });
    const refusal = async (response: Response) => [response.status, await response.json()];
    expect(await refusal(await post(body))).toEqual([403, { error: 'missing' }]);
    expect(await refusal(await post(body, 'sha256=00'))).toEqual([403, { error: 'malformed' }]);
    expect(await refusal(await post(body, signBody('wrong-secret-wrong-secret', body, Date.now())))).toEqual([403, { error: 'bad_signature' }]);
    // A captured receipt replayed ten minutes later.
    expect(await refusal(await post(body, signBody(SIM_SECRET, body, Date.now() - 600_000)))).toEqual([403, { error: 'too_old' }]);
    expect(await refusal(await post(body, signBody(SIM_SECRET, body, Date.now() + 600_000)))).toEqual([403, { error: 'in_future' }]);
  });

  it('parks a receipt for an id not known yet (202) and logs it; the 404 comes only after dispatch.receipt_grace', async () => {
    const body = JSON.stringify({ id: 'no-such-id', status: 'delivered' });
    const response = await post(body, signBody(SIM_SECRET, body, Date.now()));
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ outcome: 'parked' });
    expect(t.logs.some((l) => l.msg === 'receipt for an id not known yet: parked' && l.providerId === 'no-such-id')).toBe(true);
  });

  it('a duplicate receipt changes nothing and a late "failed" never moves a delivered row back', async () => {
    const result = await sendMail({ port, from: 'erp@other.test', to: '+4520123462@sms.example.test', text: 'receipt test' });
    const queueId = queueIdOf(result.response);
    await waitFor(async () => (await statusOf(queueId))[0] === 'delivered', 'delivered');
    const [row] = await t.daemon.ledger.outbox({ queueId });
    const delivered = JSON.stringify({ id: row?.providerMessageId, status: 'delivered' });
    const again = await post(delivered, signBody(SIM_SECRET, delivered, Date.now()));
    expect(await again.json()).toEqual({ outcome: 'duplicate' });
    const failed = JSON.stringify({ id: row?.providerMessageId, status: 'failed', error_code: 'EXPIRED' });
    const late = await post(failed, signBody(SIM_SECRET, failed, Date.now()));
    expect(await late.json()).toEqual({ outcome: 'stale' });
    const [after] = await t.daemon.ledger.outbox({ queueId });
    expect(after).toEqual(row);
  });

  it('no log line carries the provider secret or a full phone number at info level', () => {
    const lines = t.logs.filter((l) => l.level >= 30).map((l) => JSON.stringify(l));
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.filter((l) => l.includes(SIM_SECRET))).toEqual([]);
    expect(lines.filter((l) => /\+45\d{8}/.test(l))).toEqual([]);
  });

  it('GET /metrics counts what happened, in the Prometheus text format', async () => {
    const response = await fetch(`http://127.0.0.1:${t.daemon.ports.http}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('mail2sms_mails_accepted_total')).toBeGreaterThanOrEqual(50);
    expect(value('mail2sms_recipients_total{decision="suppressed_cooldown"}')).toBeGreaterThanOrEqual(49);
    expect(value('mail2sms_smtp_refusals_total{reason="storage_unavailable"}')).toBe(1);
    expect(value('mail2sms_receipts_total{outcome="stale"}')).toBe(1);
    expect(value('mail2sms_dispatch_total{result="sent"}')).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE mail2sms_outbox_queued gauge\nmail2sms_outbox_queued \d+$/m);
    // The latency histograms, and prom-client's process and Node.js metrics.
    expect(value('mail2sms_smtp_data_seconds_count')).toBeGreaterThanOrEqual(50);
    expect(text).toContain(`mail2sms_smtp_data_seconds_bucket{le="+Inf"} ${value('mail2sms_smtp_data_seconds_count')}\n`);
    expect(value('mail2sms_provider_call_seconds_count{result="sent"}')).toBe(value('mail2sms_dispatch_total{result="sent"}'));
    expect(value('mail2sms_accept_to_sent_seconds_count')).toBe(value('mail2sms_dispatch_total{result="sent"}'));
    expect(text).toMatch(/^# TYPE mail2sms_inbound_total counter$/m);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
  });

  it('the simulator saw no duplicate sends in this whole file', async () => {
    expect((await simulatorStats(t.simUrl)).duplicates).toBe(0);
  });
});
