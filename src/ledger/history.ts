/*
 * A number's history, newest first: its SMS and suppressions, their events,
 * sends other channels reported, consent changes and inbound SMS, in one
 * UNION ALL. SQLite text; PostgreSQL translates it (postgres/console.ts).
 *
 * Paged by key, not by OFFSET: every entry has a key (at, arm, seq) — its
 * time, which table it comes from, and its id there — and the entries are in
 * that order (at newest first, then arm, then seq newest first). A page
 * "before" a key reads each table through its (number, time) index from that
 * key on, so page 200 costs what page 1 does; OFFSET made SQLite build and
 * throw away every entry in front of the page (20,000 SMS: 1.1 s a page).
 */

/** One line of a number's history (`mail2sms history`, the console's number page). */
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

/** Where an entry stands in a number's history: page links carry it (`?before=at.arm.seq`). */
export interface HistoryCursor {
  at: number;
  arm: number;
  seq: number;
}

export interface HistoryPage {
  entries: HistoryEntry[];
  /** The key of the last entry, when older entries may follow. */
  next?: HistoryCursor;
}

/** The tables of the UNION, in the order of entries at the same millisecond (as kinds sorted before keys: consent, inbound, send, sms, event). */
const ARM = { consent: 0, inbound: 1, send: 2, outbox: 3, event: 4 } as const;

/** Rows of one arm strictly after the cursor in history order; the first term keeps the arm on its index range. */
const olderThan = (at: string, arm: number, seq: string) => `${at} <= @at AND (${at} < @at OR ${arm} > @arm OR (${arm} = @arm AND ${seq} < @seq))`;

/** The arms' keys and rows; `page`: the cursor's condition, or none for the newest page. */
function arms(page: 'first' | 'before'): { outbox: string; event: string; send: string; consent: string; inbound: string } {
  const and = (at: string, arm: number, seq: string) => (page === 'before' ? ` AND ${olderThan(at, arm, seq)}` : '');
  return {
    // Newest first along outbox_recipient (recipient, created_at, and the rowid after them), stopping at the page's size.
    outbox: `SELECT * FROM outbox WHERE recipient = @r${and('created_at', ARM.outbox, 'id')} ORDER BY created_at DESC, id DESC LIMIT @limit`,
    // The number's rows first, then their events (CROSS JOIN keeps that order: SQLite would otherwise walk all events when it guesses few).
    event: `eo.recipient = @r AND e.type NOT IN ('queued', 'claimed', 'sent')${and('e.at', ARM.event, 'e.id')}`,
    send: `s.recipient = @r AND s.outbox_id IS NULL AND s.state = 'sent'${and('s.sent_at', ARM.send, 's.id')}`,
    consent: `c.recipient = @r${and('c.at', ARM.consent, 'c.id')}`,
    inbound: `i.sender = @r${and('i.received_at', ARM.inbound, 'i.id')}`,
  };
}

