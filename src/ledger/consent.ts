/*
 * Consent changes, sends reported by other channels, and the audit views over
 * them: the shapes both backends store and return, and a number's history as
 * one query (sqlite/consent.ts runs it, postgres/console.ts translates it).
 */

export type ConsentAction = 'opt_in' | 'opt_out';

export interface ConsentChange {
  recipient: string;
  /** A marketing purpose, or undefined/'' for the global switch (STOP / START). */
  purpose?: string;
  action: ConsentAction;
  /** When consent was given or withdrawn (defaults to now). */
  at?: number;
  source: string;
  evidence?: string;
  inboundId?: number;
}

export interface ConsentEvent {
  id: number;
  at: number;
  recordedAt: number;
  recipient: string;
  /** '' = the global switch. */
  purpose: string;
  action: ConsentAction;
  previous: ConsentAction | null;
  source: string;
  evidence: string | null;
  inboundId: number | null;
}

export type Channel = 'email' | 'api' | 'campaign' | 'automation' | 'keyword';
/** The setup id of answers to keywords (confirmation, help): no setup file sends them. */
export const KEYWORD_SETUP = '(keywords)';

export const REPORTED_CHANNELS = ['api', 'campaign', 'automation'] as const;
export type ReportedChannel = (typeof REPORTED_CHANNELS)[number];

export interface ExternalSend {
  recipient: string;
  at: number;
  channel: ReportedChannel;
  /** The other system's id for the send; a send reported twice with the same ref counts once. */
  ref?: string;
  purpose?: string;
}

export interface HistoryEntry {
  at: number;
  kind: 'sms' | 'suppressed' | 'send' | 'consent' | 'inbound' | 'event';
  summary: string;
  /** Identifiers to look further: queue id, outbox id, consent event id… */
  ref?: string;
  /** sms/suppressed: the row's status; send: sent; consent: opt_in or opt_out; inbound: what it did. */
  status?: string;
  /** Why (suppression, failure), the event's detail, or a consent change's evidence. */
  reason?: string;
  setupId?: string;
  queueId?: string;
  mailFrom?: string;
  /** The SMS text as sent (sms), or as received (inbound). */
  text?: string;
  sentAt?: number;
  finalAt?: number;
  /** The channel of a reported send, or the source of a consent change. */
  channel?: string;
  purpose?: string;
  /** event: its type (retry, deferred, cancelled…). */
  event?: string;
}

export interface ConsentStore {
  /** Appends the changes in one transaction (all or nothing); returns the events written. */
  change(changes: readonly ConsentChange[], now: number): ConsentEvent[];
  current(recipient: string): { purpose: string; state: ConsentAction; since: number; source: string }[];
  /** Oldest first; `afterId` and `limit` page through a long trail. */
  events(filter: { recipient?: string; since?: number; afterId?: number; limit?: number }): IterableIterator<ConsentEvent>;
  /** Inserts sends from other channels in one transaction; repeats (same channel and ref) are skipped. */
  recordSends(sends: readonly ExternalSend[]): { recorded: number; duplicates: number };
  /** `now` tells rows waiting for later (scheduled, deferred) from rows due. */
  history(recipient: string, limit?: number, now?: number): HistoryEntry[];
}

