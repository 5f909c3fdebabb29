import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { createConsentStore } from '../consent.js';
import { LAST_EVENT_SQL, rowEventsSql } from '../row-events.js';
import {
  OUTCOME_STATUSES,
  type ConsoleQueries,
  type ConsoleQueryOf,
  type ConsoleResults,
  type FindData,
  type MailData,
  type MailMessage,
  type MailRow,
  type OverviewData,
  type QueueData,
  type QueueRow,
  type SetupQueue,
} from '../console-types.js';

export type * from '../console-types.js';
export { OUTCOME_STATUSES };

/*
 * What the operations console (src/http/console/) reads: one read-only query
 * per page, each through an index (migrations/0004_console.sql) and bounded by
 * a page size, because they run in the ledger thread between group commits.
 * One entry point, `run`, with a query per page kind: the ledger interface
 * grows by one method, not by one per page.
 */

const IN_OUTCOMES = `status IN (${OUTCOME_STATUSES.map((s) => `'${s}'`).join(', ')})`;

const QUEUE_ROW = `SELECT o.id AS outboxId, o.message_id AS queueId, coalesce(o.setup_id, m.setup_id) AS setupId, o.recipient, o.status, o.attempts,
       o.created_at AS createdAt, o.next_attempt_at AS nextAttemptAt, o.lease_until AS leaseUntil, o.reason,
       m.send_at AS sendAt, m.expires_at AS expiresAt,
       ${LAST_EVENT_SQL} AS lastEvent
  FROM outbox o JOIN messages m ON m.id = o.message_id`;

type RawQueueRow = Omit<QueueRow, 'lastEvent'> & { lastEvent: string | null };
const queueRow = (row: RawQueueRow): QueueRow => ({ ...row, lastEvent: row.lastEvent ? (JSON.parse(row.lastEvent) as QueueRow['lastEvent']) : null });

/** An event of a mail's page with where it stands: its id, or for a step read from an outbox row the row's claim_event and the step. */
export type PlacedEvent = MailData['events'][number] & { pos: number; step: number };

/** A mail's events (rowEvents, mailEvents) in the order they happened, as the page shows them. */
export const orderEvents = (events: PlacedEvent[]): MailData['events'] =>
  events.sort((a, b) => a.pos - b.pos || a.step - b.step).map(({ id, at, outboxId, type, detail }) => ({ id, at, outboxId, type, detail }));

/** Every statement the console runs; test/console-ledger.test.ts holds their plans to indexes. */
export const CONSOLE_SQL = {
  // Covered by the partial index outbox_due_by_setup (0004 widened it): the cost is the queue, not the table.
  queuedBySetup: `SELECT setup_id AS setupId, sum(next_attempt_at <= @now) AS queued,
            sum(next_attempt_at > @now AND attempts = 0) AS scheduled, sum(next_attempt_at > @now AND attempts > 0) AS deferred,
            min(created_at) AS oldestQueuedAt
       FROM outbox WHERE status = 'queued' GROUP BY setup_id`,
  sendingBySetup: `SELECT setup_id AS setupId, count(*) AS sending FROM outbox WHERE status = 'sending' GROUP BY setup_id`,
  // The expression and condition repeat outbox_outcome_at's, which is what lets SQLite use it.
  outcomes: `SELECT status, coalesce(reason, '') AS reason, count(*) AS count FROM outbox
      WHERE ${IN_OUTCOMES} AND coalesce(final_at, created_at) >= @since
      GROUP BY status, reason ORDER BY count DESC, status, reason LIMIT 50`,
  sending: `${QUEUE_ROW} WHERE o.status = 'sending' ORDER BY o.lease_until LIMIT @limit`,
  waitingFirst: `${QUEUE_ROW} WHERE o.status = 'queued' ORDER BY o.next_attempt_at, o.id LIMIT @limit`,
  waitingAfter: `${QUEUE_ROW} WHERE o.status = 'queued' AND (o.next_attempt_at > @at OR (o.next_attempt_at = @at AND o.id > @id))
      ORDER BY o.next_attempt_at, o.id LIMIT @limit`,
  message: `SELECT id AS queueId, received_at AS receivedAt, setup_id AS setupId, mail_from AS mailFrom, header_message_id AS headerMessageId,
            subject, sender_name AS senderName, sms_text AS text, encoding, segments, characters, session_ref AS sessionRef,
            send_at AS sendAt, expires_at AS expiresAt, report_mode AS reportMode, report_sent_at AS reportSentAt,
            automation_id AS automationId
       FROM messages WHERE id = ?`,
  rows: `SELECT id, recipient, status, reason, blocked_until AS blockedUntil, attempts, provider_message_id AS providerMessageId, parts,
            provider_error AS providerError, created_at AS createdAt, next_attempt_at AS nextAttemptAt, sent_at AS sentAt, final_at AS finalAt
       FROM outbox WHERE message_id = ? ORDER BY id LIMIT 1000`,
  receipts: `SELECT id, received_at AS receivedAt, provider_message_id AS providerMessageId, status, error_code AS errorCode, outcome, part, parts
       FROM receipts WHERE provider_message_id = ? ORDER BY id LIMIT 100`,
  // A row's events and the steps its outbox row says (row-events.ts); pos and step order them among the mail's (orderEvents).
  rowEvents: `${rowEventsSql('@row')} LIMIT @limit`,
  mailEvents: `SELECT id AS pos, 0 AS step, id, at, outbox_id AS outboxId, type, detail FROM events WHERE message_id = ? AND outbox_id IS NULL ORDER BY id LIMIT 100`,
  byQueueId: 'SELECT id FROM messages WHERE id = ?',
  bySessionRef: 'SELECT id FROM messages WHERE session_ref = ? ORDER BY received_at LIMIT 100',
} as const;

