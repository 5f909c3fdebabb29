import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { createConsentStore } from './consent.js';
import { CONSOLE_SQL, orderEvents, type PlacedEvent } from '../console-sql.js';
import type {
  ConsoleQueries,
  ConsoleQueryOf,
  ConsoleResults,
  FindData,
  MailData,
  MailMessage,
  MailRow,
  OverviewData,
  QueueData,
  QueueRow,
  SetupQueue,
} from '../console-types.js';
import { historyPage, type HistoryCursor } from '../history.js';

/*
 * What the operations console (src/http/console/) reads: one read-only query
 * per page, each through an index (migrations/0004_console.sql) and bounded by
 * a page size, because they run in the ledger thread between group commits.
 * One entry point, `run`, with a query per page kind: the ledger interface
 * grows by one method, not by one per page.
 */

type RawQueueRow = Omit<QueueRow, 'lastEvent'> & { lastEvent: string | null };
const queueRow = (row: RawQueueRow): QueueRow => ({ ...row, lastEvent: row.lastEvent ? (JSON.parse(row.lastEvent) as QueueRow['lastEvent']) : null });

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
      if (!found) setups.set(setupId, (found = { setupId, queued: 0, scheduled: 0, deferred: 0, retrying: 0, sending: 0, oldestQueuedAt: null }));
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

  function history(q: ConsoleQueryOf<'history'>): ConsoleResults['history'] {
    // The SQL of `mail2sms history` (its first page), so both show the same lines.
    const skipped = q.skip ? (stmt.historyKey.get({ r: q.recipient, skip: q.skip - 1, take: q.skip }) as HistoryCursor | undefined) : undefined;
    const before = q.before ?? skipped;
    if (q.skip && !before) return { entries: [] };
    const params = { r: q.recipient, limit: q.limit + 1, now: q.now };
    const rows = before ? stmt.historyBefore.all({ ...params, ...before }) : stmt.historyFirst.all(params);
    return historyPage(rows as Record<string, unknown>[], q.limit);
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
    history,
    consent: (q) => ({ current: consent.current(q.recipient), events: [...consent.events({ recipient: q.recipient, limit: 1000 })] }),
    find,
  };

  return {
    run(query) {
      return runners[query.kind](query);
    },
  };
}
