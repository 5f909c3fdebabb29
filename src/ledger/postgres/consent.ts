import { newQueueId } from '../queue-id.js';
import { KEYWORD_SETUP, type ConsentAction, ConsentChange, ConsentEvent, ExternalSend } from '../consent.js';
import { GLOBAL_PURPOSE } from '../rules.js';
import type { ConsentData } from '../console-types.js';
import type { ConsentEventPage, InboundOutcome, InboundRecord } from '../types.js';
import { INSERT_EVENT, INSERT_MESSAGE, INSERT_OUTBOX, INSERT_RESERVATION, ownTextParams } from './intake.js';
import { numberKey, type PgClient, type PgPool } from './pool.js';

/**
 * Consent changes run holding consentLocks: an opt-out waits for a provider
 * call to that number that a send guard holds, and once it commits no daemon
 * starts another (see ledger.ts, guardSend).
 */
export const consentLocks = (changes: readonly { recipient: string }[]) => changes.map((c) => numberKey(c.recipient));

export async function changeConsentOn(client: PgClient, changes: readonly ConsentChange[], now: number): Promise<ConsentEvent[]> {
  const written: ConsentEvent[] = [];
  for (const c of changes) {
    const purpose = c.purpose ?? GLOBAL_PURPOSE;
    const latest = await client.query<{ action: ConsentAction }>(
      'SELECT action FROM consent_events WHERE recipient = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1', [c.recipient, purpose],
    );
    const row = {
      at: c.at ?? now, recordedAt: now, recipient: c.recipient, purpose, action: c.action, previous: latest.rows[0]?.action ?? null,
      source: c.source, evidence: c.evidence ?? null, inboundId: c.inboundId ?? null,
    };
    const inserted = await client.query<{ id: number }>(
      `INSERT INTO consent_events (at, recorded_at, recipient, purpose, action, previous, source, evidence, inbound_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
      [row.at, row.recordedAt, row.recipient, row.purpose, row.action, row.previous, row.source, row.evidence, row.inboundId],
    );
    written.push({ id: inserted.rows[0]!.id, ...row });
  }
  return written;
}

export async function recordSendsOn(client: PgClient, sends: readonly ExternalSend[]): Promise<{ recorded: number; duplicates: number }> {
  let recorded = 0;
  for (const s of sends) {
    const result = await client.query(
      `INSERT INTO sends (recipient, channel, state, reserved_at, sent_at, ref, purpose) VALUES ($1, $2, 'sent', $3, $3, $4, $5)
       ON CONFLICT (channel, ref) WHERE ref IS NOT NULL DO NOTHING`,
      [s.recipient, s.channel, s.at, s.ref ?? null, s.purpose ?? null],
    );
    recorded += result.rowCount ?? 0;
  }
  return { recorded, duplicates: sends.length - recorded };
}

async function queueAnswer(client: PgClient, sms: InboundRecord & { reply: NonNullable<InboundRecord['reply']> }, inboundId: number, now: number): Promise<string> {
  const queueId = newQueueId(now);
  const { reply } = sms;
  await client.query(INSERT_MESSAGE, [
    queueId, now, KEYWORD_SETUP, '', null, '', null, `inbound#${inboundId}${sms.kind === 'opt_out' ? ':opt-out' : ''}`, reply.senderName, reply.text, reply.measure.encoding,
    reply.measure.segments, reply.measure.characters, null, null, null, null, null, null, null, 'retry', null,
  ]);
  const outbox = await client.query<{ id: number }>(INSERT_OUTBOX, [queueId, sms.from, 'queued', null, null, null, `${queueId}.0`, now, now, 0, KEYWORD_SETUP, ...ownTextParams(undefined)]);
  const outboxId = outbox.rows[0]!.id;
  await client.query(INSERT_RESERVATION, [sms.from, 'keyword', outboxId, null, now, null, null]);
  await client.query(INSERT_EVENT, [now, outboxId, queueId, 'queued', `answer to inbound SMS #${inboundId} (${sms.kind})`]);
  return queueId;
}

/** An inbound SMS, stored as evidence and acted on in one transaction (holding the sender's number lock); a webhook delivered twice (to any daemon) acts once. */
export async function recordInboundOn(client: PgClient, sms: InboundRecord, now: number): Promise<InboundOutcome & { queued: boolean }> {
  const action = sms.kind === 'opt_out' ? 'opted out' : sms.kind === 'opt_in' ? 'opted in' : sms.kind === 'help' ? 'help sent' : 'no keyword';
  const inserted = await client.query<{ id: number }>(
    `INSERT INTO inbound_messages (received_at, provider_id, sender, recipient, text, keyword, action) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (provider_id) DO NOTHING RETURNING id`,
    [sms.receivedAt, sms.providerId, sms.from, sms.to ?? null, sms.text, sms.kind, sms.reply ? `${action}; answered` : action],
  );
  const inboundId = inserted.rows[0]?.id;
  if (inboundId === undefined) {
    const existing = await client.query<{ id: number; action: string }>('SELECT id, action FROM inbound_messages WHERE provider_id = $1', [sms.providerId]);
    return { duplicate: true, inboundId: existing.rows[0]!.id, action: existing.rows[0]!.action, queued: false };
  }
  const outcome: InboundOutcome & { queued: boolean } = { duplicate: false, inboundId, action, queued: false };
  if (sms.kind === 'opt_out' || sms.kind === 'opt_in') {
    const [event] = await changeConsentOn(client, [
      { recipient: sms.from, action: sms.kind, at: sms.receivedAt, source: 'sms', evidence: `SMS "${sms.text}" (keyword ${sms.keyword ?? '?'})`, inboundId },
    ], now);
    outcome.consentEventId = event?.id;
  }
  if (sms.reply) {
    outcome.replyQueueId = await queueAnswer(client, { ...sms, reply: sms.reply }, inboundId, now);
    outcome.queued = true;
  }
  return outcome;
}

const SELECT_EVENTS = `SELECT id, at, recorded_at AS "recordedAt", recipient, purpose, action, previous, source, evidence, inbound_id AS "inboundId"
  FROM consent_events`;

/** A number's consent now and every change that led to it, as ../consent.ts reads them on SQLite. */
export async function consentOfOn(pool: PgPool, recipient: string): Promise<ConsentData> {
  const current = await pool.query<ConsentData['current'][number]>(
    'SELECT purpose, state, since, source FROM consent_state WHERE recipient = $1 ORDER BY purpose', [recipient]);
  const events = await pool.query<ConsentEvent>(`${SELECT_EVENTS} WHERE recipient = $1 ORDER BY id`, [recipient]);
  return { current: current.rows, events: events.rows };
}

/** One page of the audit trail, oldest first. */
export async function consentEventsOn(pool: PgPool, page: ConsentEventPage): Promise<ConsentEvent[]> {
  const { rows } = await pool.query<ConsentEvent>(
    `${SELECT_EVENTS} WHERE ($1::bigint IS NULL OR recorded_at >= $1) AND id > $2 ORDER BY id LIMIT $3`,
    [page.since ?? null, page.afterId ?? 0, page.limit],
  );
  return rows;
}