/** A number's history, newest first (@r, @limit, @now); also run on PostgreSQL (postgres/console.ts translates it). */
export const HISTORY_SQL = `
    SELECT * FROM (
      SELECT o.created_at AS at, CASE WHEN o.status = 'suppressed' THEN 'suppressed' ELSE 'sms' END AS kind,
             o.message_id AS ref,
             CASE WHEN m.automation_id IS NOT NULL THEN 'automation "' || coalesce(m.subject, m.automation_id) || '" (' || m.automation_id || ')'
                  ELSE 'email from ' || m.mail_from END || ' via setup ' || m.setup_id ||
               coalesce(' to group ' || replace(o.via_groups, ',', ', '), '') || ': ' || o.status ||
               coalesce(' (' || o.reason || ')', '') ||
               CASE WHEN o.status = 'queued' AND o.next_attempt_at > @now
                    THEN '; waits until ' || strftime('%Y-%m-%dT%H:%M:%fZ', o.next_attempt_at / 1000.0, 'unixepoch') ||
                         CASE WHEN o.next_attempt_at = m.send_at THEN ' (scheduled)' ELSE '' END ELSE '' END ||
               coalesce('; sent ' || strftime('%Y-%m-%dT%H:%M:%fZ', o.sent_at / 1000.0, 'unixepoch'), '') ||
               coalesce('; final ' || strftime('%Y-%m-%dT%H:%M:%fZ', o.final_at / 1000.0, 'unixepoch'), '') ||
               ' — "' || substr(coalesce(o.sms_text, m.sms_text), 1, 60) || CASE WHEN length(coalesce(o.sms_text, m.sms_text)) > 60 THEN '…' ELSE '' END || '"' AS summary,
             o.status AS status, o.reason AS reason, m.setup_id AS setupId, o.message_id AS queueId, m.mail_from AS mailFrom,
             CASE WHEN o.sms_text IS NOT NULL THEN CASE WHEN o.stop_clause = 0 AND o.sms_text_no_clause IS NOT NULL THEN o.sms_text_no_clause ELSE o.sms_text END
                  WHEN o.stop_clause = 0 AND m.sms_text_no_clause IS NOT NULL THEN m.sms_text_no_clause ELSE m.sms_text END AS text,
             o.sent_at AS sentAt, o.final_at AS finalAt, NULL AS channel, m.purpose AS purpose, NULL AS event
        FROM (SELECT * FROM outbox WHERE recipient = @r ORDER BY created_at DESC LIMIT @limit) o JOIN messages m ON m.id = o.message_id
      UNION ALL
      SELECT e.at, 'event', o.message_id, 'outbox row ' || o.id || ': ' || e.type || coalesce(' — ' || e.detail, ''),
             NULL, e.detail, o.setup_id, o.message_id, NULL, NULL, NULL, NULL, NULL, NULL, e.type
        FROM outbox o JOIN events e ON e.outbox_id = o.id
       WHERE o.recipient = @r AND e.type NOT IN ('queued', 'claimed', 'sent')
      UNION ALL
      SELECT s.sent_at, 'send', s.ref, 'SMS sent by channel ' || s.channel || coalesce(' (ref ' || s.ref || ')', '') ||
             coalesce(' for purpose ' || s.purpose, ''),
             'sent', NULL, NULL, NULL, NULL, NULL, s.sent_at, NULL, s.channel, s.purpose, NULL
        FROM sends s WHERE s.recipient = @r AND s.outbox_id IS NULL AND s.state = 'sent'
      UNION ALL
      SELECT c.at, 'consent', 'consent#' || c.id,
             CASE c.action WHEN 'opt_in' THEN 'opt-in' ELSE 'opt-out' END ||
             CASE c.purpose WHEN '' THEN ' (all SMS)' ELSE ' for purpose ' || c.purpose END ||
             ' by ' || c.source || coalesce(' — ' || c.evidence, '') ||
             ' (before: ' || coalesce(c.previous, 'none') || ')',
             c.action, c.evidence, NULL, NULL, NULL, NULL, NULL, NULL, c.source, nullif(c.purpose, ''), NULL
        FROM consent_events c WHERE c.recipient = @r
      UNION ALL
      SELECT i.received_at, 'inbound', 'inbound#' || i.id, 'SMS received: "' || i.text || '" → ' || i.action,
             i.action, NULL, NULL, NULL, NULL, i.text, NULL, NULL, NULL, NULL, NULL
        FROM inbound_messages i WHERE i.sender = @r
    ) ORDER BY at DESC, CASE kind WHEN 'event' THEN 1 ELSE 0 END, kind LIMIT @limit`;

/** A history row without the columns that do not apply to its kind. */
export function historyEntry(row: Record<string, unknown>): HistoryEntry {
  return Object.fromEntries(Object.entries(row).filter(([, value]) => value !== null)) as unknown as HistoryEntry;
}
