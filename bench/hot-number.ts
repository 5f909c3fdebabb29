import { fileURLToPath } from 'node:url';
import { migrate, openDatabase, type Db } from '../src/ledger/sqlite/db.js';

/*
 * A number with a long history, written straight into a migrated SQLite
 * ledger the way the ledger itself leaves it: one mail and one outbox row per
 * SMS, delivered ones carrying their steps on the row (claim_event, no event
 * rows), one in twenty suppressed by the cooldown with its event, one in fifty
 * failed after a retry. For the console's deep history pages
 * (test/console-readers.test.ts, bench/console-pages.ts).
 *
 *   node dist/bench/hot-number.js <ledger.db> <+E.164> <count> [<newest epoch ms>]
 *
 * migrates the file and fills it from a process of its own. The rows are made
 * by SQL alone (a recursive CTE), not a JavaScript loop: better-sqlite3 12 on
 * Node 24 aborts the process when the garbage collector finalizes a statement
 * nobody holds any more (Statement::~Statement, "Assertion failed: (env) !=
 * nullptr"), and openDatabase and migrate leave some; a loop's garbage would
 * start the collection that finds them.
 */

export interface HotNumber {
  recipient: string;
  /** SMS rows written for it. */
  count: number;
  /** The newest row's created_at; the others are a minute apart before it. */
  newest: number;
  /** First letter of the queue ids, so several hot numbers can share a ledger. */
  prefix?: string;
}

const ROWS = `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < @count - 1)
  SELECT i, @prefix || @padded AS queueId, @newest - (@count - 1 - i) * 60000 AS at,
         CASE WHEN i % 20 = 7 THEN 'suppressed' WHEN i % 50 = 11 THEN 'failed' ELSE 'delivered' END AS status FROM n`;

export function fillHotNumber(db: Db, hot: HotNumber): void {
  db.exec(hotNumberSql(hot, 'sqlite'));
}

/** The SQL that writes `hot` (one script, in one transaction, then ANALYZE), for SQLite or PostgreSQL. */
export function hotNumberSql(hot: HotNumber, dialect: 'sqlite' | 'postgres'): string {
  const prefix = hot.prefix ?? 'H';
  // Values spelled into the SQL (numbers and a checked E.164 only): it runs as a script, without a statement object to collect.
  if (!/^\+\d{6,16}$/.test(hot.recipient) || !/^[A-Z]$/.test(prefix)) throw new Error('a hot number needs an E.164 number and one capital letter');
  const rows = ROWS.replaceAll('@count', String(Math.trunc(hot.count)))
    .replaceAll('@newest', String(Math.trunc(hot.newest)))
    .replaceAll('@prefix', `'${prefix}'`)
    .replaceAll('@padded', dialect === 'sqlite' ? `printf('%07d', i)` : `lpad(i::text, 7, '0')`);
  return `BEGIN;
    INSERT INTO messages (id, received_at, setup_id, mail_from, body_hash, session_ref, sender_name, sms_text, encoding, segments, characters)
      SELECT queueId, at, 'alerts', 'monitor@example.test', '', 's' || lower(queueId) || '.1', 'Example',
             'Disk on host ' || (i % 97) || ' above 90% (alert ' || i || ')', 'GSM-7', 1, 40 FROM (${rows}) r;
    INSERT INTO outbox (message_id, recipient, status, reason, idempotency_key, created_at, updated_at, attempts, provider_message_id,
        sent_at, final_at, setup_id, claimed_at, claim_event, provider_error)
      SELECT queueId, '${hot.recipient}', status,
             CASE status WHEN 'suppressed' THEN 'cooldown' WHEN 'failed' THEN 'provider: failed (E3)' END, queueId || '.0', at, at,
             CASE status WHEN 'suppressed' THEN 0 WHEN 'failed' THEN 2 ELSE 1 END,
             CASE WHEN status != 'suppressed' THEN queueId || '.p' END, CASE WHEN status = 'delivered' THEN at + 800 END, at + 2000, 'alerts',
             CASE WHEN status = 'delivered' THEN at + 100 END, CASE WHEN status = 'delivered' THEN 0 END,
             CASE WHEN status = 'failed' THEN 'E3' END FROM (${rows}) r;
    INSERT INTO events (at, outbox_id, message_id, type, detail)
      SELECT created_at, id, message_id, 'suppressed', 'cooldown: an SMS within 10m' FROM outbox
       WHERE recipient = '${hot.recipient}' AND status = 'suppressed';
    INSERT INTO events (at, outbox_id, message_id, type, detail)
      SELECT created_at + step * 100, id, message_id, CASE step WHEN 1 THEN 'claimed' WHEN 9 THEN 'retry' ELSE 'failed' END,
             CASE step WHEN 1 THEN 'attempt 1' WHEN 9 THEN 'HTTP 503 from provider' ELSE 'provider: failed (E3)' END
        FROM outbox, (SELECT 1 AS step UNION ALL SELECT 9 UNION ALL SELECT 20) steps
       WHERE recipient = '${hot.recipient}' AND status = 'failed' ORDER BY id, step;
    COMMIT;
    ANALYZE;`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [path, recipient, count, newest] = process.argv.slice(2);
  if (!path || !recipient || !count) throw new Error('usage: hot-number.js <ledger.db> <+E.164> <count> [<newest epoch ms>]');
  const db = openDatabase(path);
  migrate(db);
  fillHotNumber(db, { recipient, count: Number(count), newest: newest ? Number(newest) : Date.now() - 3_600_000 });
  db.close();
}