export function createConsoleQueries(db: Db): ConsoleQueries {
  const consent = createConsentStore(db);
  const stmt = Object.fromEntries(Object.entries(CONSOLE_SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Record<keyof typeof CONSOLE_SQL, Statement>;
  const byQueueId = stmt.byQueueId.pluck();
  const bySessionRef = stmt.bySessionRef.pluck();

  function overview(q: ConsoleQueryOf<'overview'>): OverviewData {
    const since = q.now - q.sinceMs;
    const setups = new Map<string, SetupQueue>();
    const entry = (setupId: string) => {
      let found = setups.get(setupId);
      if (!found) setups.set(setupId, (found = { setupId, queued: 0, scheduled: 0, deferred: 0, sending: 0, oldestQueuedAt: null }));
      return found;
    };
    for (const row of stmt.queuedBySetup.all({ now: q.now }) as Omit<SetupQueue, 'sending'>[]) Object.assign(entry(row.setupId ?? ''), row);
    for (const row of stmt.sendingBySetup.all() as { setupId: string; sending: number }[]) entry(row.setupId ?? '').sending = row.sending;
    return {
      setups: [...setups.values()].sort((a, b) => a.setupId.localeCompare(b.setupId)),
      outcomes: stmt.outcomes.all({ since }) as OverviewData['outcomes'],
      since,
    };
  }

  function queue(q: ConsoleQueryOf<'queue'>): QueueData {
    const sending = (stmt.sending.all({ limit: q.limit }) as RawQueueRow[]).map(queueRow);
    const page = q.after ? stmt.waitingAfter.all({ ...q.after, limit: q.limit + 1 }) : stmt.waitingFirst.all({ limit: q.limit + 1 });
    const waiting = (page as RawQueueRow[]).map(queueRow);
    const last = waiting.length > q.limit ? waiting[q.limit - 1] : undefined;
    return { sending, waiting: waiting.slice(0, q.limit), ...(last ? { next: { at: last.nextAttemptAt ?? 0, id: last.outboxId } } : {}) };
  }

  function mail(q: ConsoleQueryOf<'mail'>): MailData {
    const message = stmt.message.get(q.queueId) as MailMessage | undefined;
    if (!message) return { message, rows: [], receipts: [], events: [] };
    const rows = stmt.rows.all(q.queueId) as MailRow[];
    const receipts = rows.flatMap((row) => (row.providerMessageId ? (stmt.receipts.all(row.providerMessageId) as MailData['receipts']) : []));
    const events = orderEvents([
      ...rows.flatMap((row) => stmt.rowEvents.all({ row: row.id, limit: q.eventLimit }) as PlacedEvent[]),
      ...(stmt.mailEvents.all(q.queueId) as PlacedEvent[]),
    ]);
    return { message, rows, receipts, events: events.slice(0, q.eventLimit) };
  }

  function find(q: ConsoleQueryOf<'find'>): FindData {
    if (byQueueId.get(q.text) !== undefined) return { queueIds: [q.text], by: 'queue id' };
    // An SMTP reply quotes "[ref <session>.<n>]"; accepted mails keep it as session_ref.
    const ref = q.text.replace(/^\[?(ref\s+)?/i, '').replace(/\]$/, '');
    const queueIds = bySessionRef.all(ref) as string[];
    return queueIds.length > 0 ? { queueIds, by: 'ref' } : { queueIds: [], by: 'nothing' };
  }

  const runners: { [K in keyof ConsoleResults]: (q: ConsoleQueryOf<K>) => ConsoleResults[K] } = {
    overview,
    queue,
    mail,
    history: (q) => {
      // The history query of `mail2sms history`, so both show the same thing; a number's rows are few.
      const entries = consent.history(q.recipient, q.offset + q.limit + 1, q.now).slice(q.offset);
      return { entries: entries.slice(0, q.limit), more: entries.length > q.limit };
    },
    consent: (q) => ({ current: consent.current(q.recipient), events: [...consent.events({ recipient: q.recipient })].slice(0, 1000) }),
    find,
  };

  return {
    run(query) {
      return runners[query.kind](query);
    },
  };
}
