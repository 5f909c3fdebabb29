import type { ConsentAction, ConsentEvent } from '../consent.js';
import { HISTORY_KEY_SQL, historyPage, historyRow, historySql, type HistoryCursor, type HistoryEntry, type HistoryPage } from '../history.js';
import { CONSOLE_SQL, orderEvents, type PlacedEvent } from '../console-sql.js';
import type { ConsoleQueryOf, ConsoleResults, MailData, MailMessage, MailRow, OverviewData, QueueData, QueueRow, SetupQueue } from '../console-types.js';
import type { PgPool } from './pool.js';

/*
 * The operations console's queries (../console-sql.ts) on PostgreSQL:
 * the same SQL text, translated mechanically (named parameters, quoted
 * camelCase aliases, SQLite's date and JSON functions), so both backends
 * show the same pages.
 */

const ISO = (expr: string) => `to_char(to_timestamp((${expr}) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** SQLite SQL with @names → PostgreSQL with $n, in the order of `names`. */
export function translate(sql: string, names: readonly string[] = []): string {
  let out = sql
    .replace(/strftime\('%Y-%m-%dT%H:%M:%fZ', ([\w.]+) \/ 1000\.0, 'unixepoch'\)/g, (_, expr: string) => ISO(expr))
    .replace(/json_object\(/g, 'json_build_object(')
    .replace(/sum\(([^()]*?(?:<=|>|<|>=)[^()]*?)\)/g, (_, cond: string) => `count(*) FILTER (WHERE ${cond})`)
    .replace(/\bAS ([a-z]+[A-Z]\w*)/g, 'AS "$1"')
    .replace(/\) ORDER BY at DESC/, ') h ORDER BY at DESC');
  names.forEach((name, i) => (out = out.replaceAll(`@${name}`, `$${i + 1}`)));
  let n = names.length;
  return out.replace(/\?/g, () => `$${++n}`);
}

const SQL = {
  queuedBySetup: translate(CONSOLE_SQL.queuedBySetup, ['now']),
  sendingBySetup: translate(CONSOLE_SQL.sendingBySetup),
  outcomes: translate(CONSOLE_SQL.outcomes, ['since']),
  sending: translate(CONSOLE_SQL.sending, ['limit']),
  waitingFirst: translate(CONSOLE_SQL.waitingFirst, ['limit']),
  waitingAfter: translate(CONSOLE_SQL.waitingAfter, ['at', 'id', 'limit']),
  message: translate(CONSOLE_SQL.message),
  rows: translate(CONSOLE_SQL.rows),
  receipts: translate(CONSOLE_SQL.receipts),
  rowEvents: translate(CONSOLE_SQL.rowEvents, ['limit', 'row']),
  mailEvents: translate(CONSOLE_SQL.mailEvents),
  byQueueId: translate(CONSOLE_SQL.byQueueId),
  bySessionRef: translate(CONSOLE_SQL.bySessionRef),
  historyFirst: translate(historySql('first'), ['r', 'limit', 'now']),
  historyBefore: translate(historySql('before'), ['r', 'limit', 'now', 'at', 'arm', 'seq']),
  historyKey: translate(HISTORY_KEY_SQL, ['r', 'skip', 'take']),
};

const num = (row: Record<string, unknown>, key: string) => (row[key] === null || row[key] === undefined ? row[key] : Number(row[key]));

/** History rows as SQLite gives them: PostgreSQL's bigints arrive as strings. */
const historyRows = (rows: Record<string, unknown>[]) => rows.map((row) => ({ ...row, at: num(row, 'at'), sentAt: num(row, 'sentAt'), finalAt: num(row, 'finalAt') }));

/** A number's history, newest first: the SQL of `mail2sms history` on SQLite, translated (so both backends print the same lines). */
export async function numberHistoryOn(pool: PgPool, recipient: string, limit: number, now: number): Promise<HistoryEntry[]> {
  const rows = (await pool.query<Record<string, unknown>>(SQL.historyFirst, [recipient, limit, now])).rows;
  return historyRows(rows).map((row) => historyRow(row).entry);
}

/** A page of a number's history by key (../history.ts), as the console asks for it. */
async function historyPageOn(pool: PgPool, q: ConsoleQueryOf<'history'>): Promise<HistoryPage> {
  const key = q.skip ? (await pool.query<Record<string, unknown>>(SQL.historyKey, [q.recipient, q.skip - 1, q.skip])).rows[0] : undefined;
  const skipped: HistoryCursor | undefined = key ? { at: Number(key.at), arm: Number(key.arm), seq: Number(key.seq) } : undefined;
  const before = q.before ?? skipped;
  if (q.skip && !before) return { entries: [] };
  const rows = before
    ? await pool.query<Record<string, unknown>>(SQL.historyBefore, [q.recipient, q.limit + 1, q.now, before.at, before.arm, before.seq])
    : await pool.query<Record<string, unknown>>(SQL.historyFirst, [q.recipient, q.limit + 1, q.now]);
  return historyPage(historyRows(rows.rows), q.limit);
}

type RawQueueRow = Omit<QueueRow, 'lastEvent'> & { lastEvent: QueueRow['lastEvent'] | null };

export function createPgConsole(pool: PgPool) {
  const all = async <T>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[];

  async function overview(q: ConsoleQueryOf<'overview'>): Promise<OverviewData> {
    const since = q.now - q.sinceMs;
    const setups = new Map<string, SetupQueue>();
    const entry = (setupId: string) => {
      let found = setups.get(setupId);
      if (!found) setups.set(setupId, (found = { setupId, queued: 0, scheduled: 0, deferred: 0, retrying: 0, sending: 0, oldestQueuedAt: null }));
      return found;
    };
    for (const row of await all<Omit<SetupQueue, 'sending'>>(SQL.queuedBySetup, [q.now])) Object.assign(entry(row.setupId ?? ''), row);
    for (const row of await all<{ setupId: string; sending: number }>(SQL.sendingBySetup)) entry(row.setupId ?? '').sending = row.sending;
    return { setups: [...setups.values()].sort((a, b) => a.setupId.localeCompare(b.setupId)), outcomes: await all(SQL.outcomes, [since]), since };
  }

  async function queue(q: ConsoleQueryOf<'queue'>): Promise<QueueData> {
    const sending = await all<RawQueueRow>(SQL.sending, [q.limit]);
    const waiting = q.after ? await all<RawQueueRow>(SQL.waitingAfter, [q.after.at, q.after.id, q.limit + 1]) : await all<RawQueueRow>(SQL.waitingFirst, [q.limit + 1]);
    const last = waiting.length > q.limit ? waiting[q.limit - 1] : undefined;
    return { sending, waiting: waiting.slice(0, q.limit), ...(last ? { next: { at: last.nextAttemptAt ?? 0, id: last.outboxId } } : {}) } as QueueData;
  }

  async function mail(q: ConsoleQueryOf<'mail'>): Promise<MailData> {
    const [message] = await all<MailMessage>(SQL.message, [q.queueId]);
    if (!message) return { message, rows: [], receipts: [], events: [] };
    const rows = await all<MailRow>(SQL.rows, [q.queueId]);
    const receipts: MailData['receipts'] = [];
    const placed: PlacedEvent[] = [];
    for (const row of rows) {
      if (row.providerMessageId) receipts.push(...(await all<MailData['receipts'][number]>(SQL.receipts, [row.providerMessageId])));
      placed.push(...(await all<PlacedEvent>(SQL.rowEvents, [q.eventLimit, row.id])));
    }
    placed.push(...(await all<PlacedEvent>(SQL.mailEvents, [q.queueId])));
    return { message, rows, receipts, events: orderEvents(placed).slice(0, q.eventLimit) };
  }

  async function find(q: ConsoleQueryOf<'find'>) {
    if ((await all(SQL.byQueueId, [q.text])).length > 0) return { queueIds: [q.text], by: 'queue id' as const };
    const ref = q.text.replace(/^\[?(ref\s+)?/i, '').replace(/\]$/, '');
    const queueIds = (await all<{ id: string }>(SQL.bySessionRef, [ref])).map((r) => r.id);
    return queueIds.length > 0 ? { queueIds, by: 'ref' as const } : { queueIds: [], by: 'nothing' as const };
  }

  const runners: { [K in keyof ConsoleResults]: (q: ConsoleQueryOf<K>) => Promise<ConsoleResults[K]> } = {
    overview,
    queue,
    mail,
    history: (q) => historyPageOn(pool, q),
    consent: async (q) => ({
      current: await all<{ purpose: string; state: ConsentAction; since: number; source: string }>(
        'SELECT purpose, state, since, source FROM consent_state WHERE recipient = $1 ORDER BY purpose', [q.recipient]),
      events: await all<ConsentEvent>(
        `SELECT id, at, recorded_at AS "recordedAt", recipient, purpose, action, previous, source, evidence, inbound_id AS "inboundId"
           FROM consent_events WHERE recipient = $1 ORDER BY id LIMIT 1000`, [q.recipient]),
    }),
    find,
  };

  return <K extends keyof ConsoleResults>(query: ConsoleQueryOf<K>): Promise<ConsoleResults[K]> => runners[query.kind](query);
}