/** One page of a number's history (@r, @limit, @now; after a cursor also @at, @arm, @seq). */
export function historySql(page: 'first' | 'before'): string {
  const where = arms(page);
  return `
    SELECT * FROM (
      SELECT o.created_at AS at, ${ARM.outbox} AS arm, o.id AS seq, CASE WHEN o.status = 'suppressed' THEN 'suppressed' ELSE 'sms' END AS kind,
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
        FROM (${where.outbox}) o JOIN messages m ON m.id = o.message_id
      UNION ALL
      SELECT e.at, ${ARM.event}, e.id, 'event', eo.message_id, 'outbox row ' || eo.id || ': ' || e.type || coalesce(' — ' || e.detail, ''),
             NULL, e.detail, eo.setup_id, eo.message_id, NULL, NULL, NULL, NULL, NULL, NULL, e.type
        FROM outbox eo CROSS JOIN events e
       WHERE e.outbox_id = eo.id AND ${where.event}
      UNION ALL
      SELECT s.sent_at, ${ARM.send}, s.id, 'send', s.ref, 'SMS sent by channel ' || s.channel || coalesce(' (ref ' || s.ref || ')', '') ||
             coalesce(' for purpose ' || s.purpose, ''),
             'sent', NULL, NULL, NULL, NULL, NULL, s.sent_at, NULL, s.channel, s.purpose, NULL
        FROM sends s WHERE ${where.send}
      UNION ALL
      SELECT c.at, ${ARM.consent}, c.id, 'consent', 'consent#' || c.id,
             CASE c.action WHEN 'opt_in' THEN 'opt-in' ELSE 'opt-out' END ||
             CASE c.purpose WHEN '' THEN ' (all SMS)' ELSE ' for purpose ' || c.purpose END ||
             ' by ' || c.source || coalesce(' — ' || c.evidence, '') ||
             ' (before: ' || coalesce(c.previous, 'none') || ')',
             c.action, c.evidence, NULL, NULL, NULL, NULL, NULL, NULL, c.source, nullif(c.purpose, ''), NULL
        FROM consent_events c WHERE ${where.consent}
      UNION ALL
      SELECT i.received_at, ${ARM.inbound}, i.id, 'inbound', 'inbound#' || i.id, 'SMS received: "' || i.text || '" → ' || i.action,
             i.action, NULL, NULL, NULL, NULL, i.text, NULL, NULL, NULL, NULL, NULL
        FROM inbound_messages i WHERE ${where.inbound}
    ) ORDER BY at DESC, arm, seq DESC LIMIT @limit`;
}

/**
 * The key of the entry @skip entries from the newest (@r, @skip, @take =
 * @skip + 1): where an old `?page=N` link's page starts. Keys only, each arm
 * from its index, so even page 200 of a busy number is a few milliseconds.
 */
export const HISTORY_KEY_SQL = `
    SELECT at, arm, seq FROM (
      SELECT created_at AS at, ${ARM.outbox} AS arm, id AS seq FROM (SELECT created_at, id FROM outbox WHERE recipient = @r ORDER BY created_at DESC, id DESC LIMIT @take) o
      UNION ALL
      SELECT e.at, ${ARM.event}, e.id FROM outbox eo CROSS JOIN events e WHERE e.outbox_id = eo.id AND eo.recipient = @r AND e.type NOT IN ('queued', 'claimed', 'sent')
      UNION ALL
      SELECT s.sent_at, ${ARM.send}, s.id FROM sends s WHERE s.recipient = @r AND s.outbox_id IS NULL AND s.state = 'sent'
      UNION ALL
      SELECT c.at, ${ARM.consent}, c.id FROM consent_events c WHERE c.recipient = @r
      UNION ALL
      SELECT i.received_at, ${ARM.inbound}, i.id FROM inbound_messages i WHERE i.sender = @r
    ) ORDER BY at DESC, arm, seq DESC LIMIT 1 OFFSET @skip`;

/** A history row as an entry (its key and the columns that do not apply to its kind left out), and its key. */
export function historyRow(row: Record<string, unknown>): { entry: HistoryEntry; key: HistoryCursor } {
  const { arm, seq, ...rest } = row;
  const entry = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== null)) as unknown as HistoryEntry;
  return { entry, key: { at: Number(rest.at), arm: Number(arm), seq: Number(seq) } };
}

/** A page from `limit + 1` rows: the extra row says whether older entries follow. */
export function historyPage(rows: Record<string, unknown>[], limit: number): HistoryPage {
  const read = rows.slice(0, limit).map(historyRow);
  const last = read.at(-1);
  return { entries: read.map((r) => r.entry), ...(rows.length > limit && last ? { next: last.key } : {}) };
}

/** `at.arm.seq` as a page link carries it, or undefined. */
export function readHistoryCursor(text: string | null): HistoryCursor | undefined {
  const match = /^(\d{1,16})\.(\d)\.(\d{1,16})$/.exec(text ?? '');
  return match ? { at: Number(match[1]), arm: Number(match[2]), seq: Number(match[3]) } : undefined;
}

export const formatHistoryCursor = (cursor: HistoryCursor) => `${cursor.at}.${cursor.arm}.${cursor.seq}`;
