import { createHash } from 'node:crypto';
import pg from 'pg';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient | pg.Client;

// BIGINT (int8) and count(*) as numbers: every time is epoch ms (< 2^53), every id far below it.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function connectionOptions(url: string): pg.ClientConfig {
  return { connectionString: url, types, application_name: 'mail2sms' };
}

/**
 * One pool per process; `size` is storage.pool. An idle connection that the
 * server drops (restart, failover) is reported and replaced on the next use,
 * rather than an unhandled 'error' that would end the process.
 */
export function createPgPool(
  url: string, size: number, onIdleError: (error: Error) => void = () => undefined, options: { readOnly?: boolean; applicationName?: string } = {},
): PgPool {
  const pool = new pg.Pool({
    ...connectionOptions(url), max: size, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000,
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
    // Every transaction on it is READ ONLY: the server refuses any write (explain's promise that it never writes).
    ...(options.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  pool.on('error', onIdleError);
  // pg-pool listens for a connection's 'error' only while it is idle. One lent out (a transaction, or the send
  // guard's across a provider call) that the server ends (a restart: "terminating connection due to administrator
  // command", ECONNRESET) would raise an 'error' nobody hears, which ends the process. Heard here: its query in
  // flight fails on its own (a StorageError: 451, a retry in dispatch) and the pool drops it when it comes back.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** host:port of a postgres:// url, for errors and logs: never the user or the password. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || new URLSearchParams(parsed.search).get('host') || 'localhost';
    return `${host}:${parsed.port || '5432'}`;
  } catch {
    return '(unparsable url)';
  }
}

/**
 * The 64-bit advisory-lock key of a name ("number:+4520000001"): the first 8
 * bytes of its SHA-256 as a signed BIGINT. 64 bits rather than the two-int
 * form because a collision only costs a wait (two numbers share a lock), and
 * at 64 bits a collision among even millions of numbers is practically never;
 * computed here rather than with hashtextextended() so the key does not
 * depend on the server's version and so we can sort keys before locking
 * (locks taken in one global order cannot deadlock).
 */
export function lockKey(name: string): bigint {
  return createHash('sha256').update(name).digest().readBigInt64BE(0);
}

export const numberKey = (recipient: string) => lockKey(`number:${recipient}`);

/** Keys in one global order, without repeats: every transaction takes its locks in this order. */
export function sortedKeys(keys: Iterable<bigint>): string[] {
  return [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
}

/** Transaction-scoped advisory locks, taken in key order; released by COMMIT or ROLLBACK. */
export async function lockAll(client: PgClient, keys: Iterable<bigint>): Promise<void> {
  const sql = lockSql(keys);
  if (sql) await client.query(sql);
}

/**
 * The statement that takes the locks, one call per key in key order. The keys
 * are integers we computed, so they are written into the text: it can then
 * share a round trip with BEGIN (a simple query may hold several statements).
 */
export function lockSql(keys: Iterable<bigint>): string {
  return sortedKeys(keys).map((key) => `SELECT pg_advisory_xact_lock(${key});`).join(' ');
}

/**
 * A parameterised statement written out with its values as literals, so it
 * can share a round trip with others (a simple query may hold several
 * statements; only a single statement takes $n parameters). Strings go
 * through pg's escapeLiteral; anything but text, numbers, booleans and null
 * is refused rather than guessed at.
 */
export function inlineSql(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => literal(params[Number(n) - 1]));
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return pg.escapeLiteral(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isFinite(value))) return value < 0 ? `(${String(value)})` : String(value);
  throw new Error(`cannot write ${typeof value} ${String(value)} as an SQL literal`);
}

const RETRYABLE = new Set(['40001', '40P01']);

export interface Tx {
  /** NOTIFY `channel` with the COMMIT. */
  notifyOnCommit(channel: string): void;
  /** Writes nobody reads the result of (inlineSql), sent with the COMMIT: one round trip for them all. */
  beforeCommit(sql: string): void;
  /** The results of the `leading` statements, which ran with BEGIN, after the locks. */
  readonly leading: pg.QueryResult[];
}

/**
 * Runs `fn` in one transaction on a pooled connection; a deadlock or
 * serialisation failure is retried (twice). `locks` are taken with BEGIN, in
 * the same round trip, and the `leading` statements (values inlined) run
 * right after them, still in that round trip: in READ COMMITTED each
 * statement sees what was committed before it began, so they see everything
 * a holder of the same locks committed. `fn` may leave writes and a NOTIFY
 * for the COMMIT's round trip.
 */
export async function inTransaction<T>(
  pool: PgPool,
  fn: (client: pg.PoolClient, tx: Tx) => Promise<T>,
  locks: Iterable<bigint> = [],
  leading: readonly string[] = [],
): Promise<T> {
  const begin = ['BEGIN;', lockSql(locks), ...leading.map((sql) => `${sql};`)].filter(Boolean).join(' ');
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let notify = '';
    const writes: string[] = [];
    let broken: Error | undefined;
    try {
      const results = (await client.query(begin)) as unknown as pg.QueryResult | pg.QueryResult[];
      const all = Array.isArray(results) ? results : [results];
      const tx: Tx = {
        notifyOnCommit: (channel) => void (notify = `SELECT pg_notify('${channel}', ''); `),
        beforeCommit: (sql) => void writes.push(`${sql}; `),
        leading: leading.length > 0 ? all.slice(-leading.length) : [],
      };
      const result = await fn(client, tx);
      await client.query(`${writes.join('')}${notify}COMMIT`);
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      if (attempt < 3 && RETRYABLE.has((error as { code?: string }).code ?? '')) continue;
      throw error;
    } finally {
      // A connection that cannot even roll back is dropped, not handed out again.
      client.release(broken);
    }
  }
}
