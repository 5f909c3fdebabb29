import { inTransaction, type PgPool } from './pool.js';

/*
 * `mail2sms migrate --from-sqlite`: the whole SQLite ledger into an empty
 * PostgreSQL one, ids and all (consent events keep their ids, so evidence
 * that cites them still points at them), in one transaction, then the row
 * counts of both compared.
 */

/** In foreign-key order. */
export const LEDGER_TABLES = ['messages', 'outbox', 'sends', 'events', 'receipts', 'receipt_parts', 'inbound_messages', 'consent_events', 'contacts', 'contact_groups', 'contact_fields', 'automation_runs'] as const;
const WITH_ID = new Set(['outbox', 'sends', 'events', 'receipts', 'inbound_messages', 'consent_events', 'contacts']);
const BATCH = 2000;

export class NotEmptyError extends Error {}

/** What the copy reads of the SQLite ledger: statements run as they are (a better-sqlite3 connection, opened read-only). */
export interface SqliteSource {
  prepare(sql: string): { all(): unknown[]; get(): unknown; iterate(): IterableIterator<unknown> };
}

export async function countRows(pool: PgPool): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of LEDGER_TABLES) counts[table] = (await pool.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n;
  return counts;
}

export async function copySqliteToPostgres(source: SqliteSource, pool: PgPool): Promise<{ copied: Record<string, number> }> {
  const before = await countRows(pool);
  const filled = LEDGER_TABLES.filter((table) => before[table]! > 0);
  if (filled.length > 0) throw new NotEmptyError(`the PostgreSQL ledger is not empty (${filled.map((t) => `${t}: ${before[t]}`).join(', ')}); migrate --from-sqlite only fills an empty one`);
  const copied: Record<string, number> = {};
  await inTransaction(pool, async (client) => {
    for (const table of LEDGER_TABLES) {
      const columns = (source.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
      const list = columns.join(', ');
      let batch: unknown[] = [];
      let n = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        // Rows travel as JSON; json_populate_recordset matches columns by name and types them as the table does.
        await client.query(`INSERT INTO ${table} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${table}, $1::json)`, [JSON.stringify(batch)]);
        n += batch.length;
        batch = [];
      };
      for (const row of source.prepare(`SELECT ${list} FROM ${table}`).iterate()) {
        batch.push(row);
        if (batch.length >= BATCH) await flush();
      }
      await flush();
      copied[table] = n;
      if (WITH_ID.has(table)) await client.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), coalesce((SELECT max(id) FROM ${table}), 0) + 1, false)`);
    }
  });
  const after = await countRows(pool);
  for (const table of LEDGER_TABLES) {
    const inSqlite = (source.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    if (after[table] !== inSqlite) throw new Error(`row counts differ after the copy: ${table} has ${inSqlite} in SQLite, ${after[table]} in PostgreSQL`);
  }
  return { copied };
}
